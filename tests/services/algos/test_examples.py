"""The three example algos (examples/algos/), built with zig cc and run by the host on books from
the project's simulated market (services/edges/sim/market.py), through the local harness."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import wasmtime

from services.algos import abi
from services.algos.features import FeatureTracker
from services.algos.harness import AlgoHarness, Trade
from services.algos.host import AlgoInstance, HostPorts, MeshConfig
from services.algos.module import load_module
from services.edges.sim.market import SimInstrument, SimMarket
from tests.services.algos.conftest import EXAMPLES

Built = Callable[[Path], Path]
TICK = 100_000_000  # 0.1 USDT
META = abi.SymbolMeta(tick_size_1e9=TICK, lot_size_1e8=1_000, price_precision=1, qty_precision=5)
STEP_NS = 100_000_000  # a book every 100 ms of book time


def sim_market(seed: int, n: int, start_ns: int = 1_700_000_000_000_000_000) -> Iterator[tuple[abi.Book, Trade | None]]:
    """Books (20 levels) and the trade printed with each, from the venue simulator's market."""
    market = SimMarket(SimInstrument("BTC-USDT", mid_px_1e9=97_029_100_000_000, tick_1e9=TICK, lot_1e8=1_000), seed)
    for i in range(n):
        market.step()
        book = abi.Book(bids=tuple(market.book.bids(20)), asks=tuple(market.book.asks(20)), recv_ns=start_ns + i * STEP_NS)
        t = market.last_trade
        yield book, Trade(t.px_1e9, t.qty_1e8, 1 if t.aggressor == "buy" else -1) if t else None


def sim_books(seed: int, n: int) -> Iterator[abi.Book]:
    return (book for book, _ in sim_market(seed, n))


def harness(engine: wasmtime.Engine, wasm: Path, mesh: MeshConfig | None = None) -> AlgoHarness:
    inst = AlgoInstance(load_module(engine, wasm.read_bytes()), mesh=mesh, ports=HostPorts(clock_ns=lambda: 0))
    return AlgoHarness(inst, META)


def test_market_maker_quotes_both_sides_post_only_at_the_touch(engine: wasmtime.Engine, built: Built) -> None:
    # Arrange
    h = harness(engine, built(EXAMPLES / "market_maker.c"))
    tracker = FeatureTracker()  # the v3 callback gets OnlineFeatures (it leans on the microprice)
    placed: list[tuple[abi.Action, abi.Book]] = []
    # Act
    last = None
    for book, trade in sim_market(seed=11, n=600):
        if trade:
            tracker.on_trade(book.recv_ns, trade.qty_1e8, trade.aggressor_side)
        r = h.book(book, tracker.on_book(book), trade=trade)
        assert r.paused is None, r.paused
        placed += [(a, book) for a in r.actions if a.kind is abi.ActionKind.NEW]
        assert len(h.orders) <= 2
        last = book
    assert last is not None
    working = set(h.orders)
    shutdown = h.shutdown(last)
    # Assert: post-only quotes on both sides that never cross the book they answered
    assert {a.side for a, _ in placed} == {1, -1}
    assert all(a.order_type is abi.OrderType.POST_ONLY and a.qty_1e8 == 1_000_000 for a, _ in placed)
    assert all(a.px_1e9 < b.asks[0][0] if a.side > 0 else a.px_1e9 > b.bids[0][0] for a, b in placed)
    assert h.rejects == []
    buys = [f for f in h.fills if f.side > 0]
    sells = [f for f in h.fills if f.side < 0]
    assert buys and sells
    assert abs(h.position_1e8) <= 6_000_000  # MAX_POSITION plus one quote
    # Quotes track the touch: at most the inventory skew (5 quote sizes = 5 ticks) plus one tick away
    assert all(b.bids[0][0] - a.px_1e9 <= 6 * TICK if a.side > 0 else a.px_1e9 - b.asks[0][0] <= 6 * TICK for a, b in placed)
    assert h.realized_pnl_1e9 != 0 and h.state().realized_pnl_1e9 == h.realized_pnl_1e9
    assert working and [a.kind for a in shutdown.actions] == [abi.ActionKind.CANCEL] * len(working)
    assert {a.order_id for a in shutdown.actions} == working and h.orders == {}


def test_twap_slices_the_target_on_schedule(engine: wasmtime.Engine, built: Built) -> None:
    h = harness(engine, built(EXAMPLES / "twap.c"))
    slices: list[tuple[int, abi.Action]] = []
    for book in sim_books(seed=3, n=150):  # 15 s of book time
        r = h.book(book)
        assert r.paused is None
        slices += [(book.recv_ns, a) for a in r.actions]
    assert len(slices) == 10
    assert all(a.order_type is abi.OrderType.IOC and a.side == 1 for _, a in slices)
    times = [t for t, _ in slices]
    assert all(b - a >= 1_000_000_000 for a, b in zip(times, times[1:]))
    assert h.position_1e8 == 10_000_000  # exactly the target
    assert sum(f.qty_1e8 for f in h.fills) == 10_000_000
    logs = [x.message for r in h.results for x in r.logs]
    assert "target reached" in logs


def test_mesh_pair_hedges_every_fill_on_the_other_venue(engine: wasmtime.Engine, built: Built) -> None:
    quoter = harness(engine, built(EXAMPLES / "mesh_pair" / "quoter.c"), MeshConfig("quoter", 1, {"hedger": 2}))
    hedger = harness(engine, built(EXAMPLES / "mesh_pair" / "hedger.c"), MeshConfig("hedger", 2, {"quoter": 1}))
    delivered = 0
    for q_book, h_book in zip(sim_books(seed=21, n=500), sim_books(seed=22, n=500)):
        hedger.book(h_book)
        before = len(quoter.results)
        quoter.book(q_book)
        for r in quoter.results[before:]:
            for m in r.messages:
                assert m.to_label == "hedger" and len(m.payload) == 16
                qty, px = struct.unpack("<qQ", m.payload)
                assert qty == (1 if quoter.fills[-1].side > 0 else -1) * 1_000_000 or px > 0
                hr = hedger.message("quoter", m.payload, h_book)
                assert hr.paused is None and len(hr.actions) == 1
                assert hr.actions[0].order_type is abi.OrderType.IOC and hr.actions[0].side == (-1 if qty > 0 else 1)
                delivered += 1
    assert quoter.fills and delivered == len(quoter.fills)
    assert hedger.position_1e8 == -quoter.position_1e8  # flat across the pair
    assert quoter.position_1e8 != 0 or len(hedger.fills) > 0


def test_the_same_module_and_books_twice_give_identical_results(engine: wasmtime.Engine, built: Built) -> None:
    def run() -> tuple[list[object], list[abi.Fill], int]:
        h = harness(engine, built(EXAMPLES / "market_maker.c"))
        for book, trade in sim_market(seed=5, n=300):
            h.book(book, trade=trade)
        return list(h.results), h.fills, h.realized_pnl_1e9

    assert run() == run()
