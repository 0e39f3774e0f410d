"""Audit on a real order: `audit order` prints its whole causal chain from the ledger, and the
projection audit names a row corrupted in the live orders view down to the field."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec
from typer.testing import CliRunner

from events import decode, new_event_id
from events.commands import SubmitGraph
from events.execution import FillRecorded
from events.graph import GraphCompleted, GraphSubmitted, NodeActivated, NodeCompleted
from events.risk import RiskCheckPassed
from events.routing import ChildAllocated, PlanMade
from events.tca import TcaReported
from projections.orders import NAME, OrdersProjection
from projections.runner import ProjectionRunner
from projections.store import SqliteViewStore
from replay.audit import audit, differences, order_chain
from services.graph.commands import submit_command
from services.bus import Bus
from services.cli.main import app as cli
from services.edges.sandbox.service import funding_events
from services.graph import parse_order_body
from services.settings import Settings
from tests.stack import trading_stack

VENUES = ["okx", "binance"]


async def wait_for_tca(bus: Bus, tenant: str, graph_id: str, timeout: float = 60.0) -> None:
    """Wait for the order's TCA report, its last event (a live subscription, no polling)."""
    sub = await bus.js.subscribe(f"tca.{tenant}.{graph_id}", ordered_consumer=True)
    try:
        async with asyncio.timeout(timeout):
            async for msg in sub.messages:
                if isinstance(decode(msg.data), TcaReported):
                    return
    finally:
        await sub.unsubscribe()


async def place_order(bus: Bus, tenant: str, qty: float) -> str:
    await bus.publish_many(funding_events(tenant, VENUES, time.time_ns()))
    parsed = parse_order_body({"symbol": "BTC-USDT", "side": "buy", "qty": qty}, new_event_id, force_sandbox=True)
    command, _ = submit_command(parsed, tenant, time.time_ns())
    await bus.publish(command)
    return parsed.graph_id


async def test_audit_order_prints_the_causal_chain_and_audit_names_a_corrupted_field(
    bus: Bus, settings: Settings, tmp_path: Path
) -> None:
    async with trading_stack(bus, VENUES, seed=5):
        graph_id = await place_order(bus, "acme", 0.3)
        await wait_for_tca(bus, "acme", graph_id)

    chain = await order_chain(bus, graph_id)
    assert chain is not None and chain.node_id is None
    types = [type(link.event) for link in chain.links]
    assert types[0] is SubmitGraph and types[1] is GraphSubmitted
    for kind in (NodeActivated, RiskCheckPassed, PlanMade, ChildAllocated, FillRecorded, NodeCompleted, GraphCompleted,
                 TcaReported):
        assert kind in types, kind
    assert [link.seq for link in chain.links] == sorted(link.seq for link in chain.links)
    # Closed under causation: an event's cause, where it names one, is an earlier link.
    position = {link.event.event_id: i for i, link in enumerate(chain.links)}
    caused = [(i, link) for i, link in enumerate(chain.links) if link.event.causation_id]
    assert len(caused) >= len(chain.links) // 2
    for i, link in caused:
        assert position[link.event.causation_id] < i, (link.type, link.event.causation_id)  # type: ignore[index]
    [activated] = [link.event for link in chain.links if isinstance(link.event, NodeActivated)]
    by_order = await order_chain(bus, activated.node_order_id)
    assert by_order is not None and (by_order.graph_id, by_order.node_id) == (graph_id, activated.node_id)
    assert [x.seq for x in by_order.links] == [x.seq for x in chain.links]  # one node: the same chain
    assert await order_chain(bus, "g_nobody") is None

    result = await asyncio.to_thread(  # the CLI runs its own event loop
        CliRunner().invoke, cli, ["audit", "order", activated.node_order_id],
        env={"CROSSBOOK_NATS_URL": settings.nats_url, "CROSSBOOK_DATA_DIR": str(settings.data_dir), "COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"{len(chain.links)} events" in result.output and "ord.graph_submitted.v1" in result.output

    # The live orders view, folded by the real runner, then one fill row corrupted outside the fold.
    live = SqliteViewStore(tmp_path / "live.sqlite")
    runner = ProjectionRunner(bus, live, OrdersProjection())
    await runner.start()
    await runner.wait_caught_up()
    await runner.stop()
    assert (await audit(bus, live, OrdersProjection())).clean
    key, doc = next(iter(live.scan(NAME, "fills", "acme/")))
    corrupted = {**doc, "qty_1e8": doc["qty_1e8"] + 1}
    with live.datastore.transaction(commit=True) as c:
        c.execute("UPDATE view_docs SET doc=? WHERE projection=? AND collection='fills' AND key=?",
                  (msgspec.json.encode(corrupted), NAME, key))
    report = await audit(bus, live, OrdersProjection())
    assert not report.clean and list(report.changed) == [("fills", key)]
    assert differences(report) == [f"orders/fills:{key}: qty_1e8: live {doc['qty_1e8'] + 1}, rebuilt {doc['qty_1e8']}"]
    live.close()
