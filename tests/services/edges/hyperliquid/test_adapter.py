"""HyperliquidAdapter (services/edges/hyperliquid/adapter.py): symbols, subscriptions, book replays."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services.edges import registry
from services.edges.hyperliquid.adapter import HyperliquidAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, ParseError, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_json


def test_registered_with_real_endpoints() -> None:
    assert registry.adapters()["hyperliquid"] is HyperliquidAdapter
    adapter = HyperliquidAdapter()
    assert adapter.ws_url(["BTC"]) == "wss://api.hyperliquid.xyz/ws"
    assert adapter.ping_frame() == '{"method":"ping"}'
    assert adapter.depth == 20


@pytest.mark.parametrize(
    ("canonical", "coin"), [("BTC-USD-PERP", "BTC"), ("ETH-USD-PERP", "ETH"), ("kPEPE-USD-PERP", "kPEPE")]
)
def test_symbol_mapping_round_trips(canonical: str, coin: str) -> None:
    adapter = HyperliquidAdapter()
    assert adapter.to_venue(canonical) == coin
    assert adapter.to_canonical(coin) == canonical


@pytest.mark.parametrize("bad", ["BTC-USD", "BTC-USDT-PERP", "-USD-PERP"])
def test_to_venue_rejects_non_perps(bad: str) -> None:
    with pytest.raises(ValueError):
        HyperliquidAdapter().to_venue(bad)


@pytest.mark.parametrize("bad", ["@107", "PURR/USDC", "xyz:TSLA", ""])
def test_to_canonical_rejects_spot_and_dex_coins(bad: str) -> None:
    with pytest.raises(ValueError):
        HyperliquidAdapter().to_canonical(bad)


def test_subscribe_frames() -> None:
    frames = [json.loads(f) for f in HyperliquidAdapter().subscribe_frames(["BTC", "ETH"])]
    assert frames == [
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}},
        {"method": "subscribe", "subscription": {"type": "trades", "coin": "BTC"}},
        {"method": "subscribe", "subscription": {"type": "trades", "coin": "ETH"}},
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}},  # funding
        {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "ETH"}},
    ]


def test_resync_frames_resubscribe_one_coin() -> None:
    frames = [json.loads(f) for f in HyperliquidAdapter().resync_frames("ETH")]
    assert frames == [
        {"method": "unsubscribe", "subscription": {"type": "l2Book", "coin": "ETH"}},
        {"method": "subscribe", "subscription": {"type": "l2Book", "coin": "ETH"}},
    ]


def _dict_book(payload: dict) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    # Independent of parse/L2Book: the payload's own lists, scaled with Decimal and sorted.
    def side(levels: list[dict], reverse: bool) -> list[tuple[int, int]]:
        pairs = {Decimal(lv["px"]): Decimal(lv["sz"]) for lv in levels}
        return [(int(p * 10**9), int(pairs[p] * 10**8)) for p in sorted(pairs, reverse=reverse)]

    return side(payload["levels"][0], True), side(payload["levels"][1], False)


def test_each_push_replaces_the_whole_book() -> None:
    adapter = HyperliquidAdapter()
    sync = BookSync(adapter, "BTC")
    first = fixture_json("venues", "hyperliquid", "ws_book_data.json")
    second = fixture_json("venues", "hyperliquid", "http_l2_book_btc.json")  # same coin, another moment
    for payload in (first, second):
        (snap,) = adapter.parse(json.dumps({"channel": "l2Book", "data": payload}))
        assert isinstance(snap, BookUpdate)
        assert sync.apply(snap) is SyncResult.APPLIED
        bids, asks = _dict_book(payload)
        assert sync.book.bids() == bids and sync.book.asks() == asks  # nothing left from the last push
    assert sync.failures == 0 and not sync.stale


def test_crossed_push_is_caught_and_the_next_push_recovers() -> None:
    adapter = HyperliquidAdapter()
    sync = BookSync(adapter, "BTC")
    payload = fixture_json("venues", "hyperliquid", "ws_book_data.json")
    crossed = json.loads(json.dumps(payload))
    crossed["levels"][0][0]["px"] = "98460.00"  # best bid above best ask
    (bad,) = adapter.parse(json.dumps({"channel": "l2Book", "data": crossed}))
    assert sync.apply(bad) is SyncResult.CROSSED and sync.stale
    (good,) = adapter.parse(json.dumps({"channel": "l2Book", "data": payload}))
    assert sync.apply(good) is SyncResult.APPLIED and not sync.stale


def test_rest_snapshot_checks_the_coin() -> None:
    adapter = HyperliquidAdapter()
    body = json.dumps(fixture_json("venues", "hyperliquid", "http_l2_book_snapshot.json")).encode()
    assert adapter.parse_snapshot(body, "BTC").bids[0].px_1e9 == 98_450_500_000_000
    with pytest.raises(ParseError):
        adapter.parse_snapshot(body, "ETH")
    with pytest.raises(NotImplementedError):
        adapter.snapshot_url("BTC")  # info is a POST: the book comes from the WebSocket


def test_sequence_never_blocks() -> None:
    update = BookUpdate("BTC", False, [], [])
    assert HyperliquidAdapter().sequence(SeqState(last_seq=3), update) is SeqVerdict.APPLY
