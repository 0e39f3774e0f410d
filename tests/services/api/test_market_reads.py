"""The API read path over the market projection: quotes, edges, venues per symbol, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from events import new_event_id
from events.market import BookSnapshot, VenueStatusChanged
from services.api.app import create_app
from services.api.keys import create_key
from services.bus import Bus
from services.settings import Settings

BTC = 97_000_000_000_000


def snap(venue: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(
        event_id=new_event_id(), ts_ns=1, venue=venue, symbol="BTC-USDT", bids=bids, asks=asks, ts_recv_ns=1
    )


@pytest.fixture
async def client(bus: Bus, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await bus.publish_many(
        [
            VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="okx", state="connected"),
            VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="binance", state="connected"),
            snap("okx", [(BTC, 50_000_000), (BTC - 100_000_000, 10_000_000)], [(BTC + 200_000_000, 30_000_000)]),
            snap("binance", [(BTC - 50_000_000, 20_000_000)], [(BTC + 100_000_000, 40_000_000)]),
        ]
    )
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            yield c


async def test_quote_has_the_contract_shape_and_exact_values(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/quotes/BTC-USDT", params={"depth": 2})
    assert r.status_code == 200
    q = r.json()
    assert q["symbol"] == "BTC-USDT" and q["source"] == "edge_nbbo"
    assert q["nbbo"]["bid"] == 97_000.0 and q["nbbo"]["ask"] == 97_000.1
    assert q["nbbo"]["mid"] == 97_000.05
    assert q["nbbo"]["spread_bps"] == pytest.approx(0.1 / 97_000.05 * 10_000)
    assert q["venues"]["okx"]["bid_size"] == 0.5 and q["venues"]["binance"]["ask"] == 97_000.1
    assert q["book"]["bids"] == [[97_000.0, 0.5], [96_999.95, 0.2]]
    assert q["book"]["asks"] == [[97_000.1, 0.4], [97_000.2, 0.3]]
    assert q["book"]["venues"] == {"bids": ["okx", "binance"], "asks": ["binance", "okx"]}


async def test_unknown_symbol_and_bad_depth_use_the_error_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/quotes/NOPE-USD", headers={"X-Request-Id": "req-123"})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "NOT_FOUND" and "NOPE-USD" in err["message"] and err["request_id"] == "req-123"
    r = await client.get("/v1/quotes/BTC-USDT", params={"depth": 0})
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["field"] == "query.depth"


async def test_edges_and_pair_venues(client: httpx.AsyncClient) -> None:
    edges = {e["venue"]: e for e in (await client.get("/v1/edges")).json()["edges"]}
    assert edges["okx"]["status"] == "connected" and edges["okx"]["subscribed_symbols"] == ["BTC-USDT"]
    assert edges["okx"]["edge_id"] == "venue-edge-okx"
    venues = (await client.get("/v1/pairs/BTC-USDT/venues")).json()["venues"]
    assert [v["venue"] for v in venues] == ["binance", "okx"]
    assert all(v["status"] == "live" for v in venues)
    assert (await client.get("/v1/health/live")).json() == {"status": "ok"}
