"""Execution policies end to end over JetStream: iceberg, passive, TWAP that cannot fill, and the
re-route of a missed IOC child. The venues' books are published by the test (no sim servers), so
which level the sandbox has already taken, and when a trade prints, are known exactly."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from events import AnyEvent
from events.base import Level
from events.execution import ChildAcked, ChildAmended, ChildCancelled, ChildRejected, FillRecorded
from events.graph import NodeActivated, NodeCompleted
from events.ids import new_event_id
from events.market import BookSnapshot, TradePrinted
from events.routing import ChildAllocated, PlanMade
from projections.follower import StreamFollower
from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.graph.engine import HORIZON_GRACE_MS
from services.settings import Settings
from tests.stack import trading_stack

P = 10**9  # one dollar in px_1e9
U = 10**8  # one BTC in qty_1e8
SYMBOL = "BTC-USDT"
# binance shows the best ask but only 0.2 BTC of it; okx is deeper and 10 bps worse.
BOOKS: dict[str, tuple[list[Level], list[Level]]] = {
    "binance": ([(99_990 * P, 1 * U)], [(100_000 * P, 20_000_000)]),
    "okx": ([(99_980 * P, 5 * U)], [(100_100 * P, 5 * U)]),
}
FINAL = ("COMPLETED", "FAILED", "REJECTED", "CANCELLED")


@dataclass
class Desk:
    """The trader parts and the API over one bus, with the venue books in the test's hands."""

    client: httpx.AsyncClient
    api: ApiState
    bus: Bus
    log: list[AnyEvent] = field(default_factory=list)  # every LEDGER event, in stream order

    async def show_books(self) -> None:
        # Republished as they are (same sizes), a book keeps what the sandbox took from it.
        now = time.time_ns()
        await self.bus.publish_many([
            BookSnapshot(event_id=new_event_id(), ts_ns=now, venue=venue, symbol=SYMBOL, bids=bids, asks=asks,
                         ts_recv_ns=now)
            for venue, (bids, asks) in BOOKS.items()
        ])

    async def keep_books_fresh(self) -> None:
        # The sandbox refuses orders on a book older than 5 s: a live venue would keep sending.
        while True:
            await asyncio.sleep(1.0)
            await self.show_books()

    async def trade(self, venue: str, px_1e9: int, qty_1e8: int, not_before_ns: int) -> None:
        # A public sell at our bid: it reaches an order resting there once the order is live.
        now = max(time.time_ns(), not_before_ns)
        await self.bus.publish(TradePrinted(event_id=new_event_id(), ts_ns=now, venue=venue, symbol=SYMBOL,
                                            px_1e9=px_1e9, qty_1e8=qty_1e8, aggressor="sell", ts_recv_ns=now))

    async def submit(self, **node: Any) -> str:
        body = {"nodes": [{
            "node_id": "order",
            "instrument": {"symbol": SYMBOL, "type": "spot", "venue": node.pop("venue", None)},
            "side": node.pop("side", "buy"),
            "order_type": node.pop("order_type", "market"),
            "quantity": {"fixed": {"qty_1e8": node.pop("qty_1e8")}},
            "execution": node.pop("execution", {}),
        }], "edges": []}
        r = await self.client.post("/v1/orders", json=body)
        assert r.status_code == 200, r.text
        return str(r.json()["graph_id"])

    async def until(self, what: str, condition: Any, timeout: float = 20.0) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    await self._changed.wait()
                    self._changed.clear()
        except TimeoutError:
            raise AssertionError(f"timed out waiting for {what}") from None

    async def until_final(self, graph_id: str, timeout: float = 20.0) -> dict[str, Any]:
        await self.api.ledger_follower.wait_until(
            lambda: (g := self.api.ledger.graphs.get(graph_id)) is not None and g.status in FINAL, timeout=timeout
        )
        return dict((await self.client.get(f"/v1/execution_graphs/{graph_id}")).json())

    def events(self, graph_id: str, *kinds: type) -> list[Any]:
        """This graph's events of these kinds, in log order (children matched by their id)."""
        return [e for e in self.log if isinstance(e, kinds) and getattr(e, "child_id", getattr(e, "graph_id", ""))
                .startswith(graph_id)]

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.log.append(event)
        self._changed.set()

    _changed: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def desk(bus: Bus, settings: Settings, trader: str) -> AsyncIterator[Desk]:
    async with trading_stack(bus, [], seed=0, trader=trader):  # graph engine, router, sandbox, TCA; no sim venues
        key = create_key(settings, "default", sandbox=True, now_ns=1).secret
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            api: ApiState = app.state.api
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
            ) as client:
                desk = Desk(client, api, bus)
                watcher = StreamFollower(bus, "LEDGER", ["ord.>", "route.>", "exec.>"], desk.on_ledger)
                await watcher.start()
                await desk.show_books()
                fresh = asyncio.create_task(desk.keep_books_fresh())
                await api.md_follower.wait_until(lambda: len(api.market.by_symbol.get(SYMBOL, {})) == len(BOOKS))
                try:
                    yield desk
                finally:
                    fresh.cancel()
                    await asyncio.gather(fresh, return_exceptions=True)
                    await watcher.stop()


def assert_no_child_twice(desk: Desk) -> None:
    allocated = [e for e in desk.log if isinstance(e, ChildAllocated)]
    assert not [c for c, n in Counter(e.child_id for e in allocated).items() if n > 1]
    assert not [c for c, n in Counter(e.client_order_id for e in allocated).items() if n > 1]


def working_by_child(events: list[Any]) -> list[tuple[str, int]]:
    """Walk a node's child events in log order; after each ChildAllocated/ChildAcked, return
    (event kind, quantity shown and unfilled at the venue over all its children)."""
    working: dict[str, int] = {}
    seen: list[tuple[str, int]] = []
    for e in events:
        match e:
            case ChildAllocated():
                working[e.child_id] = e.qty_1e8
            case FillRecorded():
                working[e.child_id] -= e.qty_1e8
            case ChildCancelled() | ChildRejected():
                working[e.child_id] = 0
        if isinstance(e, (ChildAllocated, ChildAcked)):
            seen.append((type(e).__name__, sum(working.values())))
    return seen


async def test_iceberg_fills_its_total_showing_at_most_its_display_size(desk: Desk) -> None:
    # Arrange: buy 0.3 BTC showing 0.1 at a bid inside the spread (it rests: nothing crosses it)
    display, limit = 10_000_000, 99_995 * P
    graph_id = await desk.submit(qty_1e8=30_000_000, order_type={"limit": {"price_1e9": limit}},
                                 execution={"policy": "iceberg", "display_qty_1e8": display})
    # Act: each time a clip is live, a public sell of one display size prints at its price
    for clip in range(3):
        await desk.until(f"clip {clip} acked", lambda: len(desk.events(graph_id, ChildAcked)) > clip)
        ack = desk.events(graph_id, ChildAcked)[clip]
        await desk.trade(ack.venue, limit, display, not_before_ns=ack.ts_event_ns)
    status = await desk.until_final(graph_id)
    # Assert
    assert status["status"] == "COMPLETED"
    node = status["nodes"]["order"]
    assert (node["status"], node["filled_qty_1e8"]) == ("FILLED", 30_000_000)
    clips = desk.events(graph_id, ChildAllocated)
    assert [(c.qty_1e8, c.limit_px_1e9, c.tif, c.venue) for c in clips] == [(display, limit, "gtc", "binance")] * 3
    shown = working_by_child(desk.events(graph_id, ChildAllocated, ChildAcked, FillRecorded, ChildCancelled, ChildRejected))
    assert len(shown) == 6 and max(q for _, q in shown) <= display, shown
    assert_no_child_twice(desk)


async def test_cancelling_an_iceberg_pulls_its_live_clip_and_shows_no_more(desk: Desk) -> None:
    # Arrange: far under the market, the first clip rests
    graph_id = await desk.submit(qty_1e8=30_000_000, order_type={"limit": {"price_1e9": 90_000 * P}},
                                 execution={"policy": "iceberg", "display_qty_1e8": 10_000_000})
    await desk.until("the clip acked", lambda: bool(desk.events(graph_id, ChildAcked)))
    # Act
    r = await desk.client.delete(f"/v1/execution_graphs/{graph_id}")
    # Assert
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    [clip] = desk.events(graph_id, ChildAllocated)
    await desk.until("the clip pulled", lambda: bool(desk.events(graph_id, ChildCancelled)))
    [pulled] = desk.events(graph_id, ChildCancelled)
    assert (pulled.child_id, pulled.cancelled_qty_1e8, pulled.filled_qty_1e8) == (clip.child_id, 10_000_000, 0)
    assert len(desk.events(graph_id, ChildAllocated)) == 1  # the cancel released no next clip


async def test_amending_an_iceberg_changes_its_total_never_its_clip_beyond_display(desk: Desk) -> None:
    # Arrange: far under the market, the first 0.1 BTC clip of 0.3 rests
    graph_id = await desk.submit(qty_1e8=30_000_000, order_type={"limit": {"price_1e9": 90_000 * P}},
                                 execution={"policy": "iceberg", "display_qty_1e8": 10_000_000})
    await desk.until("the clip acked", lambda: bool(desk.events(graph_id, ChildAcked)))
    node_order_id = f"{graph_id}:order:1"
    # Act: raise the total (the clip keeps its size), then cut it under the clip (the clip shrinks)
    raised = await desk.client.patch(f"/v1/orders/{node_order_id}", json={"new_qty_1e8": 50_000_000})
    cut = await desk.client.patch(f"/v1/orders/{node_order_id}", json={"new_qty_1e8": 4_000_000})
    # Assert
    assert (raised.status_code, raised.json()["qty_1e8"]) == (200, 50_000_000)
    assert (cut.status_code, cut.json()["qty_1e8"]) == (200, 4_000_000)
    await desk.until("the clip resized", lambda: bool(desk.events(graph_id, ChildAmended)))
    [amended] = desk.events(graph_id, ChildAmended)
    assert amended.new_qty_1e8 == 4_000_000
    assert len(desk.events(graph_id, ChildAllocated)) == 1
    r = await desk.client.delete(f"/v1/execution_graphs/{graph_id}")
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("side", "limit", "touch"),
    [("buy", 100_005, 99_990), ("sell", 99_985, 100_000)],  # limits through the touch would sweep under sor
)
async def test_passive_rests_at_the_touch_never_crossing_even_with_a_limit_through_it(
    desk: Desk, side: str, limit: int, touch: int
) -> None:
    # Arrange
    graph_id = await desk.submit(qty_1e8=10_000_000, side=side, order_type={"limit": {"price_1e9": limit * P}},
                                 execution={"policy": "passive"})
    # Act
    await desk.until("the child acked", lambda: bool(desk.events(graph_id, ChildAcked)))
    # Assert: it joined the touch of its own side (binance quotes both), GTC, whole; nothing filled
    [child] = desk.events(graph_id, ChildAllocated)
    assert (child.venue, child.limit_px_1e9, child.qty_1e8, child.tif) == ("binance", touch * P, 10_000_000, "gtc")
    assert not desk.events(graph_id, FillRecorded)
    r = await desk.client.delete(f"/v1/execution_graphs/{graph_id}")
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
    await desk.until("the child pulled", lambda: bool(desk.events(graph_id, ChildCancelled)))


async def test_twap_whose_slices_cannot_fill_ends_expired_after_its_horizon(desk: Desk) -> None:
    # Arrange: 0.5 BTC at most 100,000 in two slices; only binance's 0.2 BTC is within the limit,
    # and the sandbox has taken it after the first slice, so the second misses.
    horizon_ms = 600
    graph_id = await desk.submit(
        qty_1e8=50_000_000, order_type={"limit": {"price_1e9": 100_000 * P}},
        execution={"policy": "twap", "horizon_ms": horizon_ms, "num_slices": 2},
    )
    # Act
    status = await desk.until_final(graph_id, timeout=30)
    # Assert
    node = status["nodes"]["order"]
    assert status["status"] == "FAILED"
    assert (node["status"], node["filled_qty_1e8"]) == ("EXPIRED", 20_000_000)
    assert node["failure_reason"] == "horizon elapsed: filled 20000000 of 50000000"
    [activated] = desk.events(graph_id, NodeActivated)
    [completed] = desk.events(graph_id, NodeCompleted)
    assert completed.ts_ns >= activated.ts_ns + (horizon_ms + HORIZON_GRACE_MS) * 1_000_000
    assert len(desk.events(graph_id, PlanMade)) == 2
    assert all(c.tif == "ioc" for c in desk.events(graph_id, ChildAllocated))  # a slice never rests
    assert_no_child_twice(desk)


async def test_a_missed_ioc_child_is_rerouted_and_the_order_completes(desk: Desk) -> None:
    # Arrange: a first order pinned to binance takes its 0.2 BTC, which the router still sees
    first = await desk.submit(qty_1e8=20_000_000, venue="binance")
    assert (await desk.until_final(first))["status"] == "COMPLETED"
    # Act: the same size again goes to binance (cheapest on the books), where nothing is left
    graph_id = await desk.submit(qty_1e8=20_000_000)
    status = await desk.until_final(graph_id)
    # Assert
    assert status["status"] == "COMPLETED", status
    assert status["nodes"]["order"]["filled_qty_1e8"] == 20_000_000
    missed, rerouted = desk.events(graph_id, ChildAllocated)
    assert (missed.venue, rerouted.venue) == ("binance", "okx")
    assert ":r1:" in rerouted.child_id and rerouted.tif == "ioc"
    [cancelled] = desk.events(graph_id, ChildCancelled)
    assert (cancelled.child_id, cancelled.filled_qty_1e8) == (missed.child_id, 0)
    assert [sum(a.qty_1e8 for a in p.allocations) for p in desk.events(graph_id, PlanMade)] == [20_000_000] * 2
    fills = desk.events(graph_id, FillRecorded)
    assert {f.venue for f in fills} == {"okx"} and sum(f.qty_1e8 for f in fills) == 20_000_000
    assert_no_child_twice(desk)


async def test_a_reroute_never_goes_past_the_slippage_collar(desk: Desk) -> None:
    # Arrange: binance's 0.2 BTC is taken; okx's ask is 10.5 bps over the arrival mid
    first = await desk.submit(qty_1e8=20_000_000, venue="binance")
    assert (await desk.until_final(first))["status"] == "COMPLETED"
    # Act: 5 bps of slippage allowed from the arrival mid
    graph_id = await desk.submit(qty_1e8=20_000_000, execution={"max_slippage_bps": 5})
    status = await desk.until_final(graph_id)
    # Assert: the router answered with an empty plan, and the node expired unfilled
    node = status["nodes"]["order"]
    assert status["status"] == "FAILED"
    assert (node["status"], node["filled_qty_1e8"]) == ("EXPIRED", 0)
    [missed] = desk.events(graph_id, ChildAllocated)
    assert missed.venue == "binance"
    assert [len(p.allocations) for p in desk.events(graph_id, PlanMade)] == [1, 0]
