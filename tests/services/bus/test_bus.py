from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from events import new_event_id
from events.graph import GraphPaused, GraphResumed
from events.market import TradePrinted
from events.subjects import graph_subject
from services.bus import Bus
from services.errors import BusError, ConcurrencyConflict
from services.natsd import NatsServer


def _trade(i: int, event_id: str | None = None) -> TradePrinted:
    return TradePrinted(
        event_id=event_id or new_event_id(),
        ts_ns=i,
        venue="okx",
        symbol="BTC-USDT",
        px_1e9=97_000_000_000_000 + i,
        qty_1e8=1_000_000,
        aggressor="buy",
    )


async def test_same_event_published_twice_is_stored_once(bus: Bus) -> None:
    # Arrange
    event = _trade(1)
    # Act
    first = await bus.publish(event)
    second = await bus.publish(event)
    # Assert
    assert first.seq == second.seq
    assert not first.duplicate and second.duplicate
    info = await bus.js.stream_info("MD")
    assert info.state.messages == 1


async def test_publish_many_dedups_within_a_batch_and_keeps_order(bus: Bus) -> None:
    events = [_trade(i) for i in range(200)]
    acks = await bus.publish_many(events + events[:50])
    assert sum(1 for a in acks if a.duplicate) == 50
    seen = [d.event async for d in bus.replay("MD", "md.>")]
    assert seen == events


async def test_racing_writers_on_one_aggregate_exactly_one_wins(bus: Bus) -> None:
    # Arrange: a graph aggregate with one event on its subject
    subject = graph_subject("t1", "g1")
    await bus.publish(GraphPaused(event_id=new_event_id(), ts_ns=1, tenant="t1", graph_id="g1", reason="x"))
    last = await bus.last_subject_seq(subject)
    assert last > 0
    a = GraphResumed(event_id=new_event_id(), ts_ns=2, tenant="t1", graph_id="g1")
    b = GraphResumed(event_id=new_event_id(), ts_ns=3, tenant="t1", graph_id="g1")
    # Act: both writers read the same version and append concurrently
    results = await asyncio.gather(
        bus.publish(a, expected_last_subject_seq=last),
        bus.publish(b, expected_last_subject_seq=last),
        return_exceptions=True,
    )
    # Assert
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1 and len(losses) == 1
    assert isinstance(losses[0], ConcurrencyConflict)
    assert subject in str(losses[0]) and f"expected last subject sequence {last}" in str(losses[0])
    assert await bus.last_subject_seq(subject) == wins[0].seq


async def test_replay_reads_a_subject_range_from_a_sequence(bus: Bus) -> None:
    await bus.publish_many([_trade(i) for i in range(10)])
    await bus.publish(GraphPaused(event_id=new_event_id(), ts_ns=1, tenant="t", graph_id="g", reason="r"))
    got = [d async for d in bus.replay("MD", "md.okx.>", start_seq=4, end_seq=7)]
    assert [d.seq for d in got] == [4, 5, 6, 7]
    assert [d.event.ts_ns for d in got] == [3, 4, 5, 6]
    assert [d async for d in bus.replay("LEDGER", "ord.>", start_seq=2)] == []


async def test_streams_follow_their_definitions(bus: Bus) -> None:
    ledger = await bus.js.stream_info("LEDGER")
    md = await bus.js.stream_info("MD")
    assert ledger.config.max_age == 0 and ledger.config.duplicate_window == pytest.approx(120)
    assert md.config.max_age == pytest.approx(bus.settings.md_max_age_s)
    assert md.config.max_bytes == bus.settings.md_max_bytes
    await bus.ensure_streams()  # idempotent


def _state(pid: int) -> str:
    """The process state letter from /proc (R running, S sleeping, T stopped, ...)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


async def test_publish_many_fails_instead_of_hanging_when_the_server_stalls(bus: Bus, nats_server: NatsServer) -> None:
    # Arrange: the server process is stopped (SIGSTOP), as a hung or overloaded server would be
    assert nats_server.proc is not None
    os.kill(nats_server.proc.pid, signal.SIGSTOP)
    # kill() only queues the signal: a server thread running on another core may still answer a
    # publish until the process is really stopped ('T' in /proc/<pid>/stat).
    deadline = time.monotonic() + 10
    while _state(nats_server.proc.pid) != "T":
        assert time.monotonic() < deadline, "the server never stopped"
        await asyncio.sleep(0.01)
    try:
        # Act / Assert: no ack comes; the call fails at its deadline instead of waiting forever
        with pytest.raises(BusError, match="no JetStream answer"):
            await asyncio.wait_for(bus.publish_many([_trade(1), _trade(2)], timeout_s=0.5), timeout=10)
    finally:
        os.kill(nats_server.proc.pid, signal.SIGCONT)
    # The connection is still good once the server runs again.
    [ack] = await bus.publish_many([_trade(3)])
    assert ack.seq > 0
