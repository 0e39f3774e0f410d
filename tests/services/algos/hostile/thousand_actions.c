/* Claims 1,000 actions in one callback (writing past its 16-slot buffer into its own heap). */
#include "crossbook_algo.h"
static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)s; (void)f;
    Action *big = cb_alloc(1000 * sizeof(Action) + 8);
    for (uint32_t i = 0; i < 1000; i++) {
        Action *a = i < CB_MAX_ACTIONS ? &out->actions[i] : &big[i];
        a->order_id = i + 1; a->px_1e9 = b->bids[0].px_1e9; a->qty_1e8 = 1000000; a->side = 1;
        a->is_cancel = 0; a->order_type = CB_LIMIT; a->venue_id = 0;
    }
    out->count = 1000;
}
CB_ON_BOOK(on_book)
