"""A router killed while writing a plan: its connection drops after every message of the write
but the last reached the server, so the log holds the plan without its last child. The router
started next places exactly that child (the plan carries its children), never re-plans the node,
and every child order is allocated and placed exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import NoReturn

import httpx
import pytest
from nats.js.api import PubAck

from events import AnyEvent
from events.execution import ChildAcked, FillRecorded
from events.ids import new_event_id
from events.market import BookSnapshot
from events.routing import ChildAllocated, PlanMade
from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.errors import BusError
from services.edges.sandbox.service import SandboxExecutor
from services.graph.service import GraphEngineService
from services.risk import RiskLimits
from services.settings import Settings
from services.sor.service import RouterService
from tests.services.trading.test_policies import BOOKS, FINAL, SYMBOL, U

LIMITS = RiskLimits(max_order_notional_usd_1e9=100_000_000 * 10**9, max_position_usd_1e9=None)


class Killed(Exception):
    """The router process is gone: nothing after this point of its work happens."""


class CrashingBus(Bus):
    """The router's own connection, dropped (as kill -9 drops it) in the middle of its first
    plan write: every message of that write but the last has reached the server."""

    crashed: asyncio.Event

    async def publish_many(self, events: Iterable[AnyEvent]) -> list[PubAck]:
        events = list(events)
        if not events or not isinstance(events[0], PlanMade):
            return await super().publish_many(events)
        await super().publish_many(events[:-1])
        await self._die()

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], **kwargs: float
    ) -> list[PubAck | BusError]:
        # A node's first plan goes out with its risk verdict in one chained write.
        if not any(isinstance(e, PlanMade) for e in events):
            return await super().publish_chained(events, expected, **kwargs)
        await super().publish_chained(events[:-1], expected)
        await self._die()

    async def _die(self) -> NoReturn:
        await self.nc.close()  # flushes what was sent, then the socket is gone
        self.crashed.set()
        raise Killed


async def show_books(bus: Bus) -> None:
    now = time.time_ns()
    await bus.publish_many([
        BookSnapshot(event_id=new_event_id(), ts_ns=now, venue=venue, symbol=SYMBOL, bids=bids, asks=asks,
                     ts_recv_ns=now)
        for venue, (bids, asks) in BOOKS.items()
    ])


async def keep_books_fresh(bus: Bus) -> None:
    while True:  # the sandbox refuses orders on a book older than 5 s
        await asyncio.sleep(1.0)
        await show_books(bus)


@pytest.fixture
async def api(bus: Bus, settings: Settings) -> AsyncIterator[tuple[ApiState, httpx.AsyncClient]]:
    """The API, the graph engine and the sandbox venues; no router (the test runs its own)."""
    parts = [GraphEngineService(bus), SandboxExecutor(bus)]
    for part in parts:
        await part.start()
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    fresh = asyncio.create_task(keep_books_fresh(bus))
    try:
        async with app.router.lifespan_context(app):
            state: ApiState = app.state.api
            await show_books(bus)
            await state.md_follower.wait_until(lambda: len(state.market.by_symbol.get(SYMBOL, {})) == len(BOOKS))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                         headers={"Authorization": f"Bearer {key}"}) as client:
                yield state, client
    finally:
        fresh.cancel()
        await asyncio.gather(fresh, return_exceptions=True)
        for part in reversed(parts):
            await part.stop()


async def test_a_router_killed_mid_plan_has_its_successor_place_the_missing_child_once(
    bus: Bus, settings: Settings, api: tuple[ApiState, httpx.AsyncClient]
) -> None:
    state, client = api
    # Arrange: a market buy larger than binance's best level, so its plan has two children
    first = await CrashingBus.connect(settings, name="router-1")
    first.crashed = asyncio.Event()
    doomed = RouterService(first, limits=LIMITS)
    await doomed.start()
    body = {"nodes": [{"node_id": "order", "instrument": {"symbol": SYMBOL, "type": "spot"}, "side": "buy",
                       "order_type": "market", "quantity": {"fixed": {"qty_1e8": U // 2}}}], "edges": []}
    r = await client.post("/v1/orders", json=body)
    assert r.status_code == 200, r.text
    graph_id = str(r.json()["graph_id"])
    # Act: the router dies mid-write; another one starts on the same log
    await asyncio.wait_for(first.crashed.wait(), 20)
    with contextlib.suppress(Exception):  # its connection is gone: stopping only ends its tasks
        await doomed.stop()
    left = [d.event async for d in bus.replay("LEDGER", "route.>")]
    second = await Bus.connect(settings, name="router-2")
    successor = RouterService(second, limits=LIMITS)
    await successor.start()
    try:
        await state.ledger_follower.wait_until(
            lambda: (g := state.ledger.graphs.get(graph_id)) is not None and g.status in FINAL, timeout=30
        )
        status = state.ledger.graphs[graph_id].status
    finally:
        await successor.stop()
        await second.close()
    # Assert: the killed write stored the plan and its first child only
    assert [type(e) for e in left] == [PlanMade, ChildAllocated]
    assert left[1] == left[0].children[0] and len(left[0].children) == 2
    log = [d.event async for d in bus.replay("LEDGER", ["route.>", "exec.>"])]
    plans = [e for e in log if isinstance(e, PlanMade) and e.graph_id == graph_id]
    children = [e for e in log if isinstance(e, ChildAllocated) and e.graph_id == graph_id]
    mine = {c.child_id for c in children}
    acks = [e for e in log if isinstance(e, ChildAcked) and e.child_id in mine]
    fills = [e for e in log if isinstance(e, FillRecorded) and e.child_id in mine]
    # one plan, each of its allocations a child once, each child placed once, the node filled
    assert len(plans) == 1 and len(children) == 2
    assert sorted((c.venue, c.qty_1e8) for c in children) == sorted(
        (a.venue, a.qty_1e8) for a in plans[0].allocations if a.qty_1e8 > 0
    )
    assert {c.plan_id for c in children} == {plans[0].plan_id}
    assert children == list(plans[0].children)  # the missing child exactly as the plan carried it
    assert not [i for i, n in Counter(c.event_id for c in children).items() if n > 1]
    assert sorted(Counter(a.child_id for a in acks).values()) == [1, 1]
    assert sum(f.qty_1e8 for f in fills) == U // 2
    assert status == "COMPLETED"


class FlakyBus(Bus):
    """The router's bus fails its first plan write with a BusError (no JetStream answer), after
    storing `stored` of its messages (and the risk verdict written with it); the connection
    itself stays up."""

    stored: int
    failed: asyncio.Event

    async def publish_many(self, events: Iterable[AnyEvent]) -> list[PubAck]:
        events = list(events)
        if self.failed.is_set() or not events or not isinstance(events[0], PlanMade):
            return await super().publish_many(events)
        self.failed.set()
        if self.stored:
            await super().publish_many(events[: self.stored])
        raise BusError("publish to route.plan got no JetStream answer: TimeoutError()")

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], **kwargs: float
    ) -> list[PubAck | BusError]:
        # A node's first plan goes out with its risk verdict in one chained write: that write
        # stores the verdict and `stored` of the plan's messages, and no answer comes back.
        plan_at = next((i for i, e in enumerate(events) if isinstance(e, PlanMade)), None)
        if self.failed.is_set() or plan_at is None:
            return await super().publish_chained(events, expected, **kwargs)
        self.failed.set()
        await super().publish_chained(events[: plan_at + self.stored], expected)
        return [BusError("publish to route.plan got no JetStream answer: TimeoutError()")] * len(events)


@pytest.mark.parametrize("stored", [0, 1], ids=["nothing-stored", "plan-stored-children-not"])
async def test_a_plan_write_that_fails_is_retried_and_places_each_child_once(
    bus: Bus, settings: Settings, api: tuple[ApiState, httpx.AsyncClient], stored: int
) -> None:
    state, client = api
    flaky = await FlakyBus.connect(settings, name="router-flaky")
    flaky.stored, flaky.failed = stored, asyncio.Event()
    router = RouterService(flaky, limits=LIMITS)
    await router.start()
    try:
        body = {"nodes": [{"node_id": "order", "instrument": {"symbol": SYMBOL, "type": "spot"}, "side": "buy",
                           "order_type": "market", "quantity": {"fixed": {"qty_1e8": U // 2}}}], "edges": []}
        r = await client.post("/v1/orders", json=body)
        assert r.status_code == 200, r.text
        graph_id = str(r.json()["graph_id"])
        await state.ledger_follower.wait_until(
            lambda: (g := state.ledger.graphs.get(graph_id)) is not None and g.status in FINAL, timeout=30
        )
        status = state.ledger.graphs[graph_id].status
    finally:
        await router.stop()
        await flaky.close()
    assert flaky.failed.is_set()
    log = [d.event async for d in bus.replay("LEDGER", ["route.>", "exec.>"])]
    plans = [e for e in log if isinstance(e, PlanMade) and e.graph_id == graph_id]
    children = [e for e in log if isinstance(e, ChildAllocated) and e.graph_id == graph_id]
    acks = [e for e in log if isinstance(e, ChildAcked) and e.child_id in {c.child_id for c in children}]
    assert len(plans) == 1 and children == list(plans[0].children)
    assert sorted(Counter(a.child_id for a in acks).values()) == [1] * len(children)
    assert status == "COMPLETED"
