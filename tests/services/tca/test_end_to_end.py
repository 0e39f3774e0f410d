"""An order from the API to its TCA report over JetStream, then a rebuild of the report from the log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from events import AnyEvent
from events.execution import FillRecorded
from events.graph import NodeCompleted
from events.tca import TcaReported
from projections.follower import StreamFollower
from services.api.app import create_app
from services.api.keys import create_key
from services.bus import Bus
from services.edges import registry
from services.edges.runtime import EdgeRunner
from services.edges.sandbox.service import SandboxExecutor
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.graph.service import GraphEngineService
from services.settings import Settings
from services.sor.service import RouterService
from services.tca.fold import TcaFold
from services.tca.service import LEDGER_SUBJECTS, TcaService
from tests.stack import EDGE_TIMING, freeze

VENUES = ["binance", "okx", "bybit"]
Cluster = tuple[httpx.AsyncClient, list[SimServer], object, TcaService, list[EdgeRunner]]  # runners[i] streams servers[i]


@pytest.fixture
async def cluster(bus: Bus, settings: Settings) -> AsyncIterator[Cluster]:
    protocols, instruments, adapters = registry.sim_protocols(), registry.sim_instruments(), registry.adapters()
    servers, runners = [], []
    for i, name in enumerate(VENUES):
        inst = [x for x in instruments[name] if x.symbol == "BTC-USDT"]
        server = await SimServer(protocols[name](), inst, tick_ms=50, seed=31 + i).start()
        runner = EdgeRunner(
            adapters[name](VenueEndpoints(server.ws_url, server.rest_url)), ["BTC-USDT"], BusSink(bus),
            timing=EDGE_TIMING,
        )
        await runner.start()
        await runner.wait_until(lambda r: not r.is_stale(r.venue_symbols[0]))
        servers.append(server)
        runners.append(runner)
    tca = TcaService(bus)
    parts = [GraphEngineService(bus), RouterService(bus), SandboxExecutor(bus), tca]
    for part in parts:
        await part.start()
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client, servers, app.state.api, tca, runners
    for part in reversed(parts):
        await part.stop()
    for runner in runners:
        await runner.stop()
    for server in servers:
        await server.stop()


async def restart_publishes_nothing(bus: Bus) -> TcaService:
    """Start a fresh TCA over the log as it stands, let it catch up and release what it held
    back, stop it; assert it published nothing. Returns it for the caller's own checks."""
    again = TcaService(bus)
    await again.start()
    try:
        await again.follower.wait_caught_up()
        assert again._task is not None
        await asyncio.wait_for(asyncio.shield(again._task), 10)  # held events released (or dropped)
        await again.outbox.drain()
        assert again.outbox.published == 0
    finally:
        await again.stop()
    return again


async def read_ledger(bus: Bus, subjects: list[str]) -> list[AnyEvent]:
    """Every event on `subjects` of the LEDGER stream, in log order (a fresh fold of the log)."""
    events: list[AnyEvent] = []
    follower = StreamFollower(bus, "LEDGER", subjects, lambda e, seq: events.append(e))
    await follower.start()
    try:
        await follower.wait_caught_up()
    finally:
        await follower.stop()
    return events


async def test_a_completed_market_buy_gets_one_report_that_a_rebuild_reproduces(
    bus: Bus, settings: Settings, cluster: Cluster
) -> None:
    client, servers, api, tca, runners = cluster
    # Arrange: freeze the markets so the books the router sees are the books the fills hit, and
    # size the order so every venue could fill it alone (the single-venue counterfactual is then
    # for the same quantity).
    await freeze(bus, servers, runners)
    await api.md_follower.wait_caught_up()
    depth = {v: sum(q for _, q in b.top(20)[1]) for (v, s), b in api.market.books.items() if s == "BTC-USDT"}
    qty_1e8 = (min(depth.values()) // 2) // 10_000 * 10_000
    assert qty_1e8 > 0
    # Act
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": qty_1e8 / 1e8})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: any(t.graph_id == graph_id for t in api.ledger.tca.values()), timeout=10
    )
    for server in servers:
        server.resume()
    # Assert: exactly one report on the log, with the fills' VWAP.
    log = await read_ledger(bus, LEDGER_SUBJECTS)
    [report] = [e for e in log if isinstance(e, TcaReported) and e.graph_id == graph_id]
    [done] = [e for e in log if isinstance(e, NodeCompleted) and e.graph_id == graph_id]
    fills = [e for e in log if isinstance(e, FillRecorded) and e.graph_id == graph_id]
    qty = sum(f.qty_1e8 for f in fills)
    gross = sum(f.px_1e9 * f.qty_1e8 for f in fills)
    assert report.filled_qty_1e8 == qty == done.filled_qty_1e8 == qty_1e8
    assert report.achieved_vwap_1e9 == (2 * gross + qty) // (2 * qty) == done.avg_fill_px_1e9
    assert report.fill_count == len(fills)
    assert report.fees_usd_1e9 == sum(f.fee_usd_1e9 for f in fills)
    assert report.benchmark_vwap_1e9 == report.arrival_mid_px_1e9 > 0
    assert sum(v.qty_1e8 for v in report.venue_mix) == qty
    assert [h.hop for h in report.latencies] == ["accept_to_route", "route_to_send", "send_to_ack", "ack_to_fill"]
    assert all(h.ns >= 0 for h in report.latencies)
    # Same snapshot, every venue deep enough: routing never did worse than the best single venue.
    assert report.savings_usd_1e9 is not None and report.savings_usd_1e9 >= 0

    # A rebuild (a fresh fold of the log through the same builder) gives the identical report.
    fold = TcaFold()
    rebuilt = [out for e in log if not isinstance(e, TcaReported) and (out := fold.apply(e)) is not None]
    assert [x for x in rebuilt if x.graph_id == graph_id] == [report]

    # Re-running the service over the same log publishes nothing new.
    await tca.stop()
    again = await restart_publishes_nothing(bus)
    assert again.held == {}
    log = await read_ledger(bus, ["tca.>"])
    assert [e for e in log if isinstance(e, TcaReported) and e.graph_id == graph_id] == [report]

    # The API serves it.
    agg = (await client.get("/v1/tca", params={"symbol": "BTC-USDT"})).json()
    assert agg["symbol"] == "BTC-USDT" and agg["order_count"] == 1
    assert agg["notional_usd_1e9"] == sum(v.notional_usd_1e9 for v in report.venue_mix)
    # The API's bps come from the report's integer ppm (100 ppm = 1 bp), never from its float copy.
    is_bps = report.implementation_shortfall_ppm / 100
    assert abs(is_bps - report.implementation_shortfall_bps) <= 0.005
    # one report: its weighted mean is its own figure, up to the float division's last bit
    assert agg["weighted"]["implementation_shortfall_bps"] == pytest.approx(is_bps, rel=1e-12)
    assert agg["percentiles"]["is_bps"] == {p: is_bps for p in ("p50", "p75", "p95", "p99")}
    [row] = agg["reports"]
    assert row["achieved_vwap_1e9"] == report.achieved_vwap_1e9 and row["benchmark_vwap_1e9"] == report.benchmark_vwap_1e9
    assert row["node_order_id"] == report.node_order_id and row["completed_ns"] == done.ts_ns
    assert (await client.get("/v1/tca", params={"symbol": "ETH-USDT"})).json()["order_count"] == 0
    review = (await client.get(f"/v1/execution/review/{graph_id}")).json()
    assert review["graph_id"] == graph_id and review["graph"]["status"] == "COMPLETED"
    assert [x["report_id"] for x in review["reports"]] == [report.event_id]
    missing = await client.get("/v1/execution/review/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
    # Another tenant sees none of it.
    other = {"Authorization": f"Bearer {create_key(settings, 'other', sandbox=True, now_ns=1).secret}"}
    assert (await client.get("/v1/tca", headers=other)).json()["order_count"] == 0
    assert (await client.get(f"/v1/execution/review/{graph_id}", headers=other)).status_code == 404
