/* Mesh pair, instance "quoter": quotes one post-only bid and ask at the touch of its venue and,
 * after each fill, tells the "hedger" instance (on another venue) what it just bought or sold. */
#include "crossbook_algo.h"
#include "hedge_msg.h"

#define QUOTE_QTY_1E8 1000000
#define MAX_POSITION_1E8 3000000

static uint64_t next_id = 1, bid_id, ask_id;

static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)f;
    if (!b->bid_ct || !b->ask_ct) return;
    uint64_t bid = b->bids[0].px_1e9, ask = b->asks[0].px_1e9;
    const OpenOrder *lb = bid_id ? cb_find_order(s, bid_id) : 0;
    const OpenOrder *la = ask_id ? cb_find_order(s, ask_id) : 0;
    if (lb && lb->px_1e9 != bid) { cb_cancel(out, bid_id); lb = 0; }
    if (la && la->px_1e9 != ask) { cb_cancel(out, ask_id); la = 0; }
    if (!lb && s->position_1e8 < MAX_POSITION_1E8) { bid_id = next_id++; cb_post_only_buy(out, bid_id, bid, QUOTE_QTY_1E8); }
    if (!la && s->position_1e8 > -MAX_POSITION_1E8) { ask_id = next_id++; cb_post_only_sell(out, ask_id, ask, QUOTE_QTY_1E8); }
}

static void on_fill(const Fill *fill, const AlgoState *s) {
    (void)s;
    HedgeMsg m = {.qty_1e8 = fill->side > 0 ? fill->qty_1e8 : -fill->qty_1e8, .px_1e9 = fill->px_1e9};
    int32_t rc = cb_send("hedger", &m, sizeof m);
    if (rc != CB_SEND_OK) cb_log_i64(CB_ERROR, "hedge message not sent; status", rc);
    else cb_log_i64(CB_INFO, "asked the hedger to offset qty_1e8", m.qty_1e8);
}

static void on_shutdown(const AlgoState *s, WasmActions *out) { cb_cancel_all(out, s); }

CB_ON_BOOK(on_book)
CB_ON_FILL(on_fill)
CB_ON_SHUTDOWN(on_shutdown)
