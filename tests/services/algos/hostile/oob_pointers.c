/* Returns an actions pointer past the end of memory on odd books, and logs from an
 * out-of-bounds buffer on even ones. */
#include "crossbook_algo.h"
CB_EXPORT("algo_on_book") uint32_t bad_on_book(uint32_t book, uint32_t state) {
    (void)state;
    const L2Book *b = (const L2Book *)(uintptr_t)book;
    if (b->recv_ns & 1) return 0xFFFFFF00u;
    host_log_impl(CB_INFO, (const char *)(uintptr_t)0xFFFFFFF0u, 64);
    return 0;
}
