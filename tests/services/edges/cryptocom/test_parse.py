"""Crypto.com frame parsing against the recorded frames (services/edges/cryptocom/parse.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.book import RawLevel
from services.edges.cryptocom.parse import parse_frame
from services.edges.venue import (
    BookUpdate,
    Control,
    ParseError,
    Reply,
    TradeUpdate,
    VenueNotice,
)
from tests.shared_fixtures import fixture_lines

FILE = "ws_market_frames_2026-09-22.jsonl"


def _lines() -> list[str]:
    lines = fixture_lines("venues", "cryptocom", FILE)
    assert len(lines) == 12
    return lines


def test_subscribe_ack_is_control() -> None:
    assert parse_frame(_lines()[1]) == [Control("subscribe", "book.WALUSD-PERP.50")]


def test_book_snapshot() -> None:
    (snap,) = parse_frame(_lines()[2])
    assert isinstance(snap, BookUpdate)
    assert (snap.symbol, snap.snapshot, snap.seq, snap.prev_seq, snap.checksum) == (
        "ETHUSD-PERP",
        True,
        375554806244928,
        None,
        None,  # cs is deliberately not carried
    )
    assert snap.asks == [
        RawLevel(2_749_620_000_000, 20_080_000),
        RawLevel(2_749_790_000_000, 10_000),
        RawLevel(2_749_900_000_000, 80_000),
    ]
    assert snap.bids == [
        RawLevel(2_749_610_000_000, 7_860_000),
        RawLevel(2_749_590_000_000, 10_000),
        RawLevel(2_749_440_000_000, 20_000_000),
    ]
    assert snap.ts_event_ns == 1790114273395_000_000


def test_book_delta() -> None:
    (delta,) = parse_frame(_lines()[3])
    assert isinstance(delta, BookUpdate)
    assert (delta.snapshot, delta.seq, delta.prev_seq) == (False, 375554807336512, 375554807297984)
    assert delta.asks == [RawLevel(2_750_200_000_000, 0), RawLevel(2_753_110_000_000, 26_160_000)]
    assert delta.bids == [RawLevel(2_748_120_000_000, 0), RawLevel(2_748_100_000_000, 545_820_000)]


def test_idle_delta() -> None:
    (idle,) = parse_frame(_lines()[4])
    assert isinstance(idle, BookUpdate)
    assert (idle.symbol, idle.bids, idle.asks, idle.seq, idle.prev_seq) == (
        "NVDAUSD-PERP",
        [],
        [],
        369501268112000,
        369501268112000,
    )


def test_heartbeat_is_answered_with_the_recorded_reply() -> None:
    lines = _lines()
    (reply,) = parse_frame(lines[5])
    assert isinstance(reply, Reply)
    assert json.loads(reply.frame) == json.loads(
        lines[6]
    )  # {"id": 1790114291578, "method": "public/respond-heartbeat"}


def test_errors_are_venue_notices() -> None:
    lines = _lines()
    assert parse_frame(lines[7]) == [VenueNotice("cryptocom error 40003: Unknown symbol", "NOPEUSD-PERP")]
    assert parse_frame(lines[8]) == [VenueNotice("cryptocom error 40107: Maximum subscriptions exceeded", None)]


def test_mark_index_funding_are_ignored_as_control() -> None:
    kinds = [parse_frame(line) for line in _lines()[9:]]
    assert kinds == [[Control("unhandled", "mark")], [Control("unhandled", "index")], [Control("unhandled", "funding")]]


def test_trade_push() -> None:
    raw = (
        '{"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":"BTC_USDT","subscription":"trade.BTC_USDT",'
        '"channel":"trade","data":[{"d":"2030407068","t":1613581138462,"p":"51327.62","q":"0.000076","s":"SELL","i":"BTC_USDT"}]}}'
    )
    assert parse_frame(raw) == [
        TradeUpdate("BTC_USDT", 51_327_620_000_000, 7_600, "sell", "2030407068", 1613581138462_000_000)
    ]


def _delta(**item: object) -> str:
    data = {"update": {"asks": [["100", "1", "1"]], "bids": []}, "t": 1, "u": 2, "pu": 1, **item}
    result = {"instrument_name": "BTC_USDT", "channel": "book.update", "data": [data]}
    return json.dumps({"id": -1, "method": "subscribe", "code": 0, "result": result})


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ping",
        '{"id":1,"method":"subscribe","result":{"channel":"book"',
        "\x00\xffnot json at all",
        "[1]",
        "{}",
        '{"id":1,"code":"zero"}',
        '{"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":"","channel":"book","data":[]}}',
        '{"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":"X","channel":"book","data":[{"asks":[],"bids":[]}]}}',
        '{"id":-1,"method":"subscribe","code":0,"result":{"instrument_name":"X","channel":"book","data":[{"asks":[],"u":1}]}}',
        _delta(pu=None),
        _delta(update=None),
        _delta(update={"asks": [["100"]], "bids": []}),
        _delta(update={"asks": [["100", "lots", "1"]], "bids": []}),
        _delta(update={"asks": [["0", "1", "1"]], "bids": []}),
        _delta(update={"asks": [["100", "0.000000001", "1"]], "bids": []}),
        _delta(u="2"),
    ],
)
def test_garbage_and_malformed_frames_raise_parse_error(raw: str) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)


def test_well_formed_variant_of_the_malformed_frame_parses() -> None:
    (delta,) = parse_frame(_delta())
    assert isinstance(delta, BookUpdate) and delta.asks == [RawLevel(100_000_000_000, 100_000_000)]
