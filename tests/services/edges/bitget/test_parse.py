"""Bitget frame parsing, v2 and legacy v1 (services/edges/bitget/parse.py)."""

from __future__ import annotations

import json

import pytest

from services.edges.bitget.parse import parse_frame
from services.edges.book import RawLevel
from services.edges.venue import (
    BookUpdate,
    Control,
    ParseError,
    TradeUpdate,
    VenueNotice,
)
from tests.shared_fixtures import fixture_lines


def _one_book(raw: str) -> BookUpdate:
    (update,) = parse_frame(raw)
    assert isinstance(update, BookUpdate)
    return update


def test_v2_snapshot_and_update() -> None:
    snap_line, upd_line = fixture_lines("venues", "bitget", "ws_v2_books_A2ZUSDT_snapshot_update.jsonl")
    snap = _one_book(snap_line)
    assert (snap.symbol, snap.snapshot, snap.seq, snap.prev_seq, snap.checksum) == ("A2ZUSDT", True, 395681152, None, 0)
    assert snap.bids[:2] == [
        RawLevel(3_481_000, 2_820_850_000_000, "0.003481", "28208.5"),
        RawLevel(3_480_000, 1_420_900_000_000, "0.00348", "14209"),
    ]
    assert snap.asks[0] == RawLevel(3_511_000, 1_564_590_000_000, "0.003511", "15645.9")
    assert (len(snap.bids), len(snap.asks)) == (151, 200)
    assert snap.ts_event_ns == 1763528714701_000_000
    upd = _one_book(upd_line)
    assert (upd.snapshot, upd.seq, upd.prev_seq, upd.checksum) == (False, 395681167, None, 1041484092)
    assert upd.bids == [RawLevel(3_480_000, 0, "0.00348", "0")] and upd.asks == []


def test_v2_seq_pseq_examples() -> None:
    snap_line, upd_line = fixture_lines("venues", "bitget", "ws_v2_books_seq_pseq_examples.jsonl")
    snap = _one_book(snap_line)  # books5: always a snapshot, pseq 0
    assert (snap.snapshot, snap.seq, snap.prev_seq, snap.checksum) == (True, 850167842345, 0, None)
    assert snap.bids[1] == RawLevel(83_715_680_000_000, 298_800, "83715.68", "0.002988")
    upd = _one_book(upd_line)
    assert (upd.snapshot, upd.seq, upd.prev_seq) == (False, 850169288983, 850169286126)
    assert upd.asks == [
        RawLevel(83_744_780_000_000, 0, "83744.78", "0"),
        RawLevel(83_747_240_000_000, 23_893_400, "83747.24", "0.238934"),
    ]


def test_legacy_v1_spot_and_futures_books() -> None:
    spot = _one_book(fixture_lines("venues", "bitget", "ws_v1_spot_books_EOSUSDT.jsonl")[1])
    assert (spot.symbol, spot.snapshot, spot.seq, spot.checksum) == ("EOSUSDT", False, None, 331439114)
    assert spot.bids[0] == RawLevel(2_436_200_000, 0, "2.4362", "0")
    assert spot.asks[0] == RawLevel(2_440_900_000, 64_827_000_000, "2.4409", "648.2700")
    mix = _one_book(fixture_lines("venues", "bitget", "ws_v1_mix_books_UNIUSDT.jsonl")[0])
    assert (mix.symbol, mix.snapshot, mix.checksum) == ("UNIUSDT", True, -1083951925)
    assert mix.asks[1] == RawLevel(9_970_000_000, 57_400_000_000, "9.970", "574")


def test_legacy_v1_trades_backlog_is_control_and_updates_are_trades() -> None:
    lines = fixture_lines("venues", "bitget", "ws_v1_spot_trades.jsonl")
    assert parse_frame(lines[0]) == [Control("trade_backlog", "CULTUSDT: 50 trades")]
    (trade,) = parse_frame(lines[-1])
    assert trade == TradeUpdate("EOSUSDT", 2_442_100_000, 207_020_000, "buy", "", 1649290080017_000_000)
    (sell,) = parse_frame(lines[-2])
    assert isinstance(sell, TradeUpdate) and (sell.symbol, sell.aggressor, sell.px_1e9) == (
        "AVAXUSDT",
        "sell",
        83_125_300_000,
    )


def test_v2_trade_update() -> None:
    raw = (
        '{"action":"update","arg":{"instType":"SPOT","channel":"trade","instId":"BTCUSDT"},'
        '"data":[{"ts":"1695716760565","price":"27000.5","size":"0.001","side":"sell","tradeId":"1111111111"}],"ts":1695716761589}'
    )
    assert parse_frame(raw) == [
        TradeUpdate("BTCUSDT", 27_000_500_000_000, 100_000, "sell", "1111111111", 1695716760565_000_000)
    ]


def test_acks_pong_and_errors() -> None:
    ack = '{"event":"subscribe","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"}}'
    assert parse_frame(ack) == [Control("subscribe", "SPOT:books:BTCUSDT")]
    assert parse_frame("pong") == [Control("pong")]
    err = (
        '{"event":"error","arg":{"instType":"SPOT","channel":"books","instId":"NOPEUSDT"},'
        '"code":30001,"msg":"instType:SPOT,channel:books,instId:NOPEUSDT doesn\'t exist","op":"subscribe"}'
    )
    assert parse_frame(err) == [
        VenueNotice("bitget error 30001: instType:SPOT,channel:books,instId:NOPEUSDT doesn't exist", "NOPEUSDT")
    ]


def _book(**data: object) -> str:
    body = {"asks": [["100", "1"]], "bids": [["99", "1"]], "ts": "1", "seq": 2, **data}
    return json.dumps(
        {"action": "update", "arg": {"instType": "SPOT", "channel": "books", "instId": "BTCUSDT"}, "data": [body]}
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ping",
        "{oops",
        '{"truncated": [1, 2',
        "\x00\xffnot json at all",
        "[]",
        "{}",
        '{"arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"}}',
        '{"action":"update","arg":{"instType":"SPOT","channel":"books","instId":""},"data":[]}',
        '{"action":"update","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[["1","2"]]}',
        '{"action":"resend","arg":{"instType":"SPOT","channel":"books","instId":"BTCUSDT"},"data":[{"asks":[],"bids":[]}]}',
        _book(asks=[["100"]]),
        _book(asks=[["", "1"]]),
        _book(bids=[["99", "x"]]),
        _book(bids=[["99", "-2"]]),
        _book(bids=[["99", "0.000000001"]]),
        _book(seq="two"),
        _book(ts="later"),
        '{"action":"update","arg":{"instType":"sp","channel":"trade","instId":"EOSUSDT"},"data":[["1649290080017","2.4421"]]}',
        '{"action":"update","arg":{"instType":"sp","channel":"trade","instId":"EOSUSDT"},"data":[["1649290080017","2.4421","0","buy"]]}',
    ],
)
def test_garbage_and_malformed_frames_raise_parse_error(raw: str) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)


def test_well_formed_variant_of_the_malformed_frame_parses() -> None:
    (update,) = parse_frame(_book(pseq=1))
    assert isinstance(update, BookUpdate) and (update.seq, update.prev_seq) == (2, 1)
