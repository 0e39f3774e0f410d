"""services/edges/binance/adapter.py: endpoints, subscribe frames, symbols, REST bootstrap URL."""

from __future__ import annotations

import json

import pytest

from services.edges.binance import adapter as binance
from services.edges.binance.adapter import BinanceSpot, BinanceUsdm
from services.edges.binance.sim import SIM_INSTRUMENTS, SIM_PROTOCOLS
from services.edges.venue import BookMode, VenueEndpoints


def test_registration_and_real_endpoints() -> None:
    assert [cls.name for cls in binance.ADAPTERS] == ["binance", "binance_usdm"]
    assert set(SIM_PROTOCOLS) == set(SIM_INSTRUMENTS) == {"binance", "binance_usdm"}
    spot, usdm = BinanceSpot(), BinanceUsdm()
    assert spot.ws_url(["BTCUSDT"]) == "wss://stream.binance.com:9443/ws"
    assert usdm.ws_url(["BTCUSDT"]) == "wss://fstream.binance.com/public/ws"
    assert spot.book_mode is usdm.book_mode is BookMode.REST_SNAPSHOT
    assert spot.snapshot_url("BTCUSDT") == "https://api.binance.com/api/v3/depth?symbol=BTCUSDT&limit=1000"
    assert usdm.snapshot_url("BTCUSDT") == "https://fapi.binance.com/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
    local = BinanceUsdm(VenueEndpoints("ws://127.0.0.1:9/public/ws", "http://127.0.0.1:9"))
    assert local.snapshot_url("ETHUSDT") == "http://127.0.0.1:9/fapi/v1/depth?symbol=ETHUSDT&limit=1000"


def test_spot_subscribe_frame_matches_the_documented_request() -> None:
    frames = [json.loads(f) for f in BinanceSpot().subscribe_frames(["BTCUSDT"])]
    assert frames == [{"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "btcusdt@trade"], "id": 1}]


def test_usdm_asks_for_trades_in_a_separate_request() -> None:
    frames = [json.loads(f) for f in BinanceUsdm().subscribe_frames(["BTCUSDT", "ETHUSDT"])]
    assert frames == [
        {"method": "SUBSCRIBE", "params": ["btcusdt@depth@100ms", "ethusdt@depth@100ms"], "id": 1},
        # with the trades: mark price + funding rate (FundingRateUpdated)
        {"method": "SUBSCRIBE", "params": ["btcusdt@aggTrade", "btcusdt@markPrice@1s", "ethusdt@aggTrade",
                                           "ethusdt@markPrice@1s"], "id": 2},
    ]


def test_many_symbols_are_chunked_with_distinct_ids() -> None:
    symbols = [f"C{i}USDT" for i in range(150)]
    frames = [json.loads(f) for f in BinanceSpot().subscribe_frames(symbols)]
    assert [len(f["params"]) for f in frames] == [200, 100]
    assert [f["id"] for f in frames] == [1, 2]
    assert sum((f["params"] for f in frames), []).count("c149usdt@trade") == 1


@pytest.mark.parametrize(
    ("canonical", "venue"),
    [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT"), ("ETH-BTC", "ETHBTC"), ("BTC-FDUSD", "BTCFDUSD")],
)
def test_spot_symbols_round_trip(canonical: str, venue: str) -> None:
    spot = BinanceSpot()
    assert spot.to_venue(canonical) == venue
    assert spot.to_canonical(venue) == canonical


def test_usdm_symbols_round_trip() -> None:
    usdm = BinanceUsdm()
    assert usdm.to_venue("BTC-USDT-PERP") == "BTCUSDT"
    assert usdm.to_canonical("BTCUSDT") == "BTC-USDT-PERP"
    assert usdm.to_canonical("ETHUSDC") == "ETH-USDC-PERP"


@pytest.mark.parametrize("bad", ["BTCUSDT", "BTC-USDT-PERP", "-USDT", "BTC-"])
def test_spot_rejects_non_spot_symbols(bad: str) -> None:
    with pytest.raises(ValueError):
        BinanceSpot().to_venue(bad)


@pytest.mark.parametrize("bad", ["BTC-USDT", "BTC-USD-PERP", "BTC-USDT-SWAP"])
def test_usdm_rejects_non_perp_symbols(bad: str) -> None:
    with pytest.raises(ValueError):
        BinanceUsdm().to_venue(bad)


@pytest.mark.parametrize("bad", ["BTCUSDT_250328", "USDT", "BTCXYZ"])
def test_usdm_to_canonical_rejects_what_it_cannot_name(bad: str) -> None:
    with pytest.raises(ValueError):
        BinanceUsdm().to_canonical(bad)
