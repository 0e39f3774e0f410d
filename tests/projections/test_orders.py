"""The orders/fills/graph-status view on both stores: what the API serves, rebuilds, isolation, paging."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from typer.testing import CliRunner

from events import new_event_id
from events.execution import FillRecorded
from events.market import BookSnapshot, VenueStatusChanged
from tests.facts import with_children
from projections.orders import NAME, OrdersProjection
from projections.runner import ProjectionRunner
from projections.store import SqliteViewStore, ViewStore
from replay.audit import audit
from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.cli.main import app as cli
from services.edges.sandbox.service import SandboxBook
from services.graph.service import GraphEngineService
from services.graph import order_rows, parse_order_body, submit, to_status_json
from services.settings import Settings
from tests.services.conftest import CLUSTER_VENUES
from tests.stack import trading_stack


@dataclass
class Api:
    state: ApiState
    acme: httpx.AsyncClient  # tenant acme, seq_test_ key
    acme_live: httpx.AsyncClient  # tenant acme, seq_live_ key: sees both books
    other: httpx.AsyncClient  # tenant other, seq_test_ key


@pytest.fixture
def view_settings(settings: Settings, store_url: str) -> Settings:
    return settings.model_copy(update={"database_url": store_url})


@pytest.fixture
async def api(view_settings: Settings) -> AsyncIterator[Api]:
    app = create_app(view_settings)
    transport = httpx.ASGITransport(app=app)

    def client(tenant: str, sandbox: bool) -> httpx.AsyncClient:
        key = create_key(view_settings, tenant, sandbox=sandbox, now_ns=time.time_ns()).secret
        return httpx.AsyncClient(transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {key}"})

    async with app.router.lifespan_context(app):
        state: ApiState = app.state.api
        await state.md_follower.wait_caught_up()
        async with client("acme", True) as acme, client("acme", False) as acme_live, client("other", True) as other:
            yield Api(state, acme, acme_live, other)


async def test_a_split_market_buy_is_served_from_the_view_and_rebuilds_identically(
    bus: Bus, api: Api, view_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = api.state
    async with trading_stack(bus, CLUSTER_VENUES, seed=31) as market:
        # Arrange: freeze the books so the router's plan is the fills' books.
        for server in market.servers:
            await server.pause()
        await state.md_follower.wait_caught_up()
        depth = {v: sum(q for _, q in b.top(20)[1]) for (v, s), b in state.market.books.items() if s == "BTC-USDT"}
        qty_1e8 = (max(depth.values()) * 3 // 2) // 10_000 * 10_000  # deeper than any venue: a split
        # Act
        r = await api.acme.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": qty_1e8 / 1e8})
        assert r.status_code == 200, r.text
        graph_id = r.json()["graph_id"]
        # Read-your-writes: the submit answered once the API's ledger held the graph, and a read
        # right after waits for the view to fold that far, so it finds the graph.
        assert (await api.acme.get(f"/v1/execution_graphs/{graph_id}")).status_code == 200
        assert state.views.load(NAME, "graphs", f"acme/sandbox/{graph_id}") is not None
        # An audit of the view while it is still folding the order compares at one position.
        while_running = await audit(bus, state.views, OrdersProjection())
        assert while_running.clean, (while_running.missing, while_running.extra, while_running.changed)
        # The TCA report is the order's last event: after it, and with the stack stopped, the log is still.
        await state.ledger_follower.wait_until(lambda: any(t.graph_id == graph_id for t in state.ledger.tca.values()), 30)
    await state.orders.wait_caught_up()

    # Assert: the API answers from the view, and the view is the in-memory fold's exact shape.
    graph = state.ledger.graphs[graph_id]
    status = (await api.acme.get(f"/v1/execution_graphs/{graph_id}")).json()
    assert status == to_status_json(graph) == state.views.load(NAME, "graphs", f"acme/sandbox/{graph_id}")
    assert status["status"] == "COMPLETED"
    node = status["nodes"]["order"]
    assert node["filled_qty_1e8"] == qty_1e8 and node["avg_fill_price_1e9"] > 0
    orders = (await api.acme.get("/v1/orders")).json()
    assert orders["orders"] == order_rows(graph) and orders["total"] == 1
    node_order_id = node["node_order_id"]
    assert (await api.acme.get(f"/v1/orders/{quote(node_order_id, safe='')}")).json() == orders["orders"][0]
    assert (await api.acme.get(f"/v1/orders/{quote('graph:' + node_order_id, safe='')}")).json() == orders["orders"][0]
    fills = (await api.acme.get("/v1/fills", params={"limit": 10_000})).json()
    folded = state.ledger.graph_fills[graph_id]
    assert [f["fill_id"] for f in fills["fills"]] == [f.fill_id for f in reversed(folded)]
    assert len({f["venue"] for f in fills["fills"]}) >= 2  # split across venues
    assert sum(f["qty_1e8"] for f in fills["fills"]) == qty_1e8 == sum(f.qty_1e8 for f in folded)
    assert {f["node_order_id"] for f in fills["fills"]} == {node_order_id}
    assert fills["fills"] == [d for _, d in sorted(state.views.scan(NAME, "fills", "acme/sandbox/"), reverse=True)]

    # A rebuild from the log, by the audit (one big batch) and by a one-event-per-batch runner into
    # a fresh store, gives the live view doc for doc.
    live = state.views.dump(NAME)
    report = await audit(bus, state.views, OrdersProjection())
    assert report.clean, (report.missing, report.extra, report.changed)
    shadow = SqliteViewStore(":memory:")
    slow = ProjectionRunner(bus, shadow, OrdersProjection(), batch=1)
    slow.durable = "test-orders-slow"
    try:
        await slow.start()
        await slow.wait_caught_up()
        assert shadow.dump(NAME) == live
    finally:
        await slow.stop()
        shadow.close()
    await state.orders.rebuild()
    assert state.views.dump(NAME) == live
    assert (await api.acme.get(f"/v1/execution_graphs/{graph_id}")).json() == status
    # `crossbook audit orders` knows the view (services/runtime.py durable_projection).
    for name, value in (("NATS_URL", view_settings.nats_url), ("DATA_DIR", str(view_settings.data_dir)),
                        ("DATABASE_URL", view_settings.database_url)):
        monkeypatch.setenv(f"CROSSBOOK_{name}", value)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["audit", "orders"])
    assert result.exit_code == 0, result.output
    position = state.views.max_position(NAME)
    assert f"live position {position}, rebuilt {position}; missing 0, extra 0, changed 0" in " ".join(result.output.split())


async def publish_books(bus: Bus) -> None:
    await bus.publish_many(
        [VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="binance", state="connected")]
        + [
            BookSnapshot(
                event_id=new_event_id(), ts_ns=1, venue="binance", symbol=symbol,
                bids=[(px, 10_000_000)], asks=[(px + 100_000_000, 10_000_000)], ts_recv_ns=1,
            )
            for symbol, px in (("BTC-USDT", 97_000_000_000_000), ("ETH-USDT", 3_000_000_000_000))
        ]
    )


def fill(tenant: str, node_order_id: str, fill_id: str, symbol: str, *, is_sandbox: bool = True) -> FillRecorded:
    graph_id, node_id, _ = node_order_id.split(":")
    return FillRecorded(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant=tenant, fill_id=fill_id, child_id=f"{node_order_id}:c",
        client_order_id=f"co-{fill_id}", graph_id=graph_id, node_id=node_id, venue="binance", symbol=symbol,
        side="buy", qty_1e8=1_000_000, px_1e9=97_000_000_000_000, fee_usd_1e9=1_000, liquidity="taker",
        is_sandbox=is_sandbox,
    )


@pytest.fixture
async def graph_engine(bus: Bus) -> AsyncIterator[GraphEngineService]:
    """The graph engine (and the executor's sandbox book, which funds a tenant's first order):
    it runs the API's commands; with no router a graph stays as submitted."""
    engine = GraphEngineService(bus)
    book = SandboxBook(as_writer(bus, "executor"))
    await engine.start()
    await book.start()
    yield engine
    await book.stop()
    await engine.stop()


async def test_reads_are_per_tenant_paged_filtered_and_hide_other_books(
    bus: Bus, api: Api, graph_engine: GraphEngineService
) -> None:
    # Arrange: five acme orders (three BTC, two ETH), one for another tenant; only the graph
    # engine runs, so each graph stays as submitted. Then fills, one replayed, one in acme's live book.
    await publish_books(bus)
    await api.state.md_follower.wait_caught_up()
    mine = []
    for symbol in ("BTC-USDT", "ETH-USDT", "BTC-USDT", "ETH-USDT", "BTC-USDT"):
        r = await api.acme.post("/v1/orders", json={"symbol": symbol, "side": "buy", "qty": 0.01})
        assert r.status_code == 200, r.text
        mine.append(r.json()["node_order_ids"]["order"])
    r = await api.other.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.02})
    theirs = r.json()["node_order_ids"]["order"]
    acks = await bus.publish_many(
        with_children([
            fill("acme", mine[0], "f1", "BTC-USDT"),
            fill("acme", mine[1], "f2", "ETH-USDT"),
            fill("acme", mine[0], "f1", "BTC-USDT"),  # the same venue trade again: listed once
            fill("acme", mine[2], "f3", "BTC-USDT", is_sandbox=False),
            fill("other", theirs, "f4", "BTC-USDT"),
        ])
    )
    await api.state.ledger_follower.wait_for(acks[-1].seq)

    # Act
    page1 = (await api.acme.get("/v1/orders", params={"limit": 2})).json()
    page3 = (await api.acme.get("/v1/orders", params={"limit": 2, "offset": 4})).json()
    eth = (await api.acme.get("/v1/orders", params={"symbol": "ETH-USDT"})).json()
    exact = (await api.acme.get("/v1/orders", params={"node_order_id": "graph:" + mine[3]})).json()
    foreign_exact = (await api.acme.get("/v1/orders", params={"node_order_id": theirs})).json()
    fills = (await api.acme.get("/v1/fills")).json()
    live_fills = (await api.acme_live.get("/v1/fills")).json()
    btc_fills = (await api.acme.get("/v1/fills", params={"symbol": "BTC-USDT", "limit": 1})).json()

    # Assert: newest first, paged, filtered; only the caller's own rows.
    assert [o["node_order_id"] for o in page1["orders"]] == [mine[4], mine[3]]
    assert (page1["total"], page1["has_more"], page1["limit"], page1["offset"]) == (5, True, 2, 0)
    assert [o["node_order_id"] for o in page3["orders"]] == [mine[0]] and page3["has_more"] is False
    assert [o["node_order_id"] for o in eth["orders"]] == [mine[3], mine[1]] and eth["total"] == 2
    assert [o["node_order_id"] for o in exact["orders"]] == [mine[3]]
    assert foreign_exact["orders"] == [] and foreign_exact["total"] == 0
    assert [f["fill_id"] for f in fills["fills"]] == ["f2", "f1"]
    assert [f["fill_id"] for f in live_fills["fills"]] == ["f3", "f2", "f1"]  # a live key sees both books
    assert [f["fill_id"] for f in btc_fills["fills"]] == ["f1"] and btc_fills["has_more"] is False
    theirs_graph = theirs.split(":")[0]
    for path in (f"/v1/execution_graphs/{theirs_graph}", f"/v1/orders/{quote(theirs, safe='')}",
                 "/v1/execution_graphs/g_unknown", "/v1/orders/g_unknown%3Aorder%3A1"):
        r = await api.acme.get(path)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", path
    assert (await api.other.get(f"/v1/execution_graphs/{theirs_graph}")).json()["nodes"]["order"]["qty_1e8"] == 2_000_000
    assert [f["fill_id"] for f in (await api.other.get("/v1/fills")).json()["fills"]] == ["f4"]
    malformed = await api.acme.get("/v1/orders/not-an-order")
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "INVALID_PARAMS"
    # The fills' node, and only it, shows them in its status.
    filled = (await api.acme.get(f"/v1/orders/{quote(mine[0], safe='')}")).json()
    assert filled["filled_qty_1e8"] == 1_000_000 and filled["avg_fill_price_1e9"] == 97_000_000_000_000


async def test_an_undecodable_event_is_recorded_and_the_view_folds_on(bus: Bus, store: ViewStore) -> None:
    # Arrange: garbage on a graph subject, then a real graph after it.
    parsed = parse_order_body({"symbol": "BTC-USDT", "side": "sell", "qty": 0.5}, new_event_id, force_sandbox=True)
    graph, events = submit(parsed, tenant="acme", now_ns=time.time_ns(), new_id=new_event_id)
    bad = await bus.js.publish("ord.acme.g_garbage", b"\x00not an event")
    acks = await bus.publish_many(events)
    runner = ProjectionRunner(bus, store, OrdersProjection())
    # Act
    await runner.start()
    try:
        await runner.wait_for(acks[-1].seq)
    finally:
        await runner.stop()
    # Assert
    [(key, doc)] = list(store.scan(NAME, "bad"))
    assert key == f"{bad.seq:020d}" and doc["subject"] == "ord.acme.g_garbage"
    assert store.load(NAME, "graphs", f"acme/sandbox/{graph.graph_id}") == to_status_json(graph)
    assert store.max_position(NAME) == acks[-1].seq
