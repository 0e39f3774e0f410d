"""GET /v1/price_history/{symbol}: trade ticks, bars and NBBO from hand-built events recorded on MD."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from events.market import BookSnapshot, NbboChanged, TradePrinted, VenueBbo
from services.api.app import create_app
from services.api.keys import create_key
from services.api.routers.history import first_seq_stored_from
from services.bus import Bus
from services.settings import Settings

S = 10**9  # ns per second
USD = 10**9
T0 = (time.time_ns() // (60 * S) - 10) * 60 * S  # ten minutes ago, on a whole minute: buckets of 1 s and 60 s align


def trade(ms: int, venue: str, px: int, qty: int, symbol: str = "BTC-USDT") -> TradePrinted:
    return TradePrinted(event_id=f"t-{symbol}-{venue}-{ms}", ts_ns=T0 + ms * 1_000_000, venue=venue, symbol=symbol,
                        px_1e9=px * USD, qty_1e8=qty, aggressor="buy" if qty % 2 else "sell", ts_event_ns=1)


def nbbo(ms: int, bid: int, ask: int, okx: tuple[int, int] = (0, 0)) -> NbboChanged:
    venues = [VenueBbo(venue="okx", bid_px_1e9=okx[0] * USD, bid_qty_1e8=1, ask_px_1e9=okx[1] * USD, ask_qty_1e8=1,
                        ts_recv_ns=0)] if okx != (0, 0) else []
    return NbboChanged(event_id=f"n-{ms}", ts_ns=T0 + ms * 1_000_000, symbol="BTC-USDT", bid_px_1e9=bid * USD,
                       bid_qty_1e8=1, bid_venue="a", ask_px_1e9=ask * USD, ask_qty_1e8=1, ask_venue="b", venues=venues)


@pytest.fixture
async def client(bus: Bus, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await bus.publish_many(
        [
            trade(100, "binance", 100, 1),
            trade(500, "okx", 102, 2),
            trade(700, "okx", 5, 9, symbol="ETH-USDT"),  # another symbol
            trade(1_200, "binance", 101, 3),
            trade(2_300, "okx", 104, 4),
            trade(200, "kraken", 7, 1, symbol="XRP/USD"),
            nbbo(0, 99, 101, okx=(98, 102)),
            nbbo(400, 100, 0),  # one-sided: no mid
            nbbo(900, 100, 103),
            nbbo(1_500, 101, 104, okx=(100, 105)),
            # A venue streams BTC-USDT: an empty window is then empty, not an unknown symbol.
            BookSnapshot(event_id="snap", ts_ns=T0, venue="okx", symbol="BTC-USDT", bids=[(100 * USD, 1)],
                         asks=[(101 * USD, 1)]),
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


WINDOW = {"start_ts": T0 // S, "end_ts": T0 // S + 5}


async def test_tick_mode_lists_every_venues_prints_oldest_first_with_size_side_and_venue(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 0, **WINDOW})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["symbol"] == "BTC-USDT" and body["count"] == 4
    assert body["points"][0] == {"ts_ns": T0 + 100_000_000, "price_1e9": 100 * USD, "qty_1e8": 1, "side": "buy",
                                 "venue_id": "binance"}
    assert [(p["venue_id"], p["price_1e9"] // USD, p["side"]) for p in body["points"]] == [
        ("binance", 100, "buy"), ("okx", 102, "sell"), ("binance", 101, "buy"), ("okx", 104, "sell")]
    okx = (await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 0, "venue": "okx", **WINDOW})).json()
    assert [p["price_1e9"] // USD for p in okx["points"]] == [102, 104]
    last2 = (await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 0, "limit": 2, **WINDOW})).json()
    assert [p["price_1e9"] // USD for p in last2["points"]] == [101, 104]  # the most recent two


async def test_bars_close_each_bucket_that_holds_a_print(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 1, **WINDOW})
    # [0 s, 1 s): 100 then 102 -> 102; [1 s, 2 s): 101; [2 s, 3 s): 104.
    assert r.json()["points"] == [{"ts_ns": T0, "price_1e9": 102 * USD}, {"ts_ns": T0 + S, "price_1e9": 101 * USD},
                                  {"ts_ns": T0 + 2 * S, "price_1e9": 104 * USD}]
    wide = (await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 60, **WINDOW})).json()
    assert [p["price_1e9"] // USD for p in wide["points"]] == [104]


async def test_a_range_counts_back_from_now_and_a_window_in_the_past_is_empty(client: httpx.AsyncClient) -> None:
    hour = (await client.get("/v1/price_history/BTC-USDT", params={"range": "1h", "fidelity_secs": 0})).json()
    assert hour["count"] == 4
    past = (await client.get("/v1/price_history/BTC-USDT",
                             params={"fidelity_secs": 0, "start_ts": T0 // S - 100, "end_ts": T0 // S - 1})).json()
    assert past["points"] == []


async def test_nbbo_source_gives_mid_bid_ask_and_a_venues_own_bbo(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": 0, "source": "nbbo", **WINDOW})
    # The one-sided NBBO at 400 ms has no mid; mids are floored: (100 + 103) // 2 = 101.5 -> 101.5e9 exactly in 1e9.
    assert [(p["ts_ns"] - T0, p["price_1e9"], p["bid_1e9"], p["ask_1e9"]) for p in r.json()["points"]] == [
        (0, 100 * USD, 99 * USD, 101 * USD), (900_000_000, 101_500_000_000, 100 * USD, 103 * USD),
        (1_500_000_000, 102_500_000_000, 101 * USD, 104 * USD)]
    okx = (await client.get("/v1/price_history/BTC-USDT",
                            params={"fidelity_secs": 0, "source": "nbbo", "venue": "okx", **WINDOW})).json()
    assert [(p["bid_1e9"] // USD, p["ask_1e9"] // USD, p["venue_id"]) for p in okx["points"]] == [
        (98, 102, "okx"), (100, 105, "okx")]


async def test_a_percent_encoded_symbol_is_decoded(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/price_history/XRP%2FUSD", params={"fidelity_secs": 0, **WINDOW})
    assert r.status_code == 200, r.text
    assert r.json()["symbol"] == "XRP/USD" and [p["venue_id"] for p in r.json()["points"]] == ["kraken"]


async def test_unknown_symbol_and_bad_params_use_the_error_envelope(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/price_history/NOPE-USD", params={"fidelity_secs": 0})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    r = await client.get("/v1/price_history/BTC-USDT", params={"range": "2d"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PARAMS"  # like any bad query value
    r = await client.get("/v1/price_history/BTC-USDT", params={"venue": "ok x\r\n"})  # never a subject token
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PARAMS"
    r = await client.get("/v1/price_history/BTC-USDT", params={"fidelity_secs": -1})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PARAMS"


async def test_the_replay_starts_at_the_first_event_stored_from_the_windows_start(bus: Bus) -> None:
    # Arrange: two batches, the clock read between them (each publish is acked before it returns).
    first = await bus.publish_many([trade(i, "okx", 100, 1, symbol="SEEK-USDT") for i in range(5)])
    mark = time.time_ns()
    second = await bus.publish_many([trade(10 + i, "okx", 100, 1, symbol="SEEK-USDT") for i in range(3)])
    # Act / Assert
    assert await first_seq_stored_from(bus, "MD", 0) == first[0].seq
    assert await first_seq_stored_from(bus, "MD", mark) == second[0].seq
    assert await first_seq_stored_from(bus, "MD", time.time_ns() + 3600 * S) == second[-1].seq + 1
