/* Crossbook algo SDK for C: the ABI structs, action builders, logging and mesh messaging.
 *
 * ABI: the published algo-sdk v0.1 layouts (exact) plus Crossbook ABI 1 for what upstream leaves
 * unpublished (RiskSnapshot, NbboSnapshot, VenueBooks, MeshTable, MeshMessage, the signatures of
 * the later callbacks). See docs/algo_abi.md in the Crossbook repository.
 *
 * Write callbacks and register them with the CB_ON_* macros:
 *
 *     #include "crossbook_algo.h"
 *     static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
 *         if (b->bid_ct) cb_post_only_buy(out, 1, b->bids[0].px_1e9, 100000000);
 *     }
 *     CB_ON_BOOK(on_book)
 *
 * `crossbook algo build` compiles this with zig cc for wasm32-freestanding, links the runtime
 * (crossbook_rt.c: algo_alloc, memset/memcpy) and places the stack below 0x10000 and data from
 * 0x30000, keeping the host's region 0x10000..0x25000 free. No libc, no WASI: the only imports
 * are env.host_log_impl and env.__seq_send. */
#ifndef CROSSBOOK_ALGO_H
#define CROSSBOOK_ALGO_H

#include <stddef.h>
#include <stdint.h>

#define CB_ABI_VERSION 1
#define CB_MAX_LEVELS 20
#define CB_MAX_ORDERS 32
#define CB_MAX_ACTIONS 16
#define CB_MAX_VENUES 20
#define CB_MAX_MESSAGE_SIZE 256
#define CB_MAX_LABEL_LEN 32
#define CB_MAX_MESH_PEERS 16

#define CB_VENUE_BOOKS_OFFSET 0x10000u
#define CB_POOL_BOOKS_OFFSET 0x14000u
#define CB_FEATURES_OFFSET 0x1A000u
#define CB_MESH_TABLE_OFFSET 0x24200u

enum { CB_LIMIT = 0, CB_MARKET = 1, CB_IOC = 2, CB_FOK = 3, CB_POST_ONLY = 4 };
enum { CB_ACTION_NEW = 0, CB_ACTION_CANCEL = 1, CB_ACTION_AMEND = 2 };
enum { CB_PENDING = 0, CB_ACKED = 1, CB_PARTIAL = 2, CB_DEAD = 3 };
enum { CB_TRACE = 0, CB_DEBUG = 1, CB_INFO = 2, CB_WARN = 3, CB_ERROR = 4 };
enum {
    CB_REJECT_UNKNOWN = 0, CB_REJECT_INSUFFICIENT_BALANCE = 1, CB_REJECT_INVALID_PARAMS = 2,
    CB_REJECT_RATE_LIMIT = 3, CB_REJECT_EXCHANGE_BUSY = 4, CB_REJECT_NETWORK = 5, CB_REJECT_AUTH = 6,
    CB_REJECT_RISK = 100, CB_REJECT_POSITION_LIMIT = 101, CB_REJECT_KILL_SWITCH = 102,
    CB_REJECT_PRICE_DEVIATION = 103, CB_REJECT_DAILY_LOSS_LIMIT = 104
};
/* __seq_send results */
enum { CB_SEND_OK = 0, CB_SEND_TOO_LARGE = -1, CB_SEND_UNKNOWN_PEER = -2, CB_SEND_OUTBOX_FULL = -3 };

typedef struct { uint64_t px_1e9; uint64_t sz_1e8; } Level;

typedef struct {
    Level bids[CB_MAX_LEVELS]; /* best first; px_1e9 == 0: empty */
    Level asks[CB_MAX_LEVELS];
    uint8_t bid_ct;
    uint8_t ask_ct;
    uint16_t symbol_id;
    uint32_t _pad;
    uint64_t recv_ns;
} L2Book;

typedef struct {
    uint64_t order_id;
    uint64_t px_1e9;
    int64_t qty_1e8; /* + buy, - sell */
    int64_t filled_1e8;
    int8_t side;
    uint8_t status;
    uint8_t _pad[6];
} OpenOrder;

typedef struct {
    uint64_t tick_size_1e9;
    uint64_t lot_size_1e8;
    uint64_t min_qty_1e8;
    uint64_t min_notional_1e9;
    uint8_t price_precision;
    uint8_t qty_precision;
    uint8_t _pad[6];
} SymbolMeta;

/* Crossbook ABI 1; 0 = no limit given. */
typedef struct {
    int64_t max_position_1e8;
    int64_t max_order_qty_1e8;
    uint64_t max_order_notional_1e9;
    int64_t max_daily_loss_1e9;
    uint8_t max_open_orders;
    uint8_t max_actions;
    uint8_t _pad[6];
    uint64_t fuel_per_callback;
    uint8_t _reserved[16];
} RiskSnapshot;

typedef struct {
    int64_t position_1e8;
    uint64_t avg_entry_1e9;
    int64_t realized_pnl_1e9;
    int64_t unrealized_pnl_1e9;
    OpenOrder orders[CB_MAX_ORDERS];
    uint8_t order_ct;
    uint8_t _pad[7];
    /* v0.2+, appended after the v0.1 prefix (1320 bytes) */
    int64_t session_pnl_1e9;
    uint64_t total_fill_count;
    SymbolMeta symbol;
    RiskSnapshot risk;
} AlgoState;

typedef struct {
    uint64_t order_id; /* chosen by the algo, unique; 0 = no-op */
    uint64_t px_1e9;
    int64_t qty_1e8;
    int8_t side; /* 1 buy, -1 sell, 0 cancel */
    uint8_t is_cancel; /* CB_ACTION_* */
    uint8_t order_type; /* CB_LIMIT.. */
    uint8_t venue_id; /* 0 = this instance's venue */
    uint8_t _pad[4];
} Action;

typedef struct {
    uint32_t count;
    uint32_t _pad;
    Action actions[CB_MAX_ACTIONS];
} WasmActions;

typedef struct {
    uint64_t order_id;
    uint64_t px_1e9;
    int64_t qty_1e8;
    uint64_t recv_ns;
    int8_t side;
    uint8_t _pad[7];
} Fill;

typedef struct {
    uint64_t order_id;
    uint8_t code;
    uint8_t _pad[7];
} Reject;

typedef struct {
    uint16_t version;
    uint16_t flags;
    uint8_t _pad0[4];
    uint64_t microprice_1e9;
    int64_t ofi_1level_1e8;
    int64_t ofi_5level_1e8;
    int64_t mlofi_10_1e8;
    int64_t ofi_ewma_1e6;
    int64_t trade_sign_imbalance_1e6;
    uint32_t trade_arrival_rate_1e3;
    uint16_t vpin_1e4;
    uint16_t _pad1;
    uint8_t spread_regime; /* 0 tight, 1 normal, 2 wide, 3 crisis */
    uint8_t _pad2a;
    int16_t spread_zscore_1e3;
    uint16_t cancel_rate_1e4;
    int16_t depth_imbalance_1e4;
    uint32_t rv_1m_bps;
    uint32_t rv_5m_bps;
    uint32_t rv_1h_bps;
    uint32_t _pad3;
    uint16_t pred_dir_up_1e4, pred_dir_flat_1e4, pred_dir_down_1e4;
    uint16_t pred_stress_normal_1e4, pred_stress_widening_1e4, pred_stress_crisis_1e4;
    uint16_t pred_toxic_1e4;
    uint16_t prediction_age_ms;
    uint16_t fill_prob_bid_1e4;
    uint16_t fill_prob_ask_1e4;
    uint16_t queue_decay_rate_1e4;
    uint16_t _fill_pad;
    uint64_t feature_ts_ns;
    uint8_t _reserved[136];
} OnlineFeatures;

typedef struct {
    uint64_t bid_px_1e9, bid_sz_1e8, ask_px_1e9, ask_sz_1e8, recv_ns;
} VenueQuote;

typedef struct {
    uint64_t best_bid_px_1e9;
    uint64_t best_bid_sz_1e8;
    uint64_t best_ask_px_1e9;
    uint64_t best_ask_sz_1e8;
    uint64_t recv_ns;
    uint16_t symbol_id;
    uint8_t venue_ct;
    uint8_t best_bid_venue;
    uint8_t best_ask_venue;
    uint8_t _pad[3];
    uint8_t venue_ids[CB_MAX_VENUES];
    uint8_t _pad2[4];
    VenueQuote venues[CB_MAX_VENUES];
} NbboSnapshot;

typedef struct {
    uint8_t venue_ct;
    uint8_t _pad[7];
    uint8_t venue_ids[CB_MAX_VENUES];
    uint8_t _pad2[4];
    L2Book books[CB_MAX_VENUES];
} VenueBooks;

typedef struct {
    char label[CB_MAX_LABEL_LEN]; /* NUL-padded */
    uint64_t mesh_id;
} MeshPeerEntry;

typedef struct {
    char self_label[CB_MAX_LABEL_LEN];
    uint64_t self_mesh_id;
    uint8_t peer_ct;
    uint8_t _pad[7];
    MeshPeerEntry peers[CB_MAX_MESH_PEERS];
} MeshTable;

typedef struct {
    uint64_t from_mesh_id;
    char from_label[CB_MAX_LABEL_LEN];
    uint32_t len;
    uint32_t _pad;
    uint8_t payload[CB_MAX_MESSAGE_SIZE];
} MeshMessage;

_Static_assert(sizeof(Level) == 16, "Level is 16 bytes");
_Static_assert(sizeof(L2Book) == 656, "L2Book is 656 bytes");
_Static_assert(offsetof(L2Book, asks) == 320, "L2Book.asks at 320");
_Static_assert(offsetof(L2Book, bid_ct) == 640, "L2Book.bid_ct at 640");
_Static_assert(offsetof(L2Book, symbol_id) == 642, "L2Book.symbol_id at 642");
_Static_assert(offsetof(L2Book, recv_ns) == 648, "L2Book.recv_ns at 648");
_Static_assert(sizeof(OpenOrder) == 40, "OpenOrder is 40 bytes");
_Static_assert(offsetof(OpenOrder, side) == 32, "OpenOrder.side at 32");
_Static_assert(offsetof(AlgoState, orders) == 32, "AlgoState.orders at 32");
_Static_assert(offsetof(AlgoState, order_ct) == 1312, "AlgoState.order_ct at 1312");
_Static_assert(offsetof(AlgoState, session_pnl_1e9) == 1320, "AlgoState v0.1 prefix is 1320 bytes");
_Static_assert(offsetof(AlgoState, total_fill_count) == 1328, "AlgoState.total_fill_count at 1328");
_Static_assert(offsetof(AlgoState, symbol) == 1336, "AlgoState.symbol at 1336");
_Static_assert(offsetof(AlgoState, risk) == 1376, "AlgoState.risk at 1376");
_Static_assert(sizeof(SymbolMeta) == 40, "SymbolMeta is 40 bytes");
_Static_assert(sizeof(RiskSnapshot) == 64, "RiskSnapshot is 64 bytes");
_Static_assert(sizeof(AlgoState) == 1440, "AlgoState is 1440 bytes");
_Static_assert(sizeof(Action) == 32, "Action is 32 bytes");
_Static_assert(offsetof(Action, side) == 24, "Action.side at 24");
_Static_assert(offsetof(Action, venue_id) == 27, "Action.venue_id at 27");
_Static_assert(sizeof(WasmActions) == 520, "WasmActions is 520 bytes");
_Static_assert(sizeof(Fill) == 40, "Fill is 40 bytes");
_Static_assert(offsetof(Fill, side) == 32, "Fill.side at 32");
_Static_assert(sizeof(Reject) == 16, "Reject is 16 bytes");
_Static_assert(sizeof(OnlineFeatures) == 256, "OnlineFeatures is 256 bytes");
_Static_assert(offsetof(OnlineFeatures, spread_regime) == 64, "OnlineFeatures.spread_regime at 64");
_Static_assert(offsetof(OnlineFeatures, rv_1m_bps) == 72, "OnlineFeatures.rv_1m_bps at 72");
_Static_assert(offsetof(OnlineFeatures, pred_dir_up_1e4) == 88, "OnlineFeatures.pred_dir_up_1e4 at 88");
_Static_assert(offsetof(OnlineFeatures, feature_ts_ns) == 112, "OnlineFeatures.feature_ts_ns at 112");
_Static_assert(sizeof(VenueQuote) == 40, "VenueQuote is 40 bytes");
_Static_assert(offsetof(NbboSnapshot, venue_ids) == 48, "NbboSnapshot.venue_ids at 48");
_Static_assert(sizeof(NbboSnapshot) == 872, "NbboSnapshot is 872 bytes");
_Static_assert(sizeof(VenueBooks) == 32 + 20 * 656, "VenueBooks is 13152 bytes");
_Static_assert(CB_VENUE_BOOKS_OFFSET + sizeof(VenueBooks) <= CB_POOL_BOOKS_OFFSET, "VenueBooks ends before PoolBooks");
_Static_assert(sizeof(MeshTable) == 688, "MeshTable is 688 bytes");
_Static_assert(sizeof(MeshMessage) == 304, "MeshMessage is 304 bytes");

#define CB_EXPORT(name) __attribute__((export_name(name)))
#define CB_IMPORT(name) __attribute__((import_module("env"), import_name(name)))

CB_IMPORT("host_log_impl") void host_log_impl(int32_t level, const char *ptr, int32_t len);
CB_IMPORT("__seq_send") int32_t cb__seq_send(uint64_t mesh_id, const void *ptr, int32_t len);

/* Runtime (crossbook_rt.c): a bump allocator (0 when memory cannot grow) and the memory builtins. */
void *cb_alloc(uint32_t size);
void *memset(void *dst, int c, size_t n);
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);

/* ---- fixed regions written by the host ---------------------------------------------------- */

static inline const OnlineFeatures *cb_features(void) { return (const OnlineFeatures *)(uintptr_t)CB_FEATURES_OFFSET; }
static inline const VenueBooks *cb_venue_books(void) { return (const VenueBooks *)(uintptr_t)CB_VENUE_BOOKS_OFFSET; }
static inline const MeshTable *cb_mesh(void) { return (const MeshTable *)(uintptr_t)CB_MESH_TABLE_OFFSET; }

/* ---- book helpers ------------------------------------------------------------------------- */

static inline uint64_t cb_best_bid(const L2Book *b) { return b->bid_ct ? b->bids[0].px_1e9 : 0; }
static inline uint64_t cb_best_ask(const L2Book *b) { return b->ask_ct ? b->asks[0].px_1e9 : 0; }
static inline uint64_t cb_mid(const L2Book *b) {
    return (b->bid_ct && b->ask_ct) ? (b->bids[0].px_1e9 + b->asks[0].px_1e9) / 2 : 0;
}
static inline uint64_t cb_spread_1e9(const L2Book *b) {
    return (b->bid_ct && b->ask_ct) ? b->asks[0].px_1e9 - b->bids[0].px_1e9 : UINT64_MAX;
}
static inline uint32_t cb_spread_bps(const L2Book *b) {
    uint64_t mid = cb_mid(b);
    return mid ? (uint32_t)((cb_spread_1e9(b) * 10000u) / mid) : UINT32_MAX;
}
static inline uint64_t cb_round_px_down(uint64_t px, uint64_t tick) { return tick ? px - px % tick : px; }
static inline int64_t cb_round_qty_down(int64_t qty, uint64_t lot) { return lot ? qty - qty % (int64_t)lot : qty; }

/* The state's live (non-dead) order by id, or NULL. */
static inline const OpenOrder *cb_find_order(const AlgoState *s, uint64_t order_id) {
    for (uint32_t i = 0; i < s->order_ct && i < CB_MAX_ORDERS; i++)
        if (s->orders[i].order_id == order_id && s->orders[i].status != CB_DEAD) return &s->orders[i];
    return 0;
}
static inline uint32_t cb_live_orders(const AlgoState *s) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->order_ct && i < CB_MAX_ORDERS; i++) n += s->orders[i].status != CB_DEAD;
    return n;
}

/* ---- action builders: each returns 1, or 0 when the 16 slots are full --------------------- */

static inline int cb_push(WasmActions *out, uint64_t id, int8_t side, int64_t qty, uint64_t px, uint8_t kind,
                          uint8_t type, uint8_t venue) {
    if (out->count >= CB_MAX_ACTIONS) return 0;
    Action *a = &out->actions[out->count++];
    a->order_id = id;
    a->px_1e9 = px;
    a->qty_1e8 = qty;
    a->side = side;
    a->is_cancel = kind;
    a->order_type = type;
    a->venue_id = venue;
    for (int i = 0; i < 4; i++) a->_pad[i] = 0;
    return 1;
}
static inline int cb_order_typed(WasmActions *o, uint64_t id, int8_t side, int64_t qty, uint64_t px, uint8_t type) {
    return cb_push(o, id, side, qty, px, CB_ACTION_NEW, type, 0);
}
static inline int cb_buy(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, 1, qty, px, CB_LIMIT); }
static inline int cb_sell(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, -1, qty, px, CB_LIMIT); }
static inline int cb_market_buy(WasmActions *o, uint64_t id, int64_t qty) { return cb_order_typed(o, id, 1, qty, 0, CB_MARKET); }
static inline int cb_market_sell(WasmActions *o, uint64_t id, int64_t qty) { return cb_order_typed(o, id, -1, qty, 0, CB_MARKET); }
static inline int cb_ioc_buy(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, 1, qty, px, CB_IOC); }
static inline int cb_ioc_sell(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, -1, qty, px, CB_IOC); }
static inline int cb_fok_buy(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, 1, qty, px, CB_FOK); }
static inline int cb_fok_sell(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, -1, qty, px, CB_FOK); }
static inline int cb_post_only_buy(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, 1, qty, px, CB_POST_ONLY); }
static inline int cb_post_only_sell(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_order_typed(o, id, -1, qty, px, CB_POST_ONLY); }
static inline int cb_cancel(WasmActions *o, uint64_t id) { return cb_push(o, id, 0, 0, 0, CB_ACTION_CANCEL, 0, 0); }
/* New price and/or quantity (0 = unchanged) for an open order. */
static inline int cb_amend(WasmActions *o, uint64_t id, uint64_t px, int64_t qty) { return cb_push(o, id, 0, qty, px, CB_ACTION_AMEND, 0, 0); }
/* One cancel per live order, as far as the slots go; returns how many were queued. */
static inline uint32_t cb_cancel_all(WasmActions *o, const AlgoState *s) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->order_ct && i < CB_MAX_ORDERS; i++)
        if (s->orders[i].status != CB_DEAD && cb_cancel(o, s->orders[i].order_id)) n++;
    return n;
}

/* ---- logging (no formatting library: text plus an optional integer) ----------------------- */

static inline uint32_t cb_strlen(const char *s) { uint32_t n = 0; while (s[n]) n++; return n; }
static inline void cb_log(int32_t level, const char *msg) { host_log_impl(level, msg, (int32_t)cb_strlen(msg)); }
/* "msg value", e.g. cb_log_i64(CB_INFO, "position", s->position_1e8). */
static inline void cb_log_i64(int32_t level, const char *msg, int64_t value) {
    char buf[128];
    uint32_t n = 0;
    while (msg[n] && n < 100) { buf[n] = msg[n]; n++; }
    buf[n++] = ' ';
    uint64_t v = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    char digits[20];
    int d = 0;
    do { digits[d++] = (char)('0' + v % 10); v /= 10; } while (v);
    if (value < 0) buf[n++] = '-';
    while (d) buf[n++] = digits[--d];
    host_log_impl(level, buf, (int32_t)n);
}

/* ---- mesh messaging ----------------------------------------------------------------------- */

static inline int cb_label_eq(const char *a, const char *b) {
    for (uint32_t i = 0; i < CB_MAX_LABEL_LEN; i++) {
        if (a[i] != b[i]) return 0;
        if (!a[i]) return 1;
    }
    return 1;
}
/* Send up to 256 bytes to the peer instance with this label (CB_SEND_*). */
static inline int32_t cb_send(const char *label, const void *data, uint32_t len) {
    const MeshTable *t = cb_mesh();
    for (uint32_t i = 0; i < t->peer_ct && i < CB_MAX_MESH_PEERS; i++)
        if (cb_label_eq(t->peers[i].label, label)) return cb__seq_send(t->peers[i].mesh_id, data, (int32_t)len);
    return CB_SEND_UNKNOWN_PEER;
}

/* ---- callback registration ---------------------------------------------------------------- */

extern WasmActions cb_actions; /* the one action buffer returned to the host (crossbook_rt.c) */
extern const OnlineFeatures cb_no_features;

/* void fn(const L2Book *, const AlgoState *, const OnlineFeatures *, WasmActions *) */
#define CB_ON_BOOK(fn)                                                                                    \
    CB_EXPORT("algo_on_book_v3") uint32_t cb__on_book_v3(uint32_t b, uint32_t s, uint32_t f) {            \
        cb_actions.count = 0;                                                                             \
        fn((const L2Book *)(uintptr_t)b, (const AlgoState *)(uintptr_t)s, (const OnlineFeatures *)(uintptr_t)f, \
           &cb_actions);                                                                                  \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }                                                                                                     \
    CB_EXPORT("algo_on_book") uint32_t cb__on_book(uint32_t b, uint32_t s) {                              \
        cb_actions.count = 0;                                                                             \
        fn((const L2Book *)(uintptr_t)b, (const AlgoState *)(uintptr_t)s, &cb_no_features, &cb_actions);  \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }

/* void fn(const Fill *, const AlgoState *) -- no actions (v0.1) */
#define CB_ON_FILL(fn)                                                                                    \
    CB_EXPORT("algo_on_fill") void cb__on_fill(uint32_t f, uint32_t s) {                                  \
        fn((const Fill *)(uintptr_t)f, (const AlgoState *)(uintptr_t)s);                                  \
    }

/* void fn(const Reject *) */
#define CB_ON_REJECT(fn)                                                                                  \
    CB_EXPORT("algo_on_reject") void cb__on_reject(uint32_t r) { fn((const Reject *)(uintptr_t)r); }

/* void fn(const AlgoState *, WasmActions *) */
#define CB_ON_SHUTDOWN(fn)                                                                                \
    CB_EXPORT("algo_on_shutdown") uint32_t cb__on_shutdown(uint32_t s) {                                  \
        cb_actions.count = 0;                                                                             \
        fn((const AlgoState *)(uintptr_t)s, &cb_actions);                                                 \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }

/* void fn(const AlgoState *, uint64_t now_ns, const OnlineFeatures *, WasmActions *) -- 1 Hz */
#define CB_ON_HEARTBEAT(fn)                                                                               \
    CB_EXPORT("algo_on_heartbeat") uint32_t cb__on_heartbeat(uint32_t s, uint64_t now_ns) {               \
        cb_actions.count = 0;                                                                             \
        fn((const AlgoState *)(uintptr_t)s, now_ns, cb_features(), &cb_actions);                          \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }

/* void fn(const NbboSnapshot *, const VenueBooks *, const AlgoState *, WasmActions *) */
#define CB_ON_NBBO(fn)                                                                                    \
    CB_EXPORT("algo_on_nbbo") uint32_t cb__on_nbbo(uint32_t n, uint32_t s) {                              \
        cb_actions.count = 0;                                                                             \
        fn((const NbboSnapshot *)(uintptr_t)n, cb_venue_books(), (const AlgoState *)(uintptr_t)s, &cb_actions); \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }

/* void fn(const MeshMessage *, const AlgoState *, WasmActions *) */
#define CB_ON_MESSAGE(fn)                                                                                 \
    CB_EXPORT("algo_on_message") uint32_t cb__on_message(uint32_t m, uint32_t s) {                        \
        cb_actions.count = 0;                                                                             \
        fn((const MeshMessage *)(uintptr_t)m, (const AlgoState *)(uintptr_t)s, &cb_actions);              \
        return (uint32_t)(uintptr_t)&cb_actions;                                                          \
    }

#endif /* CROSSBOOK_ALGO_H */
