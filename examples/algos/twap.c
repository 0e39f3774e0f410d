/* TWAP-style slicer.
 *
 * Buys TARGET_1E8 in SLICES equal slices, one every SLICE_INTERVAL_NS of book time (the only
 * clock an algo has: L2Book.recv_ns), each an IOC at the best ask plus at most MAX_SLIP_BPS.
 * What a slice leaves unfilled is carried into the next one (catch-up to the schedule), and it
 * never buys more than the target: progress is the algo's own position. */
#include "crossbook_algo.h"

#define TARGET_1E8 10000000               /* 0.1 */
#define SLICES 10
#define SLICE_INTERVAL_NS 1000000000ull   /* 1 s */
#define MAX_SLIP_BPS 5

static uint64_t next_slice_ns;
static uint32_t slices_sent;
static uint64_t next_id = 1;

static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    (void)f;
    if (!b->ask_ct) return;
    if (!next_slice_ns) next_slice_ns = b->recv_ns;
    if (b->recv_ns < next_slice_ns || slices_sent >= SLICES) return;
    int64_t done = s->position_1e8;
    int64_t scheduled = (int64_t)TARGET_1E8 * (int64_t)(slices_sent + 1) / SLICES;
    int64_t qty = scheduled - done;
    int64_t lot = s->symbol.lot_size_1e8 ? (int64_t)s->symbol.lot_size_1e8 : 1;
    qty = cb_round_qty_down(qty, (uint64_t)lot);
    slices_sent++;
    next_slice_ns += SLICE_INTERVAL_NS;
    if (qty <= 0) return;
    uint64_t ask = b->asks[0].px_1e9;
    uint64_t limit = cb_round_px_down(ask + ask / 10000 * MAX_SLIP_BPS, s->symbol.tick_size_1e9);
    if (limit < ask) limit = ask;
    cb_ioc_buy(out, next_id++, limit, qty);
    cb_log_i64(CB_INFO, "slice", (int64_t)slices_sent);
}

static void on_fill(const Fill *fill, const AlgoState *s) {
    (void)fill;
    cb_log_i64(CB_INFO, "filled so far_1e8", s->position_1e8);
    if (s->position_1e8 >= TARGET_1E8) cb_log(CB_INFO, "target reached");
}

static void on_reject(const Reject *r) { cb_log_i64(CB_WARN, "slice rejected; code", r->code); }

static void on_shutdown(const AlgoState *s, WasmActions *out) { cb_cancel_all(out, s); }

CB_ON_BOOK(on_book)
CB_ON_FILL(on_fill)
CB_ON_REJECT(on_reject)
CB_ON_SHUTDOWN(on_shutdown)
