/* Quotes normally, then divides by zero when a fill arrives. */
#include "crossbook_algo.h"
static volatile int64_t zero;
static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)f;
    if (b->bid_ct && !cb_find_order(s, 1)) cb_buy(out, 1, b->bids[0].px_1e9, 1000000);
}
static void on_fill(const Fill *fill, const AlgoState *s) {
    (void)s;
    cb_log_i64(CB_INFO, "fill qty", fill->qty_1e8 / zero);
}
CB_ON_BOOK(on_book)
CB_ON_FILL(on_fill)
