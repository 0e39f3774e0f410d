"""KrakenAdapter wiring (services/edges/kraken/adapter.py): symbols, subscriptions, precisions."""

from __future__ import annotations

import json

import pytest

from services.edges import registry
from services.edges.kraken.adapter import KrakenAdapter
from services.edges.kraken.config import KrakenConfig
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control
from tests.shared_fixtures import fixture_path


def test_registered_with_real_endpoints() -> None:
    assert registry.adapters()["kraken"] is KrakenAdapter
    adapter = KrakenAdapter()
    assert adapter.ws_url(["BTC/USD"]) == "wss://ws.kraken.com/v2"
    assert adapter.depth == 10 and adapter.truncate_to_depth
    assert adapter.ping_frame() == '{"method":"ping"}'


@pytest.mark.parametrize(
    ("canonical", "venue"), [("BTC-USD", "BTC/USD"), ("ETH-USD", "ETH/USD"), ("ETH-USDT", "ETH/USDT")]
)
def test_symbol_mapping_round_trips(canonical: str, venue: str) -> None:
    adapter = KrakenAdapter()
    assert adapter.to_venue(canonical) == venue
    assert adapter.to_canonical(venue) == canonical


@pytest.mark.parametrize("bad", ["BTCUSD", "BTC-USD-PERP", "-USD"])
def test_symbol_mapping_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError):
        KrakenAdapter().to_venue(bad)
    with pytest.raises(ValueError):
        KrakenAdapter().to_canonical(bad.replace("-", "/"))


def test_subscribe_frames() -> None:
    frames = [json.loads(f) for f in KrakenAdapter().subscribe_frames(["BTC/USD", "ETH/USD"])]
    assert frames == [
        {"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}, "req_id": 1},
        {
            "method": "subscribe",
            "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 10, "snapshot": True},
            "req_id": 2,
        },
        {
            "method": "subscribe",
            "params": {"channel": "trade", "symbol": ["BTC/USD", "ETH/USD"], "snapshot": False},
            "req_id": 3,
        },
    ]
    bare = KrakenAdapter(config=KrakenConfig(subscribe_instrument=False, subscribe_trades=False))
    assert [json.loads(f)["params"]["channel"] for f in bare.subscribe_frames(["BTC/USD"])] == ["book"]


def test_resync_frames_resubscribe_one_book() -> None:
    frames = [json.loads(f) for f in KrakenAdapter().resync_frames("ETH/USD")]
    assert frames == [
        {"method": "unsubscribe", "params": {"channel": "book", "symbol": ["ETH/USD"], "depth": 10}},
        {"method": "subscribe", "params": {"channel": "book", "symbol": ["ETH/USD"], "depth": 10, "snapshot": True}},
    ]


def test_instrument_channel_overrides_the_precision_table() -> None:
    adapter = KrakenAdapter(config=KrakenConfig(precisions={"BTC/USD": (2, 8)}))  # wrong on purpose
    raw = fixture_path("venues", "kraken", "ws_v2_book_checksum_doc_example.json").read_bytes()
    (snap,) = adapter.parse(raw)
    assert isinstance(snap, BookUpdate)
    assert BookSync(adapter, "BTC/USD").apply(snap) is SyncResult.CHECKSUM
    frame = (
        '{"channel":"instrument","type":"update","data":{"pairs":[{"symbol":"BTC/USD","price_precision":1,'
        '"qty_precision":8}]}}'
    )
    assert adapter.parse(frame) == [Control("instrument", "update: 1 pairs")]  # the precision item is consumed
    assert adapter.precision("BTC/USD") == (1, 8)
    assert BookSync(adapter, "BTC/USD").apply(snap) is SyncResult.APPLIED


def test_configured_precision_wins_over_snapshot_text() -> None:
    adapter = KrakenAdapter()
    adapter.parse(fixture_path("venues", "kraken", "ws_v2_book_BTC-USD_snapshot_reserialized.json").read_bytes())
    assert adapter.precision("BTC/USD") == (1, 8)
    assert adapter.precision("DOGE/USD") is None
