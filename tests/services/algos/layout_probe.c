/* Exports the C compiler's sizes and offsets of the SDK header's structs, so a test can hold them
 * against the host's packing (services/algos/abi.py). */
#include "crossbook_algo.h"

#define EXPORT_VALUE(name, expr) \
    CB_EXPORT(#name) uint32_t name##_v(void) { return (uint32_t)(expr); }

EXPORT_VALUE(size_L2Book, sizeof(L2Book))
EXPORT_VALUE(off_L2Book_asks, offsetof(L2Book, asks))
EXPORT_VALUE(off_L2Book_bid_ct, offsetof(L2Book, bid_ct))
EXPORT_VALUE(off_L2Book_symbol_id, offsetof(L2Book, symbol_id))
EXPORT_VALUE(off_L2Book_recv_ns, offsetof(L2Book, recv_ns))
EXPORT_VALUE(size_AlgoState, sizeof(AlgoState))
EXPORT_VALUE(off_AlgoState_order_ct, offsetof(AlgoState, order_ct))
EXPORT_VALUE(off_AlgoState_session_pnl_1e9, offsetof(AlgoState, session_pnl_1e9))
EXPORT_VALUE(off_AlgoState_symbol, offsetof(AlgoState, symbol))
EXPORT_VALUE(off_AlgoState_risk, offsetof(AlgoState, risk))
EXPORT_VALUE(size_Action, sizeof(Action))
EXPORT_VALUE(size_WasmActions, sizeof(WasmActions))
EXPORT_VALUE(size_Fill, sizeof(Fill))
EXPORT_VALUE(size_Reject, sizeof(Reject))
EXPORT_VALUE(size_OnlineFeatures, sizeof(OnlineFeatures))
EXPORT_VALUE(off_OnlineFeatures_feature_ts_ns, offsetof(OnlineFeatures, feature_ts_ns))
EXPORT_VALUE(size_NbboSnapshot, sizeof(NbboSnapshot))
EXPORT_VALUE(size_VenueBooks, sizeof(VenueBooks))
EXPORT_VALUE(size_MeshTable, sizeof(MeshTable))
EXPORT_VALUE(size_MeshMessage, sizeof(MeshMessage))
EXPORT_VALUE(off_MeshMessage_payload, offsetof(MeshMessage, payload))

/* Where the linker put the stack and the heap (the SDK's flags: stack below 0x10000, data from 0x30000). */
CB_EXPORT("stack_addr") uint32_t stack_addr(void) {
    volatile uint8_t local = 1;
    return (uint32_t)(uintptr_t)&local;
}
CB_EXPORT("heap_base") uint32_t heap_base(void) {
    extern unsigned char __heap_base;
    return (uint32_t)(uintptr_t)&__heap_base;
}
CB_EXPORT("actions_addr") uint32_t actions_addr(void) { return (uint32_t)(uintptr_t)&cb_actions; }

/* The host reads what the guest reads: echo fields of the inputs back as one action. */
static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {
    cb_push(out, (uint64_t)b->symbol_id, 1, s->risk.max_position_1e8, b->recv_ns, CB_ACTION_NEW, CB_LIMIT, 0);
    cb_push(out, s->orders[s->order_ct - 1].order_id + 1000, -1, (int64_t)s->total_fill_count * 100 + b->ask_ct,
            f->microprice_1e9 + f->rv_1h_bps, CB_ACTION_NEW, CB_IOC, 0);
}
CB_ON_BOOK(on_book)
