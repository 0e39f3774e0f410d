"""Bounded state (issue #11 item 5): once a graph has ended and the dedup window has passed (on
the log's clock), it leaves the hot state of every process: the graph engine, the router (and its
risk books), the sandbox executor, TCA and the API (ledger view, plans, trace index). Reads of its
history then come from the durable views and answer as before; a repeated submit is answered
idempotently (the API from the durable view; the engine, handed the command anyway, is refused by
JetStream and keeps no copy); a late fill for it is recorded, not lost, and crashes nothing.

The window is CROSSBOOK_DEDUP_WINDOW_S (the LEDGER stream's dedup window), set short here."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import msgspec
import pytest

from events import new_event_id
from events.commands import SubmitGraph
from events.routing import ChildAllocated
from events.execution import FillRecorded
from events.graph import GraphSubmitted
from events.subjects import graph_subject
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.sandbox.service import SandboxExecutor
from services.graph.service import GraphEngineService
from services.settings import Settings
from services.sor.service import RouterService
from services.tca.service import TcaService
from tests.services.conftest import CLUSTER_VENUES, api_in_process
from tests.stack import Market, trading_stack

WINDOW_S = 2
TWAP = {
    "graph_id": "evict-twap",
    "nodes": [{
        "node_id": "twap",
        "instrument": {"symbol": "BTC-USDT", "type": "spot", "venue": None},
        "side": "buy",
        "order_type": "market",
        "quantity": {"fixed": {"qty_1e8": 300_000}},
        "execution": {"policy": "twap", "horizon_ms": 600, "pacing": {"uniform": {"num_slices": 2, "interval_ms": 300}}},
    }],
    "edges": [],
}


@pytest.fixture
def settings(tmp_path: Any, nats_server: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", nats_url=nats_server.url, ack_wait_s=1.0, require_trader_ready=False,
        dedup_window_s=WINDOW_S, _env_file=None,
    )


@dataclasses.dataclass
class Running:
    client: httpx.AsyncClient
    api: ApiState
    market: Market
    bus: Bus

    def part(self, kind: type) -> Any:
        return next(p for p in self.market.parts if isinstance(p, kind))


@pytest.fixture
async def running(bus: Bus, settings: Settings) -> AsyncIterator[Running]:
    async with trading_stack(bus, CLUSTER_VENUES, seed=53, trader="services") as market, api_in_process(settings) as (
        client, api
    ):
        yield Running(client, api, market, bus)


def mentions(root: Any, ids: set[str], depth: int = 4) -> list[str]:
    """Where in `root` (containers, their keys and values, and objects naming a graph_id) any of
    the graph ids `ids` still appears: a string containing one, or an object whose graph_id is one."""
    found: list[str] = []

    def walk(obj: Any, path: str, left: int) -> None:
        if isinstance(obj, str):
            if any(i in obj for i in ids):
                found.append(path)
            return
        if getattr(obj, "graph_id", None) in ids:
            found.append(path)
            return
        if left == 0:
            return
        items: Iterable[tuple[Any, Any]]
        if isinstance(obj, dict):
            items = obj.items()
        elif isinstance(obj, (list, tuple, set, frozenset)):
            items = ((None, v) for v in obj)
        else:
            return
        for key, value in items:
            if key is not None:
                walk(key, f"{path}[key]", left - 1)
            walk(value, f"{path}[]", left - 1)

    walk(root, "", depth)
    return found


def hot_state(r: Running) -> dict[str, Any]:
    """Every per-graph, per-child and per-fill map of each process, by name."""
    engine, router = r.part(GraphEngineService), r.part(RouterService)
    sandbox, tca = r.part(SandboxExecutor), r.part(TcaService)
    ledger, plans, traces = r.api.ledger, r.api.plans, r.api.traces
    return {
        **{f"engine.{n}": getattr(engine, n) for n in (
            "graphs", "child_graph", "wakeups", "ticked", "from_log", "unconfirmed")},
        "engine.outbox.last_seq": engine.outbox.last_seq,
        **{f"router.{n}": getattr(router, n) for n in (
            "graphs", "states", "child_graph", "activations", "arrivals", "routed", "finished", "plan_ids", "unplaced",
            "failures", "slicing", "unconfirmed")},
        "router.books.graph_sandbox": router.books.graph_sandbox,
        "router.books.fill_keys": [a.fill_keys for a in router.books.accounts.values()],
        "router.books.passed_nodes": [a.passed_nodes for a in router.books.accounts.values()],
        **{f"sandbox.{n}": getattr(sandbox, n) for n in (
            "refs", "allocated", "emitted", "done", "filled", "final", "live", "graph_orders", "cancelled", "icebergs")},
        "sandbox.venues": [[v._orders, v._submitted, v._history] for v in sandbox.venues.values()],
        **{f"tca.{n}": getattr(tca.fold, n) for n in ("nodes", "graph_nodes", "interval_nodes", "graph_reports")},
        "tca.tape.pins": tca.tape.pins,
        **{f"api.ledger.{n}": getattr(ledger, n) for n in (
            "graphs", "tenant_graphs", "working", "changed", "tenant_fills", "graph_fills", "tenant_tca", "graph_tca",
            "tca")},
        "api.ledger.books.graph_sandbox": ledger.books.graph_sandbox,
        "api.plans": [plans.by_graph, plans.by_tenant],
        "api.traces": [traces.graph_seqs, traces.node_seqs],
    }


async def order(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    answer = await client.post("/v1/orders", json=body)
    assert answer.status_code == 200, answer.text
    graph_id: str = answer.json()["graph_id"]
    return graph_id


async def ended(r: Running, graph_ids: Iterable[str], timeout: float = 30.0) -> None:
    wanted = set(graph_ids)
    await r.api.ledger_follower.wait_until(
        lambda: all((g := r.api.ledger.graphs.get(i)) is not None and g.terminal for i in wanted), timeout=timeout)


async def graphs_submitted(bus: Bus, graph_id: str) -> int:
    return len([d async for d in bus.replay("LEDGER", graph_subject("default", graph_id))
                if isinstance(d.event, GraphSubmitted)])


async def history(client: httpx.AsyncClient, graph_id: str) -> dict[str, Any]:
    """What the API answers about a graph's history (wall-clock stamps left out)."""
    node_order_id = f"{graph_id}:{'twap' if graph_id == TWAP['graph_id'] else 'order'}:1"
    reads = {
        "status": f"/v1/execution_graphs/{graph_id}",
        "live": f"/v1/execution/live/{graph_id}",
        "review": f"/v1/execution/review/{graph_id}",
        "traces": f"/v1/traces?node_order_id={node_order_id}",
    }
    out = {}
    for name, url in reads.items():
        answer = await client.get(url)
        assert answer.status_code == 200, (url, answer.text)
        body = answer.json()
        out[name] = {k: v for k, v in body.items() if k != "as_of_ns"} if isinstance(body, dict) else body
    return out


async def test_ended_graphs_leave_every_process_and_their_history_stays_readable(running: Running) -> None:
    r = running
    client, api = r.client, r.api
    await api.ledger_follower.wait_caught_up()
    # Arrange: market orders (client-chosen ids, so a retry can name them), a TWAP, a limit order
    # resting 10% under the bid and cancelled.
    market_ids = [await order(client, {"graph_id": f"evict-{i}", "symbol": "BTC-USDT", "side": "buy" if i % 2 else "sell",
                                       "qty": 0.001}) for i in range(4)]
    twap_id = await order(client, TWAP)
    bid = float((await client.get("/v1/quotes/BTC-USDT")).json()["nbbo"]["bid"])
    resting_id = await order(client, {"graph_id": "evict-rest", "symbol": "BTC-USDT", "side": "buy", "qty": 0.001,
                                      "price": round(bid * 0.9)})
    assert (await client.delete(f"/v1/execution_graphs/{resting_id}")).status_code == 200
    first = [*market_ids, twap_id, resting_id]
    await ended(r, first)
    tca = r.part(TcaService)
    await api.ledger_follower.wait_until(
        lambda: all(any(t.graph_id == g for t in api.ledger.tca.values()) for g in market_ids), timeout=30)
    before = {g: await history(client, g) for g in first}
    fills_before = (await client.get("/v1/fills", params={"limit": 1000})).json()["fills"]
    tca_before = (await client.get("/v1/tca")).json()
    ids = set(first)
    assert mentions(hot_state(r), ids), "the graphs were in hot state before the window passed"

    # Act: keep the log moving (one small order at a time) until every process has evicted them.
    engine, router, sandbox = r.part(GraphEngineService), r.part(RouterService), r.part(SandboxExecutor)
    ticks: list[str] = []
    deadline = time.monotonic() + 60
    while mentions(hot_state(r), ids):
        assert time.monotonic() < deadline, mentions(hot_state(r), ids)
        ticks.append(await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001}))
        await ended(r, ticks[-1:])
        await api.ledger_follower.wait_caught_up()

    # Assert: nothing of them is left in any process; only the recent ticks are.
    assert engine.evicted >= len(first) and router.evicted >= len(first) and sandbox.evicted >= len(first)
    assert tca.fold.evicted >= len(first) and api.ledger.evicted >= len(first)
    assert set(engine.graphs) <= set(ticks) and set(api.ledger.graphs) <= set(ticks)
    assert set(router.states) <= set(ticks) and set(sandbox.graph_orders) <= set(ticks)
    # Reads of their history answer from the durable views, exactly as before.
    assert {g: await history(client, g) for g in first} == before
    assert [f for f in (await client.get("/v1/fills", params={"limit": 1000})).json()["fills"]
            if f["graph_id"] in ids] == fills_before
    assert (await client.get("/v1/tca")).json()["order_count"] >= tca_before["order_count"] >= len(market_ids)
    summary = (await client.get("/v1/execution/summary")).json()
    assert summary["order_count"] == len(first) + len(ticks)

    # A repeated submit of an evicted graph: the API answers it from the durable view...
    again = await client.post("/v1/orders", json={"graph_id": "evict-0", "symbol": "BTC-USDT", "side": "sell",
                                                  "qty": 0.001})
    assert again.status_code == 200 and again.json()["graph_id"] == "evict-0"
    assert again.json()["status"] == before["evict-0"]["status"]["status"]
    clash = await client.post("/v1/orders", json={"graph_id": "evict-0", "symbol": "BTC-USDT", "side": "buy", "qty": 1})
    assert clash.status_code == 409
    # ... and the engine, handed the command anyway (a front door that did not look), is refused by
    # JetStream (the graph's subject is not empty) and keeps no copy of it.
    [command] = [d.event async for d in r.bus.replay("LEDGER", "cmd.default")
                 if isinstance(d.event, SubmitGraph) and d.event.graph_id == "evict-1"]
    await as_writer(r.bus, "front_door").publish(msgspec.structs.replace(command, event_id=new_event_id(),
                                                                         ts_ns=time.time_ns()))
    # The copy is kept until the log could still show it as ours (a window), then dropped.
    deadline = time.monotonic() + 60
    while engine.refused_repeats == 0 or "evict-1" in router.graphs:
        assert time.monotonic() < deadline
        await ended(r, [await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001})])
    assert engine.refused_repeats == 1 and "evict-1" not in engine.graphs and not engine.unconfirmed
    assert [await graphs_submitted(r.bus, g) for g in ("evict-0", "evict-1")] == [1, 1]

    # A late fill for an evicted graph is recorded (the durable views have it), moves no graph
    # back into hot state, and the trader goes on trading.
    some = fills_before[0]
    # A child the ledger knows (a TWAP's child ids carry their slice): facts must make sense.
    children = [d.event async for d in r.bus.replay("LEDGER", "route.>")
                if isinstance(d.event, ChildAllocated) and d.event.graph_id == some["graph_id"]
                and d.event.venue == some["venue"]]
    child = children[0]
    late = FillRecorded(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant="default", fill_id=f"late-{some['fill_id']}",
        child_id=child.child_id, client_order_id="late", graph_id=some["graph_id"],
        node_id=child.node_id, venue=some["venue"], symbol="BTC-USDT", side=some["side"], qty_1e8=1_000, px_1e9=some["price_1e9"],
        fee_usd_1e9=0, liquidity="taker", is_sandbox=True,
    )
    await as_writer(r.bus, "executor").publish(late)
    await api.ledger_follower.wait_caught_up()
    fills_after = (await client.get("/v1/fills", params={"limit": 1000})).json()["fills"]
    assert [f["fill_id"] for f in fills_after].count(late.fill_id) == 1
    next_one = await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001})
    await ended(r, [next_one])
    assert not mentions([engine.graphs, router.states, api.ledger.graphs, sandbox.graph_orders], {some["graph_id"]})


async def test_a_restarted_graph_engine_evicts_while_it_replays(running: Running, bus: Bus) -> None:
    r = running
    client, api = r.client, r.api
    await api.ledger_follower.wait_caught_up()
    done = [await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001}) for _ in range(3)]
    await ended(r, done)
    ticks: list[str] = []
    engine = r.part(GraphEngineService)
    deadline = time.monotonic() + 60
    while set(done) & set(engine.graphs):
        assert time.monotonic() < deadline
        ticks.append(await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001}))
        await ended(r, ticks[-1:])
    # A fresh engine replays the whole log, and on the log's own clock drops the same graphs.
    fresh = GraphEngineService(bus)
    fresh.outbox.put = lambda events: None  # type: ignore[method-assign]  # read-only: it only replays here
    await fresh.follower.start()
    try:
        await fresh.follower.wait_caught_up()
        assert not set(done) & set(fresh.graphs)
        assert set(fresh.graphs) <= set(ticks)
    finally:
        await fresh.follower.stop()
