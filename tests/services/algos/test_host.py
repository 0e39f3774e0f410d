"""AlgoInstance: the v0.1 callbacks, the later ones by export presence, limits and pauses.

WAT modules (tests/services/algos/wat/) make each case exact: `probe.wat` reports what the host
wrote into guest memory as one action, `echo.wat` returns its book buffer as the action buffer so
a test can hand the host any action bytes."""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest

from services.algos import abi
from services.algos.errors import AlgoRejected
from services.algos.host import AlgoInstance, HostLimits, HostPorts, MeshConfig, PauseKind
from services.algos.module import AlgoModule, load_module
from tests.services.algos.conftest import ladder_book

Loader = Callable[[str], AlgoModule]


def actions_book(count: int, actions: list[tuple[int, int, int, int, int, int, int]]) -> abi.Book:
    """A book whose bytes are a WasmActions header plus `actions` (for echo.wat)."""
    raw = struct.pack("<I4x", count) + b"".join(abi.ACTION.pack(*a) for a in actions)
    raw = raw.ljust(640, b"\0")
    words = struct.unpack("<80Q", raw)
    pairs = tuple((words[2 * i], words[2 * i + 1]) for i in range(40))
    return abi.Book(bids=pairs[:20], asks=pairs[20:], recv_ns=0)


def test_v01_doc_example_quotes_the_best_bid_and_logs(wat_module: Loader) -> None:
    # Arrange
    inst = AlgoInstance(wat_module("doc_example.wat"), ports=HostPorts(clock_ns=lambda: 777))
    book = ladder_book(best_bid_1e9=50_000_000_000_000)
    # Act
    r = inst.on_book(book, abi.AlgoState())
    # Assert
    assert r.paused is None and r.ran
    assert r.actions == (abi.Action(1, 50_000_000_000_000, 100_000_000, 1, abi.ActionKind.NEW, abi.OrderType.POST_ONLY, 0),)
    assert [(x.ts_ns, x.level, x.message) for x in r.logs] == [(777, "info", "on_book")]
    assert 1000 < r.fuel_used < 2000  # one host call (1,000) plus a few dozen instructions
    assert inst.on_shutdown(abi.AlgoState()).actions == ()


def test_an_empty_book_gives_no_action(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("doc_example.wat"))
    r = inst.on_book(abi.Book(bids=(), asks=(), recv_ns=5), abi.AlgoState())
    assert r.actions == () and r.paused is None


def test_v3_gets_features_at_their_fixed_offset_and_sends_to_a_peer(wat_module: Loader) -> None:
    mesh = MeshConfig(label="maker", mesh_id=7, peers={"hedger": 99})
    inst = AlgoInstance(wat_module("probe.wat"), mesh=mesh, ports=HostPorts(clock_ns=lambda: 0, next_id=lambda: "m-1"))
    book = abi.Book(bids=((100, 8),), asks=((102, 1),), recv_ns=3)  # bids[0].sz = bytes to send
    r = inst.on_book(book, abi.AlgoState(), abi.OnlineFeatures(microprice_1e9=101_500))
    (a,) = r.actions
    assert (a.order_id, a.px_1e9, a.qty_1e8) == (abi.FEATURES_OFFSET, 101_500, 10)  # send status 0
    assert [(m.message_id, m.to_label, m.to_mesh_id, len(m.payload)) for m in r.messages] == [("m-1", "hedger", 99, 8)]


def test_a_send_over_256_bytes_is_refused_and_the_instance_runs_on(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("probe.wat"), mesh=MeshConfig(label="maker", mesh_id=7, peers={"hedger": 99}))
    r = inst.on_book(abi.Book(bids=((100, 300),), asks=(), recv_ns=3), abi.AlgoState(), abi.OnlineFeatures(microprice_1e9=1))
    assert r.messages == ()
    assert r.refused == ("send to 'hedger' of 300 bytes refused: at most 256 bytes",)
    assert r.actions[0].qty_1e8 == 9  # the guest saw CB_SEND_TOO_LARGE (-1)
    assert r.paused is None and inst.paused is None


def test_heartbeat_nbbo_and_message_callbacks_by_export_presence(wat_module: Loader) -> None:
    mesh = MeshConfig(label="hedger", mesh_id=99, peers={"maker": 7})
    inst = AlgoInstance(wat_module("probe.wat"), mesh=mesh)
    state = abi.AlgoState()
    hb = inst.on_heartbeat(state, now_ns=1_700_000_000_000_000_000, features=abi.OnlineFeatures(rv_1m_bps=42))
    assert (hb.actions[0].order_id, hb.actions[0].px_1e9) == (1_700_000_000_000_000_000, 42)

    okx = abi.Book(bids=((97_000, 1),), asks=((97_010, 2),), recv_ns=1)
    nbbo = abi.NbboSnapshot(
        venues=(
            abi.VenueQuote("okx", 97_000, 1, 97_010, 2, 1),
            abi.VenueQuote("binance", 96_990, 5, 97_005, 3, 2),
        ),
        recv_ns=2,
        books=(("okx", okx),),
    )
    n = inst.on_nbbo(nbbo, state)
    assert (n.actions[0].order_id, n.actions[0].px_1e9, n.actions[0].qty_1e8) == (abi.VENUE_IDS["binance"], 97_005, 97_000)

    m = inst.on_message("maker", struct.pack("<Q", 123_456) + b"tail", state)
    assert (m.actions[0].order_id, m.actions[0].px_1e9, m.actions[0].qty_1e8) == (7, 123_456, 12)


def test_a_message_over_256_bytes_is_not_delivered(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("probe.wat"), mesh=MeshConfig(label="hedger", mesh_id=99, peers={"maker": 7}))
    r = inst.on_message("maker", b"x" * 257, abi.AlgoState())
    assert not r.ran and r.actions == ()
    assert r.refused == ("message from 'maker' of 257 bytes not delivered: at most 256 bytes",)
    assert inst.on_message("maker", b"x" * 256, abi.AlgoState()).actions[0].qty_1e8 == 256


def test_callbacks_the_module_lacks_are_skipped(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("doc_example.wat"))
    assert not inst.on_heartbeat(abi.AlgoState(), 1).ran
    assert not inst.on_message("x", b"", abi.AlgoState()).ran
    assert not inst.on_nbbo(abi.NbboSnapshot(venues=(), recv_ns=0), abi.AlgoState()).ran


def test_fill_reject_and_shutdown(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("probe.wat"))
    state = abi.AlgoState(orders=(abi.OpenOrder(order_id=41, px_1e9=100, qty_1e8=5),))
    f = inst.on_fill(abi.Fill(order_id=41, px_1e9=100, qty_1e8=5, recv_ns=9, side=1), state)
    assert [x.message for x in f.logs] == ["fill"] and f.actions == ()
    rj = inst.on_reject(abi.Reject(order_id=41, code=abi.RejectCode.RISK))
    assert [(x.level, x.message) for x in rj.logs] == [("warn", "reject")]
    s = inst.on_shutdown(state)
    assert s.actions == (abi.Action(41, 0, 0, 0, abi.ActionKind.CANCEL, abi.OrderType.LIMIT, 0),)
    assert [x.message for x in inst.recent_logs] == ["fill", "reject"]


def test_actions_are_decoded_and_cleared_slots_skipped(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("echo.wat"))
    state = abi.AlgoState(orders=(abi.OpenOrder(order_id=5, px_1e9=10, qty_1e8=1),))
    book = actions_book(4, [
        (1, 100, 7, 1, 0, abi.OrderType.IOC, 0),
        (0, 1, 1, 1, 0, 0, 0),  # order_id 0: a no-op
        (5, 0, 0, 0, 1, 0, 0),  # cancel 5
        (2, 0, 3, -1, 0, abi.OrderType.MARKET, abi.VENUE_IDS["okx"]),
    ])
    r = inst.on_book(book, state)
    assert r.paused is None
    assert r.actions == (
        abi.Action(1, 100, 7, 1, abi.ActionKind.NEW, abi.OrderType.IOC, 0),
        abi.Action(5, 0, 0, 0, abi.ActionKind.CANCEL, abi.OrderType.LIMIT, 0),
        abi.Action(2, 0, 3, -1, abi.ActionKind.NEW, abi.OrderType.MARKET, abi.VENUE_IDS["okx"]),
    )
    assert r.actions[2].venue == "okx"


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        ((1, 100, 7, 2, 0, 0, 0), "side must be 1 (buy) or -1 (sell), was 2"),
        ((1, 100, 7, 1, 0, 9, 0), "unknown order_type 9"),
        ((1, 100, -7, 1, 0, 0, 0), "qty_1e8 must be positive, was -7"),
        ((1, 0, 7, 1, 0, 0, 0), "px_1e9 is 0 on a priced order"),
        ((1, 100, 7, 1, 3, 0, 0), "is_cancel must be 0 (new), 1 (cancel) or 2 (amend), was 3"),
        ((1, 100, 7, 1, 0, 0, 200), "unknown venue_id 200"),
        ((9, 100, 7, 0, 2, 0, 0), "amends an order that is not open"),
        ((5, 100, 7, 1, 0, 0, 0), "order_id is already in use by an open order"),
    ],
)
def test_a_bad_action_pauses_with_the_reason(wat_module: Loader, action: tuple[int, ...], problem: str) -> None:
    inst = AlgoInstance(wat_module("echo.wat"), ports=HostPorts(clock_ns=lambda: 55))
    state = abi.AlgoState(orders=(abi.OpenOrder(order_id=5, px_1e9=10, qty_1e8=1),))
    r = inst.on_book(actions_book(1, [action]), state)  # type: ignore[list-item]
    assert r.actions == ()
    assert r.paused is not None and r.paused.kind is PauseKind.BAD_ACTION
    assert r.paused.reason == f"bad_action in algo_on_book: action 0 (order_id {action[0]}): {problem}"
    assert r.paused.ts_ns == 55
    assert inst.paused == r.paused


def test_an_amend_of_an_open_order_passes(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("echo.wat"))
    state = abi.AlgoState(orders=(abi.OpenOrder(order_id=5, px_1e9=10, qty_1e8=1),))
    r = inst.on_book(actions_book(1, [(5, 11, 0, 0, 2, 0, 0)]), state)
    assert r.actions == (abi.Action(5, 11, 0, 0, abi.ActionKind.AMEND, abi.OrderType.LIMIT, 0),)


def test_more_than_32_open_orders_pauses(wat_module: Loader) -> None:
    orders = tuple(abi.OpenOrder(order_id=100 + i, px_1e9=10, qty_1e8=1) for i in range(31))
    ok = AlgoInstance(wat_module("doc_example.wat")).on_book(ladder_book(), abi.AlgoState(orders=orders))
    assert ok.paused is None and len(ok.actions) == 1  # the 32nd open order
    full = orders + (abi.OpenOrder(order_id=200, px_1e9=10, qty_1e8=1),)
    r = AlgoInstance(wat_module("doc_example.wat")).on_book(ladder_book(), abi.AlgoState(orders=full))
    assert r.paused is not None and r.paused.kind is PauseKind.OPEN_ORDERS
    assert "would make 33 open orders; at most 32" in r.paused.reason
    dead = orders + (abi.OpenOrder(order_id=200, px_1e9=10, qty_1e8=1, status=abi.OrderStatus.DEAD),)
    assert AlgoInstance(wat_module("doc_example.wat")).on_book(ladder_book(), abi.AlgoState(orders=dead)).paused is None


def test_over_16_actions_pauses(wat_module: Loader) -> None:
    acts = [(i + 1, 100, 1, 1, 0, 0, 0) for i in range(17)]
    r = AlgoInstance(wat_module("echo.wat")).on_book(actions_book(17, acts), abi.AlgoState())
    assert r.paused is not None and r.paused.kind is PauseKind.TOO_MANY_ACTIONS
    assert r.paused.detail == "returned 17 actions; at most 16 per callback"


def test_a_paused_instance_skips_callbacks_until_resumed(wat_module: Loader) -> None:
    inst = AlgoInstance(wat_module("echo.wat"))
    assert inst.on_book(actions_book(17, []), abi.AlgoState()).paused is not None
    skipped = inst.on_book(actions_book(0, []), abi.AlgoState())
    assert not skipped.ran and skipped.actions == ()
    inst.resume()
    assert inst.on_book(actions_book(0, []), abi.AlgoState()).paused is None
    assert inst.stats().book_updates == 2


def test_latency_comes_from_the_timer_port(wat_module: Loader) -> None:
    ticks = iter(range(0, 10_000, 100))
    inst = AlgoInstance(wat_module("doc_example.wat"), ports=HostPorts(clock_ns=lambda: 0, timer_ns=lambda: next(ticks)))
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert r.latency_ns == 100
    assert inst.stats().latency_p50_ns == 100


def test_log_lines_are_bounded_per_callback(engine: object) -> None:
    wat = """(module (import "env" "host_log_impl" (func $log (param i32 i32 i32)))
      (memory (export "memory") 4) (data (i32.const 0x2E000) "0123456789")
      (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
      (func (export "algo_on_book") (param i32 i32) (result i32) (local $i i32)
        (loop $l (call $log (i32.const 2) (i32.const 0x2E000) (i32.const 10))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
        (i32.const 0)))"""
    inst = AlgoInstance(load_module(engine, wat), limits=HostLimits(max_log_lines=5, max_log_line_bytes=4, recent_logs=8))  # type: ignore[arg-type]
    r = inst.on_book(ladder_book(), abi.AlgoState())
    assert [x.message for x in r.logs] == ["0123"] * 5 and r.logs_dropped == 95
    inst.on_book(ladder_book(), abi.AlgoState())
    assert len(inst.recent_logs) == 8


def test_the_same_inputs_give_identical_results(wat_module: Loader) -> None:
    def run() -> list[object]:
        inst = AlgoInstance(wat_module("probe.wat"), mesh=MeshConfig(label="a", mesh_id=1, peers={"b": 2}))
        out: list[object] = []
        for i in range(50):
            book = abi.Book(bids=((1000 + i, 8),), asks=((1002 + i, 1),), recv_ns=i)
            out.append(inst.on_book(book, abi.AlgoState(position_1e8=i), abi.OnlineFeatures(microprice_1e9=1001 + i)))
            out.append(inst.on_heartbeat(abi.AlgoState(), now_ns=i))
        return out

    assert run() == run()


def test_a_start_function_that_loops_is_rejected_at_load(engine: object) -> None:
    wat = """(module (memory (export "memory") 4) (func $s (loop $l (br $l))) (start $s)
      (func (export "algo_alloc") (param i32) (result i32) (i32.const 0x30000))
      (func (export "algo_on_book") (param i32 i32) (result i32) (i32.const 0)))"""
    with pytest.raises(AlgoRejected, match="traps while instantiating"):
        load_module(engine, wat)  # type: ignore[arg-type]
