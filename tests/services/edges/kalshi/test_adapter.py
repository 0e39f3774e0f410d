"""services/edges/kalshi/adapter.py: endpoints, symbols, subscribe frames."""

from __future__ import annotations

import json

import pytest

from services.edges import registry
from services.edges.kalshi.adapter import KalshiAdapter
from services.errors import ConfigError


def test_registered() -> None:
    assert registry.adapters()["kalshi"] is KalshiAdapter
    assert "kalshi" in registry.sim_protocols() and "kalshi" in registry.sim_instruments()


def test_real_endpoint_and_no_app_keepalive() -> None:
    a = KalshiAdapter()
    assert a.ws_url(["T"]) == "wss://api.elections.kalshi.com/trade-api/ws/v2"
    assert a.ping_frame() is None


def test_symbols() -> None:
    a = KalshiAdapter()
    assert a.to_venue("KXHIGHNY-26JUN24-T82:YES") == "KXHIGHNY-26JUN24-T82"
    assert a.to_venue("KXHIGHNY-26JUN24-T82:NO") == "KXHIGHNY-26JUN24-T82"
    assert a.to_canonical("KXHIGHNY-26JUN24-T82") == "KXHIGHNY-26JUN24-T82:YES"
    for bad in ("KXHIGHNY-26JUN24-T82", ":YES", "T:MAYBE"):
        with pytest.raises(ConfigError):
            a.to_venue(bad)


def test_one_book_subscription_per_market_then_trades() -> None:
    frames = [json.loads(f) for f in KalshiAdapter().subscribe_frames(["A-1", "B-2", "A-1"])]
    assert frames == [
        {"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": ["A-1"]}},
        {"id": 2, "cmd": "subscribe", "params": {"channels": ["orderbook_delta"], "market_tickers": ["B-2"]}},
        {"id": 3, "cmd": "subscribe", "params": {"channels": ["trade"], "market_tickers": ["A-1", "B-2"]}},
        {"id": 4, "cmd": "subscribe", "params": {"channels": ["market_lifecycle_v2"]}},
    ]
    assert KalshiAdapter().subscribe_frames([]) == []
