"""Layout tests: the host packs every ABI struct at the documented sizes and offsets
(docs/algo_abi.md; the C header asserts the same numbers with _Static_assert at build time)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from services.algos import abi
from services.algos.host import AlgoInstance
from services.algos.module import load_module, new_engine


def u64_at(data: bytes, off: int) -> int:
    return int(struct.unpack_from("<Q", data, off)[0])


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("LEVEL", 16), ("L2BOOK", 656), ("OPEN_ORDER", 40), ("ACTION", 32), ("FILL", 40), ("REJECT", 16),
        ("ONLINE_FEATURES", 256), ("SYMBOL_META", 40), ("RISK_SNAPSHOT", 64), ("VENUE_QUOTE", 40),
        ("MESH_PEER", 40), ("NBBO_HEAD", 72), ("VENUE_BOOKS_HEAD", 32), ("MESH_TABLE_HEAD", 48),
        ("MESH_MESSAGE_HEAD", 48),
    ],
)
def test_struct_sizes(name: str, size: int) -> None:
    assert getattr(abi, name).size == size


def test_wasm_actions_is_520_bytes() -> None:
    assert abi.WASM_ACTIONS_HEAD.size + abi.MAX_ACTIONS * abi.ACTION.size == abi.WASM_ACTIONS_SIZE == 520


def test_l2book_offsets() -> None:
    book = abi.Book(
        bids=tuple((1000 + i, 10 + i) for i in range(20)),
        asks=tuple((2000 + i, 20 + i) for i in range(20)),
        recv_ns=0x1122334455667788,
        symbol_id=0xBEEF,
    )
    raw = abi.pack_book(book)
    assert len(raw) == 656
    assert (u64_at(raw, 0), u64_at(raw, 8)) == (1000, 10)  # bids[0]
    assert (u64_at(raw, 304), u64_at(raw, 312)) == (1019, 29)  # bids[19]
    assert (u64_at(raw, 320), u64_at(raw, 328)) == (2000, 20)  # asks[0]
    assert (raw[640], raw[641]) == (20, 20)
    assert struct.unpack_from("<H", raw, 642)[0] == 0xBEEF
    assert raw[644:648] == b"\0\0\0\0"
    assert u64_at(raw, 648) == 0x1122334455667788
    assert abi.unpack_book(raw) == book


def test_a_short_book_leaves_empty_levels_and_more_than_20_are_cut() -> None:
    raw = abi.pack_book(abi.Book(bids=((5, 1),), asks=tuple((10 + i, 1) for i in range(25)), recv_ns=0))
    assert (raw[640], raw[641]) == (1, 20)
    assert u64_at(raw, 16) == 0  # bids[1].px_1e9 == 0: empty
    assert u64_at(raw, 320 + 19 * 16) == 29


def test_algo_state_offsets() -> None:
    order = abi.OpenOrder(order_id=7, px_1e9=99, qty_1e8=-5, filled_1e8=2, side=-1, status=abi.OrderStatus.PARTIAL)
    state = abi.AlgoState(
        position_1e8=-3, avg_entry_1e9=11, realized_pnl_1e9=-12, unrealized_pnl_1e9=13,
        orders=(order,) * 32, session_pnl_1e9=-14, total_fill_count=15,
        symbol=abi.SymbolMeta(tick_size_1e9=16, lot_size_1e8=17, min_qty_1e8=18, min_notional_1e9=19, price_precision=2, qty_precision=4),
        risk=abi.RiskSnapshot(max_position_1e8=20, max_order_qty_1e8=21, max_order_notional_1e9=22, max_daily_loss_1e9=23, fuel_per_callback=24),
    )
    raw = abi.pack_state(state)
    assert len(raw) == abi.ALGO_STATE_SIZE == 1440
    assert struct.unpack_from("<qQqq", raw, 0) == (-3, 11, -12, 13)
    o31 = 32 + 31 * 40
    assert struct.unpack_from("<QQqqbB", raw, o31) == (7, 99, -5, 2, -1, 2)
    assert raw[1312] == 32 and raw[1313:1320] == bytes(7)  # order_ct, then the end of the v0.1 prefix
    assert struct.unpack_from("<qQ", raw, 1320) == (-14, 15)
    assert struct.unpack_from("<QQQQBB", raw, 1336) == (16, 17, 18, 19, 2, 4)
    assert struct.unpack_from("<qqQqBBxxxxxxQ", raw, 1376) == (20, 21, 22, 23, 32, 16, 24)


def test_action_fill_reject_offsets() -> None:
    a = abi.pack_action(abi.Action(1, 2, -3, -1, abi.ActionKind.AMEND, abi.OrderType.FOK, 8))
    assert struct.unpack_from("<QQq", a, 0) == (1, 2, -3)
    assert (struct.unpack_from("<b", a, 24)[0], a[25], a[26], a[27]) == (-1, 2, 3, 8)
    assert a[28:32] == bytes(4)
    f = abi.pack_fill(abi.Fill(order_id=1, px_1e9=2, qty_1e8=-3, recv_ns=4, side=-1))
    assert len(f) == 40 and struct.unpack_from("<QQqQb", f, 0) == (1, 2, -3, 4, -1)
    r = abi.pack_reject(abi.Reject(order_id=9, code=104))
    assert len(r) == 16 and (u64_at(r, 0), r[8]) == (9, 104)


def test_online_features_offsets() -> None:
    f = abi.OnlineFeatures(
        flags=1, microprice_1e9=2, ofi_1level_1e8=-3, ofi_5level_1e8=4, mlofi_10_1e8=5, ofi_ewma_1e6=6,
        trade_sign_imbalance_1e6=7, trade_arrival_rate_1e3=8, vpin_1e4=9, spread_regime=2, spread_zscore_1e3=-11,
        cancel_rate_1e4=12, depth_imbalance_1e4=-13, rv_1m_bps=14, rv_5m_bps=15, rv_1h_bps=16, pred_dir_up_1e4=17,
        queue_decay_rate_1e4=27, feature_ts_ns=28,
    )
    raw = abi.pack_features(f)
    assert len(raw) == 256
    assert struct.unpack_from("<HH", raw, 0) == (abi.FEATURES_VERSION, 1)
    assert struct.unpack_from("<Qqqqqq", raw, 8) == (2, -3, 4, 5, 6, 7)
    assert struct.unpack_from("<IH", raw, 56) == (8, 9)
    assert raw[64] == 2 and struct.unpack_from("<hHh", raw, 66) == (-11, 12, -13)
    assert struct.unpack_from("<III", raw, 72) == (14, 15, 16)
    assert struct.unpack_from("<H", raw, 88)[0] == 17 and struct.unpack_from("<H", raw, 108)[0] == 27
    assert u64_at(raw, 112) == 28 and raw[120:] == bytes(136)


def test_crossbook_abi1_layouts() -> None:
    nbbo = abi.pack_nbbo(abi.NbboSnapshot(
        venues=(abi.VenueQuote("okx", 100, 1, 105, 2, 7), abi.VenueQuote("kraken", 101, 3, 104, 4, 8)),
        recv_ns=9, symbol_id=2,
    ))
    assert len(nbbo) == abi.NBBO_SIZE == 872
    assert struct.unpack_from("<QQQQQH", nbbo, 0) == (101, 3, 104, 4, 9, 2)
    assert (nbbo[42], nbbo[43], nbbo[44]) == (2, abi.VENUE_IDS["kraken"], abi.VENUE_IDS["kraken"])
    assert nbbo[48:50] == bytes([abi.VENUE_IDS["okx"], abi.VENUE_IDS["kraken"]])
    assert struct.unpack_from("<QQQQQ", nbbo, 72 + 40) == (101, 3, 104, 4, 8)
    vb = abi.pack_venue_books((("okx", abi.Book(bids=((100, 1),), asks=(), recv_ns=3)),))
    assert len(vb) == abi.VENUE_BOOKS_SIZE and vb[0] == 1 and vb[8] == abi.VENUE_IDS["okx"] and u64_at(vb, 32) == 100
    assert abi.VENUE_BOOKS_OFFSET + abi.VENUE_BOOKS_SIZE <= abi.POOL_BOOKS_OFFSET
    table = abi.pack_mesh_table("maker", 7, {"hedger": 99})
    assert len(table) == abi.MESH_TABLE_SIZE == 688
    assert table[:5] == b"maker" and u64_at(table, 32) == 7 and table[40] == 1
    assert table[48:54] == b"hedger" and u64_at(table, 80) == 99
    assert abi.MESH_TABLE_OFFSET + abi.MESH_TABLE_SIZE <= abi.HOST_REGION[1]
    msg = abi.pack_mesh_message(7, "maker", b"hi")
    assert len(msg) == abi.MESH_MESSAGE_SIZE == 304
    assert u64_at(msg, 0) == 7 and msg[8:13] == b"maker" and struct.unpack_from("<I", msg, 40)[0] == 2 and msg[48:50] == b"hi"
    with pytest.raises(ValueError, match="at most 256 bytes, was 257"):
        abi.pack_mesh_message(7, "maker", b"x" * 257)


def test_fixed_regions_do_not_overlap() -> None:
    regions = sorted([
        (abi.VENUE_BOOKS_OFFSET, abi.VENUE_BOOKS_SIZE),
        (abi.POOL_BOOKS_OFFSET, 22_536),
        (abi.FEATURES_OFFSET, abi.ONLINE_FEATURES_SIZE),
        (abi.MESH_TABLE_OFFSET, abi.MESH_TABLE_SIZE),
    ])
    for (a, alen), (b, _) in zip(regions, regions[1:]):
        assert a + alen <= b
    assert regions[0][0] >= abi.HOST_REGION[0] and regions[-1][0] + regions[-1][1] <= abi.HOST_REGION[1]
    assert abi.GUEST_STACK_SIZE <= abi.HOST_REGION[0] and abi.GUEST_DATA_BASE >= abi.HOST_REGION[1]


def test_the_c_header_lays_structs_out_as_the_host_packs_them(built: Callable[[Path], Path]) -> None:
    """The C compiler's sizes and offsets (exported by layout_probe.c) equal the host's, and a C
    guest reads the fields the host wrote where the host wrote them."""
    wasm = built(Path(__file__).parent / "layout_probe.c").read_bytes()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.allow_unknown_exports = True
    module = wasmtime.Module(engine, wasm)
    exports = linker.instantiate(store, module).exports(store)

    def value(name: str) -> int:
        fn = exports[name]
        assert isinstance(fn, wasmtime.Func)
        return int(fn(store))

    expected = {
        "size_L2Book": abi.L2BOOK_SIZE, "off_L2Book_asks": 320, "off_L2Book_bid_ct": 640, "off_L2Book_symbol_id": 642,
        "off_L2Book_recv_ns": 648, "size_AlgoState": abi.ALGO_STATE_SIZE, "off_AlgoState_order_ct": 1312,
        "off_AlgoState_session_pnl_1e9": abi.ALGO_STATE_V01_SIZE, "off_AlgoState_symbol": 1336,
        "off_AlgoState_risk": 1376, "size_Action": abi.ACTION.size, "size_WasmActions": abi.WASM_ACTIONS_SIZE,
        "size_Fill": abi.FILL.size, "size_Reject": abi.REJECT.size, "size_OnlineFeatures": abi.ONLINE_FEATURES_SIZE,
        "off_OnlineFeatures_feature_ts_ns": 112, "size_NbboSnapshot": abi.NBBO_SIZE,
        "size_VenueBooks": abi.VENUE_BOOKS_SIZE, "size_MeshTable": abi.MESH_TABLE_SIZE,
        "size_MeshMessage": abi.MESH_MESSAGE_SIZE, "off_MeshMessage_payload": abi.MESH_MESSAGE_HEAD.size,
    }
    assert {name: value(name) for name in expected} == expected
    assert 0 < value("stack_addr") < abi.HOST_REGION[0]  # the stack grows down from 0x10000
    assert abi.GUEST_DATA_BASE <= value("actions_addr") < value("heap_base")  # data from 0x30000, heap after it

    inst = AlgoInstance(load_module(new_engine(), wasm))
    state = abi.AlgoState(
        orders=tuple(abi.OpenOrder(order_id=500 + i, px_1e9=1, qty_1e8=1) for i in range(3)),
        total_fill_count=77, risk=abi.RiskSnapshot(max_position_1e8=12_345),
    )
    book = abi.Book(bids=((10, 1),), asks=((11, 1), (12, 1), (13, 1)), recv_ns=987_654_321, symbol_id=9)
    r = inst.on_book(book, state, abi.OnlineFeatures(microprice_1e9=1000, rv_1h_bps=7))
    assert r.paused is None, r.paused
    assert [(a.order_id, a.side, a.qty_1e8, a.px_1e9) for a in r.actions] == [(9, 1, 12_345, 987_654_321), (1502, -1, 7703, 1007)]
