"""One writer per subject: a mixed session (market and limit orders, an amend, cancels of a node
and of a graph, a TWAP, the kill switch, the sandbox book's settings, set balance and reset, and
restarts of the graph engine and the router) through
the API, then the log itself is checked: every message on the LEDGER stream carries the role that
appended it (`Crossbook-Writer`), and that role is the subject's declared writer
(events/subjects.py WRITERS). An append to a graph subject from anywhere else fails."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
import pytest

from events import decode
from events.commands import COMMANDS
from events.graph import NodeActivated
from events.ids import new_event_id
from events.subjects import WRITER_HEADER, graph_subject, writer_of
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import WrongWriter, as_writer
from services.errors import BrokenChain, ConcurrencyConflict
from services.graph.service import GraphEngineService
from services.kernel.appender import AggregateAppender
from services.runtime import Service
from services.settings import Settings
from services.kernel.jetstream import JetStreamKernel
from services.sor.service import RouterService
from tests.stack import TRADERS, Market, trading_stack

SYMBOL = "BTC-USDT"
FINAL = ("COMPLETED", "FAILED", "REJECTED", "CANCELLED")


def order(qty_1e8: int, *, side: str = "buy", price_1e9: int | None = None, **execution: Any) -> dict[str, Any]:
    return {"nodes": [{
        "node_id": "order", "instrument": {"symbol": SYMBOL, "type": "spot"}, "side": side,
        "order_type": {"limit": {"price_1e9": price_1e9}} if price_1e9 else "market",
        "quantity": {"fixed": {"qty_1e8": qty_1e8}}, "execution": execution,
    }], "edges": []}


async def replace_part(market: Market, bus: Bus, kind: type) -> None:
    """Stop the trader part of type `kind` and start a new one in its place (a restart: the new
    one rebuilds its state from the log)."""
    index = next(i for i, p in enumerate(market.parts) if isinstance(p, kind))
    await market.parts[index].stop()
    fresh: Service = kind(bus)
    await fresh.start()
    market.parts[index] = fresh


async def ledger_messages(bus: Bus) -> list[tuple[int, str, str | None, Any]]:
    """Every LEDGER message: (sequence, subject, the writer header, the event)."""
    info = await bus.js.stream_info("LEDGER")
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await bus.js.get_msg("LEDGER", seq)
        out.append((seq, msg.subject, (msg.headers or {}).get(WRITER_HEADER), decode(msg.data)))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("trader", TRADERS)
async def test_a_mixed_session_leaves_every_subject_written_only_by_its_declared_writer(
    bus: Bus, settings: Settings, trader: str
) -> None:
    async with trading_stack(bus, ["binance", "okx"], seed=7, trader=trader) as market:
        from services.api.app import create_app

        key = create_key(settings, "acme", sandbox=True, admin=True, now_ns=time.time_ns()).secret
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            api: ApiState = app.state.api
            await api.md_follower.wait_until(lambda: api.market.nbbo(SYMBOL) is not None, timeout=20)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                         headers={"Authorization": f"Bearer {key}"}) as client:

                async def post(body: dict[str, Any]) -> str:
                    r = await client.post("/v1/orders", json=body)
                    assert r.status_code == 200, r.text
                    return str(r.json()["graph_id"])

                async def final(graph_id: str) -> str:
                    await api.ledger_follower.wait_until(
                        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.status in FINAL, timeout=30
                    )
                    return api.ledger.graphs[graph_id].status

                nbbo = api.market.nbbo(SYMBOL)
                assert nbbo is not None
                far_bid = nbbo.bid_px_1e9 * 8 // 10 // 10**9 * 10**9
                # A market order, a resting limit amended then cancelled by node.
                swept = await post(order(1_000_000))
                resting = await post(order(2_000_000, price_1e9=far_bid))
                amended = await client.patch(f"/v1/orders/{resting}:order:1", json={"new_qty_1e8": 3_000_000})
                assert amended.status_code == 200 and amended.json()["qty_1e8"] == 3_000_000, amended.text
                # The graph engine and the router restart (or the kernel); the session goes on.
                if trader == "kernel":  # restored from the log: the resting child rests again
                    await replace_part(market, bus, JetStreamKernel)
                else:
                    await replace_part(market, bus, GraphEngineService)
                    await replace_part(market, bus, RouterService)
                cancelled = await client.delete(f"/v1/orders/{resting}:order:1")
                assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED", cancelled.text
                twap = await post(order(2_000_000, side="sell", policy="twap", horizon_ms=400, num_slices=2))
                # The kill switch refuses new orders until cleared.
                assert (await client.post("/v1/kill_switch", json={"reason": "drill"})).status_code == 200
                refused = await client.post("/v1/orders", json=order(1_000_000))
                assert refused.status_code == 409 and refused.json()["error"]["code"] == "KILL_SWITCH"
                assert (await client.post("/v1/kill_switch/clear")).status_code == 200
                # A second resting order, cancelled as a whole graph.
                second = await post(order(1_000_000, price_1e9=far_bid))
                whole = await client.delete(f"/v1/execution_graphs/{second}")
                assert whole.status_code == 200 and whole.json()["status"] == "CANCELLED", whole.text
                assert await final(swept) == "COMPLETED"
                assert await final(resting) == "FAILED"  # its only node was cancelled
                assert await final(twap) in ("COMPLETED", "FAILED")
                # The sandbox book: settings, a set balance and a reset are commands too.
                settings_set = await client.put("/v1/sandbox/settings", json={"balances": {"USDT": "5000000"}})
                assert settings_set.status_code == 200, settings_set.text
                position = await client.post("/v1/sandbox/positions", json={"venue": "okx", "asset": "ETH", "qty": "3"})
                assert position.status_code == 200 and position.json()["qty_1e8"] == 3 * 10**8, position.text
                reset = await client.post("/v1/sandbox/reset", headers={"X-Request-Id": "drill-reset"})
                assert reset.status_code == 200 and reset.json()["adjusted"], reset.text
            # Act: read back the whole log with the writer of each message.
            await api.ledger_follower.wait_caught_up()
            messages = await ledger_messages(bus)

    # Assert: every message was appended by its subject's declared writer.
    writers: Counter[tuple[str, str | None]] = Counter()
    for seq, subject, writer, event in messages:
        declared = writer_of(subject)
        writers[(subject.split(".")[0], writer)] += 1
        assert writer == declared, f"seq {seq} on {subject} ({type(event).__name__}) written by {writer!r}, not {declared!r}"
    # Every kind of writer took part, and the API wrote commands and nothing of the kernel's.
    assert {w for _, w in writers} >= {"front_door", "graph", "risk", "router", "executor", "tca"}
    commands = [e for _, s, _, e in messages if s.startswith("cmd.")]
    assert {type(c).__name__ for c in commands} >= {
        "SubmitGraph", "AmendNode", "CancelNode", "CancelGraph", "EngageKillSwitch", "ClearKillSwitch",
        "FundSandbox", "ChangeSandboxSettings", "SetSandboxBalance", "ResetSandbox",
    }
    # ... and every exec.* fact, the sandbox book's included, is the executor's.
    assert writers[("exec", "executor")] > 0 and ("exec", "front_door") not in writers
    assert {type(e).__name__ for _, s, _, e in messages if s.startswith("exec.")} >= {
        "BalanceAdjusted", "SandboxSettingsChanged", "SandboxReset", "FillRecorded",
    }
    assert all(isinstance(c, COMMANDS) for c in commands)
    # The refused order left no command and no graph: 4 submits, 4 graphs.
    assert sum(type(c).__name__ == "SubmitGraph" for c in commands) == 4
    assert sum(type(e).__name__ == "GraphSubmitted" for _, _, _, e in messages) == 4


async def test_an_append_to_a_graph_subject_from_anywhere_else_fails_with_a_conflict(bus: Bus) -> None:
    # Arrange: a graph subject the engine has written (here: one event on it).
    tenant, graph_id = "acme", "g_foreign"
    engine_bus = as_writer(bus, "graph")
    first = NodeActivated(event_id=new_event_id(), ts_ns=1, tenant=tenant, graph_id=graph_id, node_id="a",
                          node_order_id=f"{graph_id}:a:1")
    ack = await engine_bus.publish(first, expected_last_subject_seq=0)
    foreign = NodeActivated(event_id=new_event_id(), ts_ns=2, tenant=tenant, graph_id=graph_id, node_id="b",
                            node_order_id=f"{graph_id}:b:1")
    # Act + Assert: any other declared role is refused before anything reaches the log ...
    for role in ("front_door", "router", "risk", "executor", "tca"):
        with pytest.raises(WrongWriter, match=f"conflict on ord.acme.g_foreign: it is written only by 'graph'; '{role}' may not"):
            await as_writer(bus, role).publish(foreign)
        with pytest.raises(WrongWriter):
            await as_writer(bus, role).publish_many([foreign])
    # ... and an append on a stale view of the subject (a second engine) is refused by JetStream.
    with pytest.raises(ConcurrencyConflict, match=f"concurrency conflict on {graph_subject(tenant, graph_id)}"):
        await engine_bus.publish(foreign, expected_last_subject_seq=ack.seq - 1)
    assert await bus.last_subject_seq(graph_subject(tenant, graph_id)) == ack.seq


async def test_a_pipelined_batch_checks_each_subjects_first_append_and_a_second_writer_is_refused(bus: Bus) -> None:
    # Arrange: the engine's appender, and three events for one graph subject and one for another,
    # appended in one round trip (services/kernel/appender.py).
    tenant = "acme"
    engine = AggregateAppender(as_writer(bus, "graph"), "graph")

    def activation(graph_id: str, node_id: str) -> NodeActivated:
        return NodeActivated(event_id=new_event_id(), ts_ns=1, tenant=tenant, graph_id=graph_id, node_id=node_id,
                             node_order_id=f"{graph_id}:{node_id}:1")

    batch = [activation("g_one", "a"), activation("g_one", "b"), activation("g_two", "a"), activation("g_one", "c")]
    # Act
    await engine.append_batch(batch)
    # Assert: all stored in order, and the appender knows each subject's last sequence.
    one, two = graph_subject(tenant, "g_one"), graph_subject(tenant, "g_two")
    last_one = await bus.last_subject_seq(one)
    assert engine.published == 4 and engine.conflicts == 0
    assert engine.last_seq == {one: last_one, two: await bus.last_subject_seq(two)}
    stored = [decode((await bus.js.get_msg("LEDGER", seq)).data).event_id for seq in range(last_one - 3, last_one + 1)]
    assert stored == [e.event_id for e in batch]
    # A second engine whose fold is behind (it saw only the first append) is refused, and so is
    # the rest of its batch on that subject: nothing of it is stored.
    second = AggregateAppender(as_writer(bus, "graph"), "graph")
    second.saw(one, last_one - 3)
    second.saw(two, engine.last_seq[two])
    await second.append_batch([activation("g_one", "x"), activation("g_one", "y"), activation("g_two", "x")])
    assert second.conflicts == 1
    assert await bus.last_subject_seq(one) == last_one
    # ... while its append to the other subject, decided on a current view of that one, is made.
    assert second.published == 1 and await bus.last_subject_seq(two) > engine.last_seq[two]
    # What is stored of a chained batch is a prefix: after a refused append nothing is stored,
    # whatever its subject (here: a plan's children must not outlive a refused risk verdict).
    stale, fresh = activation("g_one", "p"), activation("g_three", "q")
    answers = await as_writer(bus, "graph").publish_chained([stale, fresh], {one: last_one - 1})
    assert isinstance(answers[0], ConcurrencyConflict) and isinstance(answers[1], BrokenChain)
    assert await bus.last_subject_seq(graph_subject(tenant, "g_three")) == 0
    # A handle holding several roles appends each subject as its own role, and refuses a batch
    # with a subject none of its roles owns before anything is sent.
    with pytest.raises(WrongWriter):
        await as_writer(bus, "risk", "router").publish_chained([activation("g_one", "z")], {})
    assert await bus.last_subject_seq(one) == last_one
