"""Bitget adapter wiring: symbols, subscribe frames, keepalive (services/edges/bitget/adapter.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.bitget import adapter as bitget_adapter
from services.edges.bitget import sim as bitget_sim
from services.edges.bitget.adapter import BitgetAdapter
from services.errors import ConfigError


@pytest.mark.parametrize(
    ("canonical", "venue"), [("BTC-USDT", "BTCUSDT"), ("ETH-USDT", "ETHUSDT"), ("ETH-BTC", "ETHBTC")]
)
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = BitgetAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


@pytest.mark.parametrize("bad", ["BTC-USDT-PERP", "BTCUSDT", "", "BTC-"])
def test_non_spot_canonicals_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        BitgetAdapter().to_venue(bad)


def test_unknown_quote_is_refused() -> None:
    with pytest.raises(ConfigError):
        BitgetAdapter().to_canonical("BTCXYZ")


def test_subscribe_frame_asks_for_spot_books_and_trades() -> None:
    (frame,) = BitgetAdapter().subscribe_frames(["BTCUSDT"])
    assert json.loads(frame) == {
        "op": "subscribe",
        "args": [
            {"instType": "SPOT", "channel": "books", "instId": "BTCUSDT"},
            {"instType": "SPOT", "channel": "trade", "instId": "BTCUSDT"},
        ],
    }


def test_keepalive_and_endpoints() -> None:
    adapter = BitgetAdapter()
    assert adapter.ping_frame() == "ping" and adapter.ping_interval_s <= 30
    assert adapter.ws_url(["BTCUSDT"]) == "wss://ws.bitget.com/v2/ws/public"
    assert adapter.keep_raw


def test_package_registers_itself() -> None:
    assert bitget_adapter.ADAPTERS == [BitgetAdapter]
    assert bitget_sim.SIM_PROTOCOLS == {"bitget": bitget_sim.BitgetSimProtocol}
    assert [i.symbol for i in bitget_sim.SIM_INSTRUMENTS["bitget"]] == ["BTC-USDT", "ETH-USDT"]
