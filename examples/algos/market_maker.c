/* Spread-capturing market maker.
 *
 * Keeps one post-only bid and one post-only ask working: at the touch, or one tick inside when
 * the spread is wider than two ticks, centred on the microprice when the host supplies features.
 * Inventory skews both quotes (long: quote lower to sell sooner, short: higher) and a side stops
 * quoting at MAX_POSITION. When the wanted price moves, the order is cancelled and replaced.
 * On shutdown it cancels everything it has working. */
#include "crossbook_algo.h"

#define QUOTE_QTY_1E8 1000000      /* 0.01 per quote */
#define MAX_POSITION_1E8 5000000   /* 0.05 either way */

static uint64_t next_id = 1;
static uint64_t bid_id, ask_id; /* the order working on each side, 0 = none */

static uint64_t requote(WasmActions *out, const AlgoState *s, uint64_t id, int8_t side, uint64_t px, int allowed) {
    const OpenOrder *live = id ? cb_find_order(s, id) : 0;
    if (live && live->px_1e9 == px && allowed) return id; /* already where we want it */
    if (live) cb_cancel(out, id);
    if (!allowed || !px) return 0;
    uint64_t fresh = next_id++;
    if (side > 0 ? !cb_post_only_buy(out, fresh, px, QUOTE_QTY_1E8) : !cb_post_only_sell(out, fresh, px, QUOTE_QTY_1E8))
        return 0;
    return fresh;
}

static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    if (!b->bid_ct || !b->ask_ct) return;
    uint64_t tick = s->symbol.tick_size_1e9 ? s->symbol.tick_size_1e9 : 1;
    uint64_t best_bid = b->bids[0].px_1e9, best_ask = b->asks[0].px_1e9;
    if (best_ask <= best_bid) return; /* crossed: wait for a sane book */

    uint64_t bid = best_bid, ask = best_ask;
    if (best_ask - best_bid > 2 * tick) { bid += tick; ask -= tick; }
    /* Lean towards the microprice: if it sits in the top or bottom quarter of the spread, the
     * quote on the far side backs off one tick (it is the one likely to be picked off). */
    if (f && f->microprice_1e9 > best_bid && f->microprice_1e9 < best_ask) {
        uint64_t quarter = (best_ask - best_bid) / 4;
        if (f->microprice_1e9 > best_ask - quarter && bid - tick > 0) bid -= tick;
        if (f->microprice_1e9 < best_bid + quarter) ask += tick;
    }
    int64_t steps = s->position_1e8 / QUOTE_QTY_1E8; /* inventory in quote sizes */
    if (steps > 0) { bid -= (uint64_t)steps * tick; ask = ask - tick * (uint64_t)steps > best_bid ? ask - tick * (uint64_t)steps : best_bid + tick; }
    if (steps < 0) { ask += (uint64_t)(-steps) * tick; bid = bid + tick * (uint64_t)(-steps) < best_ask ? bid + tick * (uint64_t)(-steps) : best_ask - tick; }

    bid_id = requote(out, s, bid_id, 1, bid, s->position_1e8 < MAX_POSITION_1E8);
    ask_id = requote(out, s, ask_id, -1, ask, s->position_1e8 > -MAX_POSITION_1E8);
}

static void on_fill(const Fill *fill, const AlgoState *s) {
    if (fill->order_id == bid_id && !cb_find_order(s, bid_id)) bid_id = 0;
    if (fill->order_id == ask_id && !cb_find_order(s, ask_id)) ask_id = 0;
    cb_log_i64(CB_INFO, fill->side > 0 ? "bought; position_1e8" : "sold; position_1e8", s->position_1e8);
}

static void on_reject(const Reject *r) {
    if (r->order_id == bid_id) bid_id = 0;
    if (r->order_id == ask_id) ask_id = 0;
    cb_log_i64(CB_WARN, "quote rejected; code", r->code);
}

static void on_shutdown(const AlgoState *s, WasmActions *out) { cb_cancel_all(out, s); }

CB_ON_BOOK(on_book)
CB_ON_FILL(on_fill)
CB_ON_REJECT(on_reject)
CB_ON_SHUTDOWN(on_shutdown)
