"""services/edges/polymarket/adapter.py: endpoints, symbols, subscribe and keepalive frames."""

from __future__ import annotations

import json

from services.edges import registry
from services.edges.polymarket.adapter import PolymarketAdapter
from services.edges.polymarket.sim import NO_TOKEN, YES_TOKEN


def test_registered_with_a_two_token_sim_market() -> None:
    assert registry.adapters()["polymarket"] is PolymarketAdapter
    assert [i.symbol for i in registry.sim_instruments()["polymarket"]] == [YES_TOKEN, NO_TOKEN]


def test_real_endpoints() -> None:
    a = PolymarketAdapter()
    assert a.ws_url([YES_TOKEN]) == "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    assert a.snapshot_url("123") == "https://clob.polymarket.com/book?token_id=123"


def test_token_ids_are_the_symbols() -> None:
    a = PolymarketAdapter()
    assert a.to_venue(YES_TOKEN) == YES_TOKEN and a.to_canonical(NO_TOKEN) == NO_TOKEN


def test_subscribe_and_keepalive() -> None:
    a = PolymarketAdapter()
    (frame,) = a.subscribe_frames([YES_TOKEN, NO_TOKEN])
    # custom_feature_enabled: the venue then also sends new_market / market_resolved
    assert json.loads(frame) == {"assets_ids": [YES_TOKEN, NO_TOKEN], "type": "market", "custom_feature_enabled": True}
    assert a.ping_frame() == "PING" and a.ping_interval_s == 10.0
