"""OKX frame parsing against recorded payloads (services/edges/okx/parse.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.book import RawLevel
from services.edges.okx.parse import parse_frame
from services.edges.venue import (
    BookUpdate,
    Control,
    ParseError,
    TradeUpdate,
    VenueNotice,
)
from tests.shared_fixtures import fixture_lines, fixture_path


def _one_book(raw: str | bytes) -> BookUpdate:
    (update,) = parse_frame(raw)
    assert isinstance(update, BookUpdate)
    return update


def test_books_snapshot_decodes_exact_integers_and_keeps_raw_strings() -> None:
    update = _one_book(fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")[0])
    assert update.symbol == "BTC-USDT"
    assert update.snapshot is True
    assert len(update.bids) == 400 and len(update.asks) == 400
    assert update.bids[0] == RawLevel(30_243_400_000_000, 120_290, "30243.4", "0.0012029")
    assert update.bids[1] == RawLevel(30_236_600_000_000, 790_300, "30236.6", "0.007903")
    assert update.asks[0] == RawLevel(30_243_500_000_000, 144_679_000, "30243.5", "1.44679")
    assert update.asks[1] == RawLevel(30_244_000_000_000, 8_000_000, "30244", "0.08")
    assert update.checksum == 47640993
    assert update.ts_event_ns == 1652459225381_000_000
    assert update.seq is None and update.prev_seq is None  # 2022 frames predate seqId


def test_books_update_with_a_delete() -> None:
    update = _one_book(fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")[1])
    assert update.snapshot is False
    assert update.bids[0] == RawLevel(30_237_200_000_000, 0, "30237.2", "0")
    assert update.asks[0] == RawLevel(30_243_500_000_000, 121_120_000, "30243.5", "1.2112")
    assert update.checksum == -652563973


def test_books_snapshot_and_update_carry_seq_ids() -> None:
    snap = _one_book(fixture_path("venues", "okx", "ws_books_snapshot.json").read_bytes())
    assert (snap.snapshot, snap.prev_seq, snap.seq) == (True, -1, 123456)
    assert snap.bids[0] == RawLevel(8_476_970_000_000, 25_600_000_000, "8476.97", "256")
    upd = _one_book(fixture_path("venues", "okx", "ws_books_update.json").read_bytes())
    assert (upd.snapshot, upd.prev_seq, upd.seq) == (False, 123456, 123457)


def test_trades_push() -> None:
    lines = fixture_lines("venues", "okx", "ws_trades.jsonl")
    (trade,) = parse_frame(lines[2])
    assert trade == TradeUpdate("BTC-USDT", 30_236_000_000_000, 20_000, "buy", "338476307", 1652459224818_000_000)
    (sell,) = parse_frame(lines[1])
    assert isinstance(sell, TradeUpdate)
    assert (sell.symbol, sell.px_1e9, sell.qty_1e8, sell.aggressor) == (
        "UNI-USD-SWAP",
        5_123_000_000,
        10_000_000_000,
        "sell",
    )


def test_subscribe_acks_are_control() -> None:
    acks = fixture_lines("venues", "okx", "ws_subscribe_requests.jsonl")[1:]
    parsed = [p for line in acks for p in parse_frame(line)]
    assert parsed[0] == Control("subscribe", "tickers:BTC-USD-220527")
    assert all(isinstance(p, Control) and p.kind == "subscribe" for p in parsed)


def test_pong_is_control() -> None:
    assert parse_frame("pong") == [Control("pong")]
    assert parse_frame(b"pong") == [Control("pong")]


def test_error_event_is_a_venue_notice() -> None:
    raw = '{"event":"error","code":"60018","msg":"Wrong URL or channel:books,instId:NOPE-USDT doesn\'t exist.","connId":"a4d3ae55"}'
    (notice,) = parse_frame(raw)
    assert isinstance(notice, VenueNotice)
    assert notice.message.startswith("okx error 60018: Wrong URL")


def test_other_channels_are_ignored_as_control() -> None:
    (ctl,) = parse_frame(fixture_lines("venues", "okx", "ws_tickers.jsonl")[0])
    assert ctl == Control("unhandled", "tickers")


def _book_frame(**data: object) -> str:
    body = {"asks": [["100", "1", "0", "1"]], "bids": [["99", "1", "0", "1"]], "ts": "1", **data}
    return json.dumps({"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data": [body]})


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ping",
        "not json at all",
        '{"truncated": [1, 2',
        "\x00\xffgarbage",
        b"\xff\xfe",
        "[1,2,3]",
        "{}",
        '{"arg":{"channel":"books","instId":"BTC-USDT"}}',
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"bogus","data":[{"asks":[],"bids":[]}]}',
        '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"bids":[]}]}',
        '{"arg":{"channel":"books","instId":""},"action":"update","data":[{"asks":[],"bids":[]}]}',
        _book_frame(asks=[["100"]]),
        _book_frame(asks=[["", "1", "0", "1"]]),
        _book_frame(asks=[["abc", "1", "0", "1"]]),
        _book_frame(asks=[["100", "1e", "0", "1"]]),
        _book_frame(asks=[["100", "-1", "0", "1"]]),
        _book_frame(asks=[["100.0000000001", "1", "0", "1"]]),
        _book_frame(asks=[[100, "1", "0", "1"]]),
        _book_frame(ts="soon"),
        _book_frame(checksum="12"),
        '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","px":"1","sz":"0","side":"buy","ts":"1"}]}',
        '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","px":"","sz":"1","ts":"1"}]}',
    ],
)
def test_garbage_and_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)


def test_well_formed_variant_of_the_malformed_frame_parses() -> None:
    # guards the parametrized cases above: they fail for the reason named, not for the helper
    (update,) = parse_frame(_book_frame(checksum=12))
    assert isinstance(update, BookUpdate)
    assert update.asks == [RawLevel(100_000_000_000, 100_000_000, "100", "1")]
