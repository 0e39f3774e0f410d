/* Allocates 1 MiB per book until allocation fails, then writes through the null pointer it got
 * back as if it were memory (as careless code does): the memory cap stops it. */
#include "crossbook_algo.h"
static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)b; (void)s; (void)f; (void)out;
    for (;;) {
        uint8_t *p = cb_alloc(1u << 20);
        if (!p) __builtin_trap();
        p[0] = 1;
    }
}
CB_ON_BOOK(on_book)
