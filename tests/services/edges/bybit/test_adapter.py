"""services/edges/bybit/adapter.py: endpoints, symbols, subscribe frames."""

from __future__ import annotations

import json

import pytest

from services.edges import registry
from services.edges.bybit.adapter import BybitLinearAdapter, BybitSpotAdapter
from services.errors import ConfigError


def test_registered_under_both_names() -> None:
    found = registry.adapters()
    assert found["bybit"] is BybitSpotAdapter and found["bybit_linear"] is BybitLinearAdapter
    assert set(registry.sim_protocols()) >= {"bybit", "bybit_linear"}


def test_real_endpoints() -> None:
    assert BybitSpotAdapter().ws_url(["BTCUSDT"]) == "wss://stream.bybit.com/v5/public/spot"
    assert BybitLinearAdapter().ws_url(["BTCUSDT"]) == "wss://stream.bybit.com/v5/public/linear"


@pytest.mark.parametrize(("canonical", "venue"), [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT"), ("ETH-BTC", "ETHBTC")])
def test_spot_symbols_round_trip(canonical: str, venue: str) -> None:
    a = BybitSpotAdapter()
    assert a.to_venue(canonical) == venue and a.to_canonical(venue) == canonical


@pytest.mark.parametrize(
    ("canonical", "venue"), [("BTC-USDT-PERP", "BTCUSDT"), ("ETH-USDT-PERP", "ETHUSDT"), ("BTC-USDC-PERP", "BTCPERP")]
)
def test_linear_symbols_round_trip(canonical: str, venue: str) -> None:
    a = BybitLinearAdapter()
    assert a.to_venue(canonical) == venue and a.to_canonical(venue) == canonical


@pytest.mark.parametrize("bad", ["BTCUSDT", "BTC-USDT-PERP", "BTC/USDT"])
def test_spot_rejects_non_spot_symbols(bad: str) -> None:
    with pytest.raises(ConfigError):
        BybitSpotAdapter().to_venue(bad)


@pytest.mark.parametrize("bad", ["BTC-USDT", "BTC-USD-PERP"])
def test_linear_rejects_non_linear_symbols(bad: str) -> None:
    with pytest.raises(ConfigError):
        BybitLinearAdapter().to_venue(bad)


def test_subscribe_frames_chunk_to_ten_topics() -> None:
    syms = [f"S{i}USDT" for i in range(6)]
    frames = [json.loads(f) for f in BybitSpotAdapter().subscribe_frames(syms)]
    assert [len(f["args"]) for f in frames] == [10, 2]
    assert all(f["op"] == "subscribe" for f in frames)
    assert frames[0]["args"][:2] == ["orderbook.50.S0USDT", "publicTrade.S0USDT"]
    assert frames[1]["args"] == ["orderbook.50.S5USDT", "publicTrade.S5USDT"]


def test_ping_frame() -> None:
    assert json.loads(BybitLinearAdapter().ping_frame() or "") == {"op": "ping"}
    assert BybitLinearAdapter.ping_interval_s == 20.0
