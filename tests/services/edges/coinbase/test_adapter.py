"""CoinbaseAdapter wiring (services/edges/coinbase/adapter.py): symbols, subscriptions, reset hook."""

from __future__ import annotations

import json

import pytest

from services.edges import registry
from services.edges.coinbase.adapter import CoinbaseAdapter
from services.edges.coinbase.config import CoinbaseConfig


def test_registered_with_real_endpoints() -> None:
    assert registry.adapters()["coinbase"] is CoinbaseAdapter
    adapter = CoinbaseAdapter()
    assert adapter.ws_url(["BTC-USD"]) == "wss://advanced-trade-ws.coinbase.com"
    assert adapter.ping_frame() is None


@pytest.mark.parametrize(
    ("canonical", "venue"), [("BTC-USD", "BTC-USD"), ("ETH-USD", "ETH-USD"), ("BTC-USDC-PERP", "BTC-PERP-INTX")]
)
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = CoinbaseAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


@pytest.mark.parametrize("bad", ["BTCUSD", "BTC-USDT-PERP", "-PERP-INTX", "A-B-C"])
def test_symbol_mapping_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError):
        CoinbaseAdapter().to_venue(bad)
    with pytest.raises(ValueError):
        CoinbaseAdapter().to_canonical(bad)


def test_subscribe_frames_one_channel_each() -> None:
    frames = [json.loads(f) for f in CoinbaseAdapter().subscribe_frames(["BTC-USD", "ETH-USD"])]
    assert frames == [
        {"type": "subscribe", "channel": "heartbeats"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "market_trades"},
    ]
    no_trades = CoinbaseAdapter(config=CoinbaseConfig(subscribe_trades=False))
    assert [json.loads(f)["channel"] for f in no_trades.subscribe_frames(["BTC-USD"])] == ["heartbeats", "level2"]


def test_on_connect_forgets_the_counter() -> None:
    adapter = CoinbaseAdapter()
    adapter.parse('{"channel":"heartbeats","sequence_num":41,"events":[]}')
    assert adapter.connection.last == 41
    adapter.on_connect()
    assert adapter.connection.last is None and adapter.connection.run_start is None


def test_resync_frames_resubscribe_one_product() -> None:
    frames = [json.loads(f) for f in CoinbaseAdapter().resync_frames("ETH-USD")]
    assert frames == [
        {"type": "unsubscribe", "product_ids": ["ETH-USD"], "channel": "level2"},
        {"type": "subscribe", "product_ids": ["ETH-USD"], "channel": "level2"},
    ]
