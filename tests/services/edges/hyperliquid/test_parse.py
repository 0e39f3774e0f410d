"""Hyperliquid frame parsing (services/edges/hyperliquid/parse.py) against the recorded payloads."""

from __future__ import annotations

import json

import pytest

from services.edges.book import RawLevel
from services.edges.hyperliquid import parse
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_json


def _ws(channel: str, data: object) -> str:
    return json.dumps({"channel": channel, "data": data})


def test_ws_l2book_is_a_snapshot_with_exact_levels() -> None:
    (snap,) = parse.parse_frame(_ws("l2Book", fixture_json("venues", "hyperliquid", "ws_book_data.json")))
    assert isinstance(snap, BookUpdate)
    assert snap.symbol == "BTC" and snap.snapshot and snap.seq is None and snap.checksum is None
    assert snap.bids[0] == RawLevel(98_450_500_000_000, 250_000_000)
    assert snap.bids[-1] == RawLevel(98_447_500_000_000, 110_000_000)
    assert snap.asks[0] == RawLevel(98_451_000_000_000, 150_000_000)
    assert snap.asks[2] == RawLevel(98_452_500_000_000, 90_000_000)
    assert snap.ts_event_ns == 1_703_875_200_000_000_000


def test_rest_l2book_bodies() -> None:
    body = json.dumps(fixture_json("venues", "hyperliquid", "http_l2_book_btc.json"))
    snap = parse.parse_book_body(body)
    assert snap.bids[0] == RawLevel(110_427_000_000_000, 411_882_000)
    assert snap.asks[1] == RawLevel(110_430_000_000_000, 3_586_000)
    assert snap.ts_event_ns == 1_761_786_491_067_000_000
    recorded = fixture_json("venues", "hyperliquid", "http_info_l2Book_DYDX.json")["response"]
    dydx = parse.parse_book_body(json.dumps(recorded))
    assert dydx.symbol == "DYDX" and len(dydx.bids) == len(dydx.asks) == 20
    assert dydx.bids[1] == RawLevel(2_110_500_000, 14_110_000_000)
    assert dydx.bids[-1] == RawLevel(1_810_000_000, 239_700_000_000)


def test_trades_side_is_the_taker() -> None:
    items = fixture_json("venues", "hyperliquid", "http_recent_trades_btc.json")
    parsed = parse.parse_frame(_ws("trades", items))
    assert parsed[0] == TradeUpdate("BTC", 104_320_000_000_000, 1_500_000, "sell", "300003", 1_769_916_002_000_000_000)
    assert parsed[1] == TradeUpdate("BTC", 104_310_500_000_000, 2_000_000, "buy", "300002", 1_769_916_001_000_000_000)
    assert len(parsed) == 3


def test_control_and_error_frames() -> None:
    assert parse.parse_frame('{"channel":"pong"}') == [Control("pong")]
    ack = (
        '{"channel":"subscriptionResponse","data":{"method":"subscribe",'
        '"subscription":{"type":"l2Book","coin":"BTC"}}}'
    )
    (ctl,) = parse.parse_frame(ack)
    assert isinstance(ctl, Control) and ctl.kind == "subscribed" and '"coin":"BTC"' in ctl.detail
    error = '{"channel":"error","data":"Invalid subscription"}'
    assert parse.parse_frame(error) == [VenueNotice("Invalid subscription")]


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "\x00\xffnot json at all",
        '{"truncated": [1, 2',
        "[]",
        '{"data":{}}',
        '{"channel":"allMids","data":{"mids":{}}}',  # not subscribed: unexpected
        '{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[]]}}',
        '{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"x","sz":"1"}],[]]}}',
        '{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":"1","sz":"0"}],[]]}}',
        '{"channel":"l2Book","data":{"coin":"BTC","time":1,"levels":[[{"px":1.5,"sz":"1"}],[]]}}',
        '{"channel":"trades","data":[{"coin":"BTC","side":"X","px":"1","sz":"1"}]}',
    ],
)
def test_garbage_raises_parse_error(frame: str) -> None:
    with pytest.raises(ParseError):
        parse.parse_frame(frame)


def test_bad_rest_body_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        parse.parse_book_body(b'{"coin":"BTC"}')
