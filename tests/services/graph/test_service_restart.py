"""The graph engine process after a restart: it re-makes every past reaction while replaying the
log, publishes only those the log lacks (a crash lost them), and none that are already there."""

from __future__ import annotations

import asyncio
import itertools

from events import AnyEvent, new_event_id
from events.graph import NodeActivated
from projections.follower import StreamFollower
from services.bus import Bus
from services.graph import parse_order_body, submit
from services.graph.service import GraphEngineService, derived_ids


def submission() -> list[AnyEvent]:
    """GraphSubmitted and its root activation, with the ids the API gives them."""
    parsed = parse_order_body({"symbol": "BTC-USDT", "side": "buy", "qty": 0.01}, new_event_id, force_sandbox=True)
    first = new_event_id()
    ids = itertools.chain([first], iter(derived_ids(first, 1), None))
    _, events = submit(parsed, tenant="t1", now_ns=1, new_id=lambda: next(ids))
    return events


async def caught_up_engine(bus: Bus) -> GraphEngineService:
    engine = GraphEngineService(bus)
    await engine.start()
    await asyncio.wait_for(engine.follower.caught_up.wait(), 10)
    return engine


async def test_a_restart_republishes_no_reaction_the_log_already_has(bus: Bus) -> None:
    # Arrange: the API published the graph and its root activation (as it does).
    await bus.publish_many(submission())
    first = await caught_up_engine(bus)
    await first.stop()
    # Act: a second engine replays the same log.
    second = await caught_up_engine(bus)
    await second.outbox.drain()
    await second.stop()
    # Assert
    assert second.outbox.published == 0
    assert not second.held


async def test_a_restart_publishes_the_reaction_a_crash_lost_once(bus: Bus) -> None:
    # Arrange: only the submission reached the log (its activation was lost).
    submitted, activated = submission()
    await bus.publish(submitted)
    seen: list[AnyEvent] = []
    watcher = StreamFollower(bus, "LEDGER", ["ord.>"], lambda e, seq: seen.append(e))
    await watcher.start()
    # Act
    engine = await caught_up_engine(bus)
    await watcher.wait_until(lambda: any(isinstance(e, NodeActivated) for e in seen), timeout=10)
    await engine.outbox.drain()
    await engine.stop()
    await watcher.stop()
    # Assert: the very activation that was lost, once.
    activations = [d.event async for d in bus.replay("LEDGER", "ord.>") if isinstance(d.event, NodeActivated)]
    assert [a.event_id for a in activations] == [activated.event_id]
    assert engine.outbox.published == 1
