"""POST /v1/execution/simulate, GET /v1/fair_price, GET /v1/polymarket/rewards on hand-built books
published onto a real nats-server (exact answers), and GET /v1/analytics/* after real sandbox
orders on the whole stack (`cluster`), checked against /v1/fills and /v1/tca."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from events import new_event_id
from events.market import BookSnapshot, VenueStatusChanged
from services.api.auth import AuthContext
from services.api.routers.stream import Session
from services.api.state import ApiState
from services.bus import Bus
from services.edges.polymarket.sim import CONDITION_ID, NO_TOKEN, YES_TOKEN
from services.edges.sim.server import SimServer
from services.settings import Settings
from tests.services.conftest import api_in_process

PX, QTY = 10**9, 10**8
# BTC-USDT on two venues, BTC-USD on a third (a dollar quote too), ETH-USDT alone.
BTC_BOOKS = {
    ("okx", "BTC-USDT"): ([(97_000 * PX, 50_000_000)], [(97_000 * PX + 200_000_000, 30_000_000)]),
    ("binance", "BTC-USDT"): ([(97_000 * PX - 50_000_000, 20_000_000)], [(97_000 * PX + 100_000_000, 40_000_000)]),
    ("coinbase", "BTC-USD"): ([(96_990 * PX, 10_000_000)], [(97_010 * PX, 10_000_000)]),
}
YES_BID, YES_ASK = 610_000_000, 630_000_000  # 0.61 / 0.63: a 2-cent spread


@pytest.fixture
async def reads(bus: Bus, settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ApiState]]:
    events = [VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue=v, state="connected")
              for v in ("okx", "binance", "coinbase", "polymarket")]
    books = {**BTC_BOOKS, ("polymarket", YES_TOKEN): ([(YES_BID, 500 * QTY)], [(YES_ASK, 400 * QTY)])}
    events += [BookSnapshot(event_id=new_event_id(), ts_ns=1, venue=v, symbol=s, bids=b, asks=a, ts_recv_ns=5)
               for (v, s), (b, a) in books.items()]
    await bus.publish_many(events)
    async with api_in_process(settings) as both:
        yield both


async def test_simulate_schedules_by_urgency_and_plans_each_slice(reads: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = reads
    body = {"symbol": "BTC-USDT", "side": "buy", "qty": 0.5}
    high = (await client.post("/v1/execution/simulate", json={**body, "urgency": "high"})).json()
    routing = (await client.get("/v1/intelligence/routing", params={"symbol": "BTC-USDT", "side": "buy", "qty": "0.5"})).json()
    assert (high["policy"], high["horizon_ms"], len(high["slices"])) == ("sor", 0, 1)
    assert high["slices"][0]["legs"] == routing["legs"]  # the real planner, as /intelligence/routing
    assert high["est_cost_bps"] == pytest.approx(routing["est_cost_bps"])
    assert high["filled_qty_1e8"] == 50_000_000 and high["unfilled_qty_1e8"] == 0
    # 0.4 at 97000.1 and 0.1 at 97000.2
    assert high["est_avg_price_1e9"] == (40_000_000 * (97_000 * PX + 100_000_000) + 10_000_000 * (97_000 * PX + 200_000_000)) // 50_000_000

    low = (await client.post("/v1/execution/simulate", json={**body, "urgency": "low"})).json()
    assert (low["policy"], low["horizon_ms"], len(low["slices"])) == ("twap", 60_000, 12)
    assert [s["offset_ms"] for s in low["slices"]] == list(range(0, 60_000, 5_000))
    assert sum(s["qty_1e8"] for s in low["slices"]) == 50_000_000
    assert all(leg["venue"] == "binance" for s in low["slices"] for leg in s["legs"])  # each fits the best level
    assert low["est_cost_bps"] < high["est_cost_bps"]

    thin = (await client.post("/v1/execution/simulate", json={**body, "qty": 5, "urgency": "high"})).json()
    assert thin["filled_qty_1e8"] == 70_000_000 and thin["unfilled_qty_1e8"] == 430_000_000  # all the depth there is
    assert (await client.post("/v1/execution/simulate", json={**body, "symbol": "NOPE-USDT"})).status_code == 404
    assert (await client.post("/v1/execution/simulate", json={**body, "qty": "-1"})).status_code == 422


async def test_fair_price_is_the_impact_mid_over_every_dollar_book(reads: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = reads
    r = await client.get("/v1/fair_price/btc")
    assert r.status_code == 200, r.text
    row = r.json()
    # Thinner side: 0.8 BTC of asks (0.8 of bids too) < $100k worth: the whole depth is the size.
    asks = sorted(lv for (_, _), (_, a) in BTC_BOOKS.items() for lv in a)
    bids = sorted((lv for (_, _), (b, _) in BTC_BOOKS.items() for lv in b), reverse=True)
    size = 80_000_000
    assert row["reference_qty_1e8"] == size
    assert row["buy_vwap_1e9"] == sum(p * q for p, q in asks) // size
    assert row["sell_vwap_1e9"] == sum(p * q for p, q in bids) // size
    assert row["fair_price_1e9"] == (row["buy_vwap_1e9"] + row["sell_vwap_1e9"]) // 2
    assert row["venues_used"] == ["binance", "coinbase", "okx"] and row["symbols_used"] == ["BTC-USD", "BTC-USDT"]
    listed = (await client.get("/v1/fair_price")).json()["fair_prices"]
    assert [p["underlying"] for p in listed] == ["BTC"] and listed[0] == row  # no prediction tokens, no ETH book
    assert (await client.get("/v1/fair_price", params={"underlying": "ETH"})).json() == {"fair_prices": []}
    assert (await client.get("/v1/fair_price/ETH")).status_code == 404


async def test_polymarket_rewards_with_the_live_spread(reads: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = reads
    rows = {r["token_id"]: r for r in (await client.get("/v1/polymarket/rewards")).json()}
    assert set(rows) == {YES_TOKEN, NO_TOKEN}
    yes = rows[YES_TOKEN]
    assert yes["condition_id"] == CONDITION_ID and yes["rewards_max_spread"] == 3.5 and yes["rewards_min_size"] == 100
    assert yes["current_spread"] == 2.0 and yes["in_band"] is True  # 0.63 - 0.61, in cents
    assert rows[NO_TOKEN]["current_spread"] is None  # no NO book published
    one = await client.get(f"/v1/polymarket/rewards/{YES_TOKEN}")
    assert one.status_code == 200 and one.json() == yes
    assert (await client.get("/v1/polymarket/rewards/123")).status_code == 404


async def test_analytics_by_venue_hour_and_asset_add_up_to_the_fills(
    cluster: tuple[httpx.AsyncClient, list[SimServer], ApiState],
) -> None:
    client, _, api = cluster
    graphs = []
    for side, qty in (("buy", 0.3), ("sell", 0.2)):
        r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": side, "qty": qty})
        assert r.status_code == 200, r.text
        graphs.append(r.json()["graph_id"])
    await api.ledger_follower.wait_until(
        lambda: sum(1 for r in api.ledger.tca.values() if r.graph_id in graphs) == 2, timeout=20)
    fills = (await client.get("/v1/fills", params={"limit": 500})).json()["fills"]
    total = sum(f["price_1e9"] * f["qty_1e8"] // QTY for f in fills)
    assert fills and total > 0

    venues = (await client.get("/v1/analytics/venues")).json()
    assert venues["total_notional_usd_1e9"] == total
    assert sum(v["notional_usd_1e9"] for v in venues["venues"]) == total
    assert sum(v["fill_count"] for v in venues["venues"]) == len(fills)
    for row in venues["venues"]:
        own = [f for f in fills if f["venue"] == row["venue"]]
        assert row["fees_usd_1e9"] == sum(f["fee_usd_1e9"] for f in own)
        assert row["buy_qty_1e8"] == sum(f["qty_1e8"] for f in own if f["side"] == "buy")
        assert row["avg_implementation_shortfall_bps"] is not None

    hours = (await client.get("/v1/analytics/time_of_day")).json()["hours"]
    assert [h["hour_utc"] for h in hours] == list(range(24))
    busy = [h for h in hours if h["fill_count"]]
    assert sum(h["notional_usd_1e9"] for h in busy) == total and sum(h["order_count"] for h in busy) >= 2

    tca = (await client.get("/v1/tca", params={"symbol": "BTC-USDT"})).json()
    [btc] = (await client.get("/v1/analytics/assets")).json()["assets"]
    assert (btc["asset"], btc["symbols"], btc["order_count"]) == ("BTC", ["BTC-USDT"], 2)
    assert btc["buy_qty_1e8"] == 30_000_000 and btc["sell_qty_1e8"] == 20_000_000
    assert btc["share_of_notional_bps"] == 10_000
    assert btc["avg_implementation_shortfall_bps"] == pytest.approx(tca["weighted"]["implementation_shortfall_bps"])


async def test_fair_price_channel_on_the_stream(reads: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, api = reads
    session = Session(api, AuthContext(tenant="default", key_id="k", is_sandbox=True, is_admin=False), plans=api.plans)
    wanted = ["fair_price", "fair_price:BTC", "fair_price:DOGE"]
    assert session.subscribe(wanted) == {"subscribed": wanted[:2], "rejected": wanted[2:]}
    expected = (await client.get("/v1/fair_price/BTC")).json()
    assert session.frames() == [{"channel": "fair_price", "data": expected},
                                {"channel": "fair_price:BTC", "data": expected}]
    assert all(session.frames() == [] for _ in range(12))  # unchanged books: nothing more
