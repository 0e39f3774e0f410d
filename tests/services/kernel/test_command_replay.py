"""A restarted graph engine reads every command on the log again: those it already ran leave
nothing new (their effects are on the log), one acked while it was down runs once."""

from __future__ import annotations

import time

from events.commands import CancelGraph
from events.subjects import graph_subject
from services.graph.commands import submit_command
from services.bus import Bus
from services.bus.writer import as_writer
from services.graph import parse_order_body
from services.graph.service import GraphEngineService

TENANT = "acme"


def submit_graph(graph_id: str) -> object:
    body = {"graph_id": graph_id, "nodes": [{
        "node_id": "order", "instrument": {"symbol": "BTC-USDT", "type": "spot"}, "side": "buy",
        "order_type": {"limit": {"price_1e9": 50_000 * 10**9}}, "quantity": {"fixed": {"qty_1e8": 1_000_000}},
    }], "edges": []}
    return submit_command(parse_order_body(body, lambda: "unused", force_sandbox=True), TENANT, time.time_ns())[0]


async def started(bus: Bus) -> GraphEngineService:
    engine = GraphEngineService(bus)
    await engine.start()
    await engine.follower.caught_up.wait()
    return engine


async def test_a_restarted_engine_runs_each_command_once(bus: Bus) -> None:
    front_door = as_writer(bus, "front_door")
    # Arrange: a graph submitted and cancelled through commands, run by a first engine.
    first = await started(bus)
    await front_door.publish(submit_graph("g_once"))
    await front_door.publish(CancelGraph(event_id="cmd-cancel-once", ts_ns=time.time_ns(), tenant=TENANT,
                                         graph_id="g_once"))
    await first.follower.wait_until(lambda: first.graphs.get("g_once") is not None and first.graphs["g_once"].terminal)
    await first.outbox.drain()
    await first.stop()
    subject = graph_subject(TENANT, "g_once")
    written = await bus.last_subject_seq(subject)
    # A command acked while no engine runs.
    await front_door.publish(submit_graph("g_while_down"))
    # Act: a new engine replays the log.
    second = await started(bus)
    await second.follower.wait_until(lambda: "g_while_down" in second.graphs, timeout=10)
    await second.follower.wait_caught_up()
    await second.outbox.drain()
    await second.stop()
    # Assert: nothing new for the graph it had run; the other one made once (submit + activation).
    story = [(d.seq, type(d.event).__name__, d.event.event_id[:8], d.event.causation_id and d.event.causation_id[:8]) async for d in bus.replay("LEDGER", subject)]
    assert await bus.last_subject_seq(subject) == written, story
    assert second.graphs["g_once"].status == "CANCELLED"
    assert second.outbox.published == 2 and second.outbox.conflicts == 0
    replayed = [d.event async for d in bus.replay("LEDGER", graph_subject(TENANT, "g_while_down"))]
    assert [type(e).__name__ for e in replayed] == ["GraphSubmitted", "NodeActivated"]
