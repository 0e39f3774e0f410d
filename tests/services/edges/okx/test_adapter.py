"""OKX adapter wiring: symbols, subscribe frames, keepalive (services/edges/okx/adapter.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.okx import adapter as okx_adapter
from services.edges.okx import sim as okx_sim
from services.edges.okx.adapter import OkxAdapter
from services.errors import ConfigError
from tests.shared_fixtures import fixture_lines


@pytest.mark.parametrize(
    ("canonical", "venue"),
    [
        ("BTC-USDT", "BTC-USDT"),
        ("ETH-USDT", "ETH-USDT"),
        ("BTC-USDT-PERP", "BTC-USDT-SWAP"),
        ("BTC-USD-PERP", "BTC-USD-SWAP"),
    ],
)
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = OkxAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


def test_dated_futures_keep_the_venue_name() -> None:
    assert OkxAdapter().to_canonical("BTC-USD-220527") == "BTC-USD-220527"


@pytest.mark.parametrize("bad", ["BTCUSDT", "BTC-USDT-FUT", "", "-USDT"])
def test_unknown_canonical_shapes_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        OkxAdapter().to_venue(bad)


def test_subscribe_frame_matches_the_recorded_request_shape() -> None:
    (frame,) = OkxAdapter().subscribe_frames(["BTC-USDT", "BTC-USDT-SWAP"])
    sent = json.loads(frame)
    recorded = json.loads(fixture_lines("venues", "okx", "ws_subscribe_requests.jsonl")[0])
    assert sent.keys() == recorded.keys() and sent["op"] == recorded["op"] == "subscribe"
    assert {"channel": "books", "instId": "BTC-USDT"} in recorded["args"]
    assert sent["args"] == [
        {"channel": "books", "instId": "BTC-USDT"},
        {"channel": "trades", "instId": "BTC-USDT"},
        {"channel": "books", "instId": "BTC-USDT-SWAP"},
        {"channel": "trades", "instId": "BTC-USDT-SWAP"},
        {"channel": "mark-price", "instId": "BTC-USDT-SWAP"},  # swaps only: funding
        {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"},
    ]


def test_keepalive_and_endpoints() -> None:
    adapter = OkxAdapter()
    assert adapter.ping_frame() == "ping"
    assert adapter.ping_interval_s < 30  # OKX closes after 30 s of silence
    assert adapter.ws_url(["BTC-USDT"]) == "wss://ws.okx.com:8443/ws/v5/public"
    assert adapter.keep_raw  # the checksum needs the wire strings


def test_package_registers_itself() -> None:
    assert okx_adapter.ADAPTERS == [OkxAdapter]
    assert okx_sim.SIM_PROTOCOLS == {"okx": okx_sim.OkxSimProtocol}
    symbols = [i.symbol for i in okx_sim.SIM_INSTRUMENTS["okx"]]
    assert symbols == ["BTC-USDT", "ETH-USDT", "BTC-USDT-PERP"]
