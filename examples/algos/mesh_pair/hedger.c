/* Mesh pair, instance "hedger": trades nothing on its own. When the "quoter" reports a fill, it
 * offsets it on this instance's venue with an IOC at the touch plus MAX_SLIP_BPS (selling what the
 * quoter bought, buying what it sold). Book prices come from its own on_book. */
#include "crossbook_algo.h"
#include "hedge_msg.h"

#define MAX_SLIP_BPS 10

static uint64_t best_bid, best_ask, next_id = 1;

static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)s; (void)f; (void)out;
    best_bid = b->bid_ct ? b->bids[0].px_1e9 : 0;
    best_ask = b->ask_ct ? b->asks[0].px_1e9 : 0;
}

static void on_message(const MeshMessage *m, const AlgoState *s, WasmActions *out) {
    (void)s;
    if (m->len != sizeof(HedgeMsg) || !cb_label_eq(m->from_label, "quoter")) {
        cb_log(CB_WARN, "ignored a message that is not a hedge request");
        return;
    }
    HedgeMsg h;
    memcpy(&h, m->payload, sizeof h);
    if (h.qty_1e8 > 0 && best_bid) {
        cb_ioc_sell(out, next_id++, best_bid - best_bid / 10000 * MAX_SLIP_BPS, h.qty_1e8);
    } else if (h.qty_1e8 < 0 && best_ask) {
        cb_ioc_buy(out, next_id++, best_ask + best_ask / 10000 * MAX_SLIP_BPS, -h.qty_1e8);
    } else {
        cb_log(CB_WARN, "no book yet: hedge request dropped");
        return;
    }
    cb_log_i64(CB_INFO, "hedging qty_1e8", -h.qty_1e8);
}

static void on_fill(const Fill *fill, const AlgoState *s) {
    (void)fill;
    cb_log_i64(CB_INFO, "hedged; position_1e8", s->position_1e8);
}

CB_ON_BOOK(on_book)
CB_ON_MESSAGE(on_message)
CB_ON_FILL(on_fill)
