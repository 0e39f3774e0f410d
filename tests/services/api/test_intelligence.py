"""Execution intelligence and the remaining reads (api_contract.md §4.2/§4.3, issues 5 and 6).

Exact answers come from books published by hand onto a real nats-server (as in
test_market_reads); the order-driven reads run on the whole stack (`cluster`: sims, edges and
trader parts, the API in-process) and, through the published SDK and its WebSocket, on `stack`."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import websockets
from sequence_markets import SequenceError

from events import new_event_id
from events.market import BookSnapshot, TradePrinted, VenueStatusChanged
from services.api.app import create_app
from services.api.access import AuthContext
from services.api.keys import create_key
from services.api.plans import RoutingPlans
from services.api.routers.stream import Session
from services.api.state import ApiState
from services.bus import Bus
from services.edges.sim.server import SimServer
from services.risk import RiskLimits
from services.settings import Settings
from tests.services.conftest import Stack
from tests.stack import kernel

PX = 10**9
QTY = 10**8
BID_OKX, ASK_OKX = 97_000 * PX, 97_000 * PX + 200_000_000  # 97000.0 x 0.5 / 97000.2 x 0.3
BID_BIN, ASK_BIN = 97_000 * PX - 50_000_000, 97_000 * PX + 100_000_000  # 96999.95 x 0.2 / 97000.1 x 0.4
MID = (BID_OKX + ASK_BIN) // 2  # 97000.05
FEE_AND_LATENCY_PPM = 1_000 + 100  # 0.10% taker on both venues + 5 ppm/ms x 20 ms router latency

Cluster = tuple[httpx.AsyncClient, list[SimServer], ApiState]


def _snap(venue: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(event_id=new_event_id(), ts_ns=1, venue=venue, symbol="BTC-USDT", bids=bids, asks=asks,
                        ts_recv_ns=5)


@pytest.fixture
async def books(bus: Bus, settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ApiState]]:
    """Two hand-built BTC-USDT books; no order can trade (no sims, no executors)."""
    await bus.publish_many([
        VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="okx", state="connected"),
        VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="binance", state="connected"),
        _snap("okx", [(BID_OKX, 50_000_000)], [(ASK_OKX, 30_000_000)]),
        _snap("binance", [(BID_BIN, 20_000_000)], [(ASK_BIN, 40_000_000)]),
    ])
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with kernel(bus), app.router.lifespan_context(app):  # the kernel runs the kill switch commands
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            yield client, app.state.api


def _cost_usd_1e9(px_1e9: int, qty_1e8: int) -> int:
    # A buy's all-in cost: price (up) + fee and latency penalty (each rounded up on its own).
    gross = px_1e9 * qty_1e8
    return -(-gross // QTY) + -(-gross * 1_000 // 10**14) + -(-gross * 100 // 10**14)


async def test_routing_splits_over_both_books_with_exact_legs_and_cost(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = books
    r = await client.get("/v1/intelligence/routing", params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.5"})
    assert r.status_code == 200, r.text
    body = r.json()
    # Same fee + latency on both venues: binance's cheaper 0.4 first, the rest from okx.
    assert body["legs"] == [
        {"venue": "binance", "qty_1e8": 40_000_000, "est_price_1e9": ASK_BIN},
        {"venue": "okx", "qty_1e8": 10_000_000, "est_price_1e9": ASK_OKX},
    ]
    assert body["chosen"] == "split" and body["unroutable_qty_1e8"] == 0 and body["mid_1e9"] == MID
    cost = _cost_usd_1e9(ASK_BIN, 40_000_000) + _cost_usd_1e9(ASK_OKX, 10_000_000)
    base = MID * 50_000_000
    assert body["est_cost_bps"] == (cost * QTY - base) * 10_000 / base
    # Neither venue alone fills 0.5: the best single venue is the one filling most (binance).
    assert body["best_single_venue"] == "binance"

    one = (await client.get("/v1/intelligence/routing", params={"symbol": "BTC-USDT", "side": "sell", "qty": "0.1"})).json()
    assert one["legs"] == [{"venue": "okx", "qty_1e8": 10_000_000, "est_price_1e9": BID_OKX}] and one["chosen"] == "okx"

    for params, field in (({"side": "hold", "qty": "1"}, "side"), ({"side": "buy", "qty": "0"}, "qty"),
                          ({"side": "buy", "qty": "abc"}, "qty"), ({"side": "buy", "qty": "Infinity"}, "qty"),
                          ({"side": "buy", "qty": "1e400"}, "qty"), ({"side": "buy", "qty": "1e999999"}, "qty")):
        bad = await client.get("/v1/intelligence/routing", params={"symbol": "BTC-USDT", **params})
        assert bad.status_code == 422, (params, bad.text)
        assert bad.json()["error"]["details"][0]["field"] == field and field in bad.json()["error"]["message"]
    unknown = await client.get("/v1/intelligence/routing", params={"symbol": "NOPE-USD", "side": "buy", "qty": "1"})
    assert unknown.status_code == 404 and "NOPE-USD" in unknown.json()["error"]["message"]


async def test_slippage_curve_sizes_usd_notionals_at_the_mid(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = books
    r = await client.get("/v1/intelligence/slippage",
                         params={"symbol": "BTC-USDT", "side": "buy", "sizes": "1000,50000,1000000"})
    assert r.status_code == 200, r.text
    small, mid_size, huge = r.json()["curve"]
    # 1000 USD at the mid: 1e12 * 1e8 // MID qty_1e8, taken from binance's top level in 0.00001 lots.
    assert small["notional_usd"] == 1000.0 and small["qty_1e8"] == 10**20 // MID == 1_030_927
    assert small["filled_qty_1e8"] == 1_030_000 and small["unroutable_qty_1e8"] == 927
    assert small["venues_used"] == ["binance"]
    assert small["slippage_bps"] == (ASK_BIN - MID) * 10_000 / MID
    # 50k USD (0.515 BTC) needs both books; 1M USD is more than both show (0.7 BTC): the rest is unroutable.
    assert mid_size["venues_used"] == ["binance", "okx"] and mid_size["slippage_bps"] > small["slippage_bps"]
    assert huge["filled_qty_1e8"] == 70_000_000 and huge["unroutable_qty_1e8"] == huge["qty_1e8"] - 70_000_000
    default = (await client.get("/v1/intelligence/slippage", params={"symbol": "BTC-USDT", "side": "sell"})).json()
    assert [p["notional_usd"] for p in default["curve"]] == [1000.0, 10000.0, 100000.0, 1000000.0]
    for sizes in ("10,-5", "abc", "1e999999", "NaN", "1e-12", ",", ",".join(["1"] * 33)):
        bad = await client.get("/v1/intelligence/slippage", params={"symbol": "BTC-USDT", "side": "buy", "sizes": sizes})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "sizes", sizes


async def test_depth_venues_and_fees_on_hand_built_books(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, api = books
    depth = (await client.get("/v1/intelligence/depth", params={"symbol": "BTC-USDT"})).json()
    assert depth == {
        "symbol": "BTC-USDT",
        "bids": [[97_000.0, 0.5, "okx"], [96_999.95, 0.2, "binance"]],
        "asks": [[97_000.1, 0.4, "binance"], [97_000.2, 0.3, "okx"]],
        "ts_ns": 5,
    }

    venues = (await client.get("/v1/intelligence/venues", params={"symbol": "BTC-USDT"})).json()
    # No trade has printed: shares of displayed depth (okx shows 0.8 BTC, binance 0.6).
    assert venues["share_basis"] == "depth"
    rows = {v["venue"]: v for v in venues["venues"]}
    assert rows["okx"]["market_share_bps"] + rows["binance"]["market_share_bps"] == 10_000
    okx_depth = BID_OKX * 50_000_000 + ASK_OKX * 30_000_000
    bin_depth = BID_BIN * 20_000_000 + ASK_BIN * 40_000_000
    assert abs(rows["okx"]["market_share_bps"] - okx_depth * 10_000 / (okx_depth + bin_depth)) < 1
    assert rows["okx"]["spread_bps"] == (ASK_OKX - BID_OKX) * 10_000 / ((ASK_OKX + BID_OKX) // 2)
    assert rows["okx"]["toxicity"] is None and rows["okx"]["quote_to_trade"] is None  # unknown, not invented
    trade = TradePrinted(event_id=new_event_id(), ts_ns=1, venue="binance", symbol="BTC-USDT", px_1e9=ASK_BIN,
                         qty_1e8=1_000_000, aggressor="buy")
    ack = await api.bus.publish(trade)
    await api.md_follower.wait_for(ack.seq)
    traded = (await client.get("/v1/intelligence/venues", params={"symbol": "BTC-USDT"})).json()
    assert traded["share_basis"] == "trades"
    assert {v["venue"]: v["market_share_bps"] for v in traded["venues"]} == {"binance": 10_000, "okx": 0}
    assert {v["venue"]: v["trade_count"] for v in traded["venues"]} == {"binance": 1, "okx": 0}

    fees = (await client.get("/v1/fees", params={"ticker": "BTC-USDT"})).json()
    assert fees == {"ticker": "BTC-USDT", "fees": [
        {"venue": "binance", "maker_bps": 10, "taker_bps": 10, "maker_ppm": 1_000, "taker_ppm": 1_000},
        {"venue": "okx", "maker_bps": 8, "taker_bps": 10, "maker_ppm": 800, "taker_ppm": 1_000},
    ]}
    # The SDK sends venues=a%2Cb; a venue not listing the ticker is "do not route" (null).
    some = (await client.get("/v1/fees?ticker=BTC-USDT&venues=okx%2Ckraken")).json()["fees"]
    assert some == [{"venue": "kraken", "maker_bps": None, "taker_bps": None, "maker_ppm": None, "taker_ppm": None},
                    {"venue": "okx", "maker_bps": 8, "taker_bps": 10, "maker_ppm": 800, "taker_ppm": 1_000}]
    missing = await client.get("/v1/fees", params={"ticker": "NOPE-USD"})
    assert missing.status_code == 404 and "NOPE-USD" in missing.json()["error"]["message"]
    for path in ("/v1/intelligence/depth", "/v1/intelligence/venues"):
        assert (await client.get(path, params={"symbol": "NOPE-USD"})).status_code == 404
    for path in ("/v1/intelligence/depth?symbol=BTC-USDT", "/v1/fees?ticker=BTC-USDT", "/v1/execution/summary",
                 "/v1/risk_limits", "/v1/portfolio/summary", "/v1/quotes?symbols=BTC-USDT"):
        keyless = await client.get(path, headers={"Authorization": ""})
        assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "UNAUTHORIZED", path


async def test_forecast_from_the_book_alone(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = books
    r = await client.get("/v1/execution/forecast", params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.5"})
    assert r.status_code == 200, r.text
    f = r.json()
    routing = (await client.get("/v1/intelligence/routing", params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.5"})).json()
    assert f["mid_1e9"] == MID and f["expected_cost_bps"] == routing["est_cost_bps"]
    # No TCA report yet: the downside is the same order with half the displayed depth gone.
    assert f["p90_basis"] == "book_half_depth" and f["p90_cost_bps"] >= f["expected_cost_bps"]
    assert [(v["rank"], v["venue"], v["fillable_qty_1e8"]) for v in f["venue_ranking"]] == [
        (1, "binance", 40_000_000), (2, "okx", 30_000_000)]
    assert [p["qty_1e8"] for p in f["capacity_curve"]] == [12_500_000, 25_000_000, 50_000_000, 100_000_000, 200_000_000]
    assert f["capacity_curve"][-1]["filled_qty_1e8"] == 70_000_000  # all the depth there is
    by_urgency = {u["urgency"]: u for u in f["urgency_tradeoff"]}
    # high (and medium without a horizon): the order's one immediate sweep
    for urgency in ("high", "medium"):
        assert by_urgency[urgency]["est_cost_bps"] == f["expected_cost_bps"]
        assert (by_urgency[urgency]["slices"], by_urgency[urgency]["horizon_ms"]) == (1, 0)
    # low: twelve slices over a minute, each fitting binance's best level: price + fee + latency only.
    top_of_book_bps = ((ASK_BIN - MID) * 10**6 + ASK_BIN * FEE_AND_LATENCY_PPM) / MID / 100
    low = by_urgency["low"]
    assert (low["slices"], low["horizon_ms"], low["policy"]) == (12, 60_000, "twap")
    assert low["est_cost_bps"] == pytest.approx(top_of_book_bps, abs=1e-6)
    assert low["savings_vs_immediate_bps"] > 0 and low["est_cost_bps"] < by_urgency["high"]["est_cost_bps"]
    # With the order's horizon, medium slices over half of it (3 slices at least).
    r = await client.get("/v1/execution/forecast",
                         params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.5", "horizon_ms": 8000})
    medium = {u["urgency"]: u for u in r.json()["urgency_tradeoff"]}["medium"]
    assert (medium["slices"], medium["horizon_ms"]) == (3, 4000)
    assert medium["est_cost_bps"] == pytest.approx(top_of_book_bps, abs=1e-6)


async def test_quotes_and_quotes_batch_answer_per_symbol(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = books
    single = (await client.get("/v1/quotes/BTC-USDT")).json()
    r = await client.get("/v1/quotes?symbols=BTC-USDT,NOPE%2FUSD")
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 2
    first = body["quotes"][0]  # the single-quote builder's answer (only `age_ms` moves with the clock)
    assert {k: first[k] for k in ("symbol", "nbbo", "book", "source")} == {k: single[k] for k in ("symbol", "nbbo", "book", "source")}
    assert body["quotes"][1]["symbol"] == "NOPE/USD" and "NOPE/USD" in body["quotes"][1]["error"]
    batch = (await client.post("/v1/quotes_batch", json={"symbols": ["BTC-USDT", "NOPE"], "depth": 1,
                                                          "nowait": True, "concurrency": 64})).json()
    assert batch["count"] == 2 and batch["elapsed_ms"] >= 0
    assert batch["quotes"][0]["book"]["bids"] == [[97_000.0, 0.5]] and "error" in batch["quotes"][1]
    for body, field in (({"symbols": "BTC-USDT"}, "symbols"), ({"symbols": ["BTC-USDT"], "depth": 0}, "depth"),
                        ({"symbols": ["x"] * 2001}, "symbols"), ({}, "symbols"),
                        ({"symbols": [], "concurrency": 999}, "concurrency")):
        bad = await client.post("/v1/quotes_batch", json=body)
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == field


async def test_risk_limits_and_portfolio_summary(books: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, api = books
    limits = (await client.get("/v1/risk_limits")).json()
    defaults = RiskLimits()
    assert limits["max_order_notional_usd_1e9"] == defaults.max_order_notional_usd_1e9
    assert limits["max_position_usd_1e9"] == defaults.max_position_usd_1e9
    assert limits["daily_loss_limit_usd_1e9"] == defaults.daily_loss_limit_usd_1e9
    assert limits["max_order_rate"] == api.limiter.qps and limits["kill_switch"]["engaged"] is False
    assert (await client.post("/v1/kill_switch", json={"reason": "drill"})).status_code == 200
    assert (await client.get("/v1/risk_limits")).json()["kill_switch"]["reason"] == "drill"
    totals = (await client.get("/v1/positions/unified")).json()["totals"]
    assert (await client.get("/v1/portfolio/summary")).json() == totals


async def _order(client: httpx.AsyncClient, api: ApiState, qty: float) -> str:
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": qty})
    assert r.status_code == 200, r.text
    graph_id: str = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal
        and any(t.graph_id == graph_id for t in api.ledger.tca.values()), timeout=20)
    return graph_id


async def test_live_summary_and_forecast_after_real_orders(cluster: Cluster, settings: Settings) -> None:
    client, _, api = cluster
    graph_id = await _order(client, api, 0.02)
    live = (await client.get(f"/v1/execution/live/{graph_id}")).json()
    assert live["status"] == "COMPLETED" and live["graph"]["graph_id"] == graph_id
    assert live["filled_qty_1e8"] == 2_000_000 == sum(f["qty_1e8"] for f in live["fills"])
    assert live["avg_fill_price_1e9"] == live["graph"]["nodes"]["order"]["avg_fill_price_1e9"]  # one VWAP everywhere
    [plan] = live["plans"]
    assert plan["node_order_id"] == f"{graph_id}:order:1" and sum(leg["qty_1e8"] for leg in plan["legs"]) == 2_000_000
    assert {leg["venue"] for leg in plan["legs"]} == {f["venue"] for f in live["fills"]}
    # The SDK passes a node_order_id (`:` percent-encoded).
    by_node = await client.get(f"/v1/execution/live/{graph_id}%3Aorder%3A1")
    assert by_node.status_code == 200 and by_node.json()["node_id"] == "order" and by_node.json()["plans"] == [plan]
    other_key = create_key(settings, "other", sandbox=True, now_ns=time.time_ns()).secret
    foreign = await client.get(f"/v1/execution/live/{graph_id}", headers={"Authorization": f"Bearer {other_key}"})
    assert foreign.status_code == 404 and graph_id in foreign.json()["error"]["message"]
    assert (await client.get("/v1/execution/live/no-such-graph")).status_code == 404
    assert (await client.get(f"/v1/execution/live/{graph_id}%3Anope%3A1")).status_code == 404

    # The WS `routing` channel: a session gets the plans of its own tenant only.
    sessions = {tenant: Session(api, AuthContext(tenant, "k", is_sandbox=True, is_admin=False), plans=RoutingPlans())
                for tenant in ("default", "other")}
    for session in sessions.values():
        # Resumed from the start of the log: the plans that followed LEDGER sequence 0.
        assert session.subscribe(["routing"], cursor=0) == {"subscribed": ["routing"], "rejected": [], "cursor": 0}
    async for delivered in api.bus.replay("LEDGER", "route.>"):
        for session in sessions.values():
            session.plans.apply(delivered.event, delivered.seq)  # type: ignore[union-attr]
    assert [f["data"] for f in sessions["default"].frames() if f["channel"] == "routing"] == [plan]
    assert [f for f in sessions["other"].frames() if f["channel"] == "routing"] == []

    second = await _order(client, api, 0.01)
    summary = (await client.get("/v1/execution/summary")).json()
    fills = [*api.ledger.graph_fills[graph_id], *api.ledger.graph_fills[second]]
    assert summary["order_count"] == 2 and summary["completed_order_count"] == 2
    assert summary["fill_count"] == len(fills)
    assert summary["fees_usd_1e9"] == sum(f.fee_usd_1e9 for f in fills)
    assert summary["notional_usd_1e9"] == sum(v["notional_usd_1e9"] for v in summary["venue_mix"]) > 0
    assert sum(v["share_bps"] for v in summary["venue_mix"]) == 10_000
    assert sum(v["qty_1e8"] for v in summary["venue_mix"]) == 3_000_000
    reports = list(api.ledger.tca.values())
    assert summary["avg_implementation_shortfall_bps"] == pytest.approx(
        sum(r.implementation_shortfall_ppm / 100 * sum(v.notional_usd_1e9 for v in r.venue_mix) for r in reports)
        / sum(sum(v.notional_usd_1e9 for v in r.venue_mix) for r in reports))
    other = (await client.get("/v1/execution/summary", headers={"Authorization": f"Bearer {other_key}"})).json()
    assert other["order_count"] == 0 and other["venue_mix"] == [] and other["avg_implementation_shortfall_bps"] is None

    forecast = (await client.get("/v1/execution/forecast", params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.01"})).json()
    # With reports the downside spreads from realised shortfall: never below the book's estimate.
    assert forecast["p90_basis"] == "tca_reports" and forecast["realised_report_count"] == 2
    assert forecast["p90_cost_bps"] >= forecast["expected_cost_bps"]


async def test_every_sdk_method_of_the_issue_and_the_routing_channel(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    url = stack.base_url.replace("http", "ws", 1) + "/v1/stream"
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {stack.key}"}) as ws:
        await ws.send('{"subscribe": ["routing"]}')
        assert json.loads(await ws.recv()) == {"subscribed": ["routing"], "rejected": []}
        graph_id = (await stack.call(seq.buy, "BTC-USDT", 0.01))["graph_id"]
        async with asyncio.timeout(10):
            frame = json.loads(await ws.recv())  # only plans made after subscribing, ours
    assert frame["channel"] == "routing"
    data = frame["data"]
    assert data["node_order_id"] == f"{graph_id}:order:1" and data["symbol"] == "BTC-USDT"
    assert sum(leg["qty_1e8"] for leg in data["legs"]) == 1_000_000 and data["chosen"]
    assert isinstance(data["est_cost_bps"], float)
    await stack.until_terminal(graph_id)

    intel = await stack.call(seq.intel, "BTC-USDT")
    assert {v["venue"] for v in intel["venues"]} == {"binance", "okx"}
    assert sum(v["market_share_bps"] for v in intel["venues"]) == 10_000
    slippage = await stack.call(seq.slippage, "BTC-USDT", "sell")
    assert [p["notional_usd"] for p in slippage["curve"]] == [1000.0, 10000.0, 100000.0, 1000000.0]
    routing = await stack.call(seq.routing, "BTC-USDT", "buy", 0.01)
    assert sum(leg["qty_1e8"] for leg in routing["legs"]) + routing["unroutable_qty_1e8"] == 1_000_000
    depth = await stack.call(seq.depth, "BTC-USDT")
    assert depth["bids"] and {row[2] for row in depth["bids"]} <= {"binance", "okx"}
    forecast = await stack.call(seq.forecast, "BTC-USDT", "buy", 0.01)
    assert forecast["mid_1e9"] > 0 and forecast["venue_ranking"] and forecast["urgency_tradeoff"]
    summary = await stack.call(seq.execution_summary)
    assert summary["order_count"] == 1 and summary["fill_count"] >= 1
    live = await stack.call(seq.execution_live, f"{graph_id}:order:1")
    assert live["graph_id"] == graph_id and live["filled_qty_1e8"] == 1_000_000 and live["plans"]
    fees = await stack.call(seq.fees, "BTC-USDT", ["binance", "okx"])
    assert [(f["venue"], f["taker_bps"]) for f in fees["fees"]] == [("binance", 10), ("okx", 10)]
    limits = await stack.call(seq.risk_limits)
    assert limits["kill_switch"] == {"engaged": False, "reason": None, "engaged_at_ns": None}
    await api.positions.wait_caught_up()
    for server in stack.servers:  # still books: both reads mark to the same mid
        await server.pause()
    await api.md_follower.wait_caught_up()
    with pytest.warns(DeprecationWarning):
        portfolio = await stack.call(seq.portfolio)
    assert portfolio == (await stack.call(seq.positions_unified))["totals"]
    for server in stack.servers:
        server.resume()
    quotes = await stack.call(seq.quotes, ["BTC-USDT", "ETH/USDT"])
    assert quotes["count"] == 2 and quotes["quotes"][0]["symbol"] == "BTC-USDT" and "error" in quotes["quotes"][1]
    batch = await stack.call(seq.quotes_batch, ["BTC-USDT", "ETH-USDT"], depth=3)
    assert batch["count"] == 2 and all(len(q["book"]["bids"]) <= 3 for q in batch["quotes"] if "error" not in q)
    with pytest.raises(SequenceError) as bad:
        await stack.call(seq.forecast, "BTC-USDT", "hold", 1.0)
    assert bad.value.status == 422 and "side" in bad.value.message

