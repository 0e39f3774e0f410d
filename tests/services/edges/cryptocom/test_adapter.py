"""Crypto.com adapter wiring: symbols, subscribe frame (services/edges/cryptocom/adapter.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.cryptocom import adapter as cdc_adapter
from services.edges.cryptocom import sim as cdc_sim
from services.edges.cryptocom.adapter import CryptocomAdapter
from services.errors import ConfigError
from tests.shared_fixtures import fixture_lines


@pytest.mark.parametrize(
    ("canonical", "venue"),
    [("BTC-USDT", "BTC_USDT"), ("ETH-USDT", "ETH_USDT"), ("BTC-USD", "BTC_USD"), ("BTC-USD-PERP", "BTCUSD-PERP")],
)
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = CryptocomAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


def test_recorded_perp_and_future_names() -> None:
    adapter = CryptocomAdapter()
    assert adapter.to_canonical("ETHUSD-PERP") == "ETH-USD-PERP"
    assert adapter.to_canonical("BTCUSD-261225") == "BTCUSD-261225"


@pytest.mark.parametrize("bad", ["BTC-USDT-PERP", "BTCUSDT", ""])
def test_unsupported_canonicals_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        CryptocomAdapter().to_venue(bad)


def test_subscribe_frame_matches_the_recorded_request() -> None:
    (frame,) = CryptocomAdapter().subscribe_frames(["BTC_USDT"])
    sent = json.loads(frame)
    recorded = json.loads(fixture_lines("venues", "cryptocom", "ws_market_frames_2026-09-22.jsonl")[0])
    assert sent.keys() == recorded.keys()
    assert sent["method"] == recorded["method"] == "subscribe"
    assert sent["params"]["channels"] == ["book.BTC_USDT.50", "trade.BTC_USDT"]
    assert "book.BTC_USD.50" in recorded["params"]["channels"]
    for key in ("book_subscription_type", "book_update_frequency"):
        assert sent["params"][key] == recorded["params"][key]
    assert isinstance(sent["nonce"], int) and sent["nonce"] > recorded["nonce"] - 10**12


def test_endpoints_and_book_settings() -> None:
    adapter = CryptocomAdapter()
    assert adapter.ws_url(["BTC_USDT"]) == "wss://stream.crypto.com/exchange/v1/market"
    assert adapter.ping_frame() is None  # the server heartbeats; we only answer
    assert adapter.depth == 50 and adapter.truncate_to_depth


def test_package_registers_itself() -> None:
    assert cdc_adapter.ADAPTERS == [CryptocomAdapter]
    assert cdc_sim.SIM_PROTOCOLS == {"cryptocom": cdc_sim.CryptocomSimProtocol}
    assert [i.symbol for i in cdc_sim.SIM_INSTRUMENTS["cryptocom"]] == ["BTC-USDT", "ETH-USDT"]
