"""Kraken v2 frame parsing (services/edges/kraken/parse.py) against the recorded payloads."""

from __future__ import annotations

import pytest

from services.edges.book import RawLevel
from services.edges.kraken import parse
from services.edges.kraken.parse import PairPrecision
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_lines, fixture_path


def _raw(name: str) -> bytes:
    return fixture_path("venues", "kraken", name).read_bytes()


def test_real_snapshot_keeps_exact_wire_text_and_values() -> None:
    line = fixture_lines("venues", "kraken", "ws_v2_book_ETH-USD_depth10.jsonl")[1]
    (snap,) = parse.parse_frame(line)
    assert isinstance(snap, BookUpdate)
    assert snap.symbol == "ETH/USD" and snap.snapshot and snap.checksum == 2606672715
    assert snap.ts_event_ns == 0  # the real snapshot carries no timestamp
    assert snap.bids[0] == RawLevel(1_797_240_000_000, 43_393_711, "1797.24", "0.43393711")
    assert snap.asks[3] == RawLevel(1_797_300_000_000, 13_909_783_403, "1797.30", "139.09783403")  # trailing 0 kept
    assert snap.bids[8].raw_qty == "4.21870000"
    assert len(snap.bids) == len(snap.asks) == 10


def test_real_update_with_delete() -> None:
    line = fixture_lines("venues", "kraken", "ws_v2_book_ETH-USD_depth10.jsonl")[2]
    (upd,) = parse.parse_frame(line.encode())
    assert isinstance(upd, BookUpdate) and not upd.snapshot
    assert upd.bids == []
    assert upd.asks == [
        RawLevel(1_797_290_000_000, 0, "1797.29", "0.00000000"),
        RawLevel(1_797_520_000_000, 156_601_318, "1797.52", "1.56601318"),
    ]
    assert upd.checksum == 3329440863
    assert upd.ts_event_ns == 1_746_523_046_208_075_000


def test_exponent_and_quoted_numbers() -> None:
    (snap,) = parse.parse_frame(_raw("ws_v2_book_BTC-USD_snapshot_reserialized.json"))
    assert isinstance(snap, BookUpdate)
    assert snap.asks[7] == RawLevel(93_898_000_000_000, 5_325, "93898.0", "5.325e-05")
    (doc,) = parse.parse_frame(_raw("ws_v2_book_checksum_doc_example.json"))
    assert isinstance(doc, BookUpdate)
    assert doc.bids[0] == RawLevel(45_283_500_000_000, 10_000_000, "45283.5", "0.10000000")


def test_trades_carry_the_taker_side() -> None:
    first, second = parse.parse_frame(_raw("ws_trade_update.json"))
    assert first == TradeUpdate("BTC/USD", 105_944_200_000_000, 27_625, "buy", "10218208", 1_696_613_755_440_295_000)
    assert isinstance(second, TradeUpdate)
    assert (second.aggressor, second.px_1e9, second.qty_1e8) == ("sell", 105_910_500_000_000, 12_460)


def test_replies() -> None:
    assert parse.parse_frame(_raw("ws_pong.json")) == [Control("pong")]
    assert parse.parse_frame(_raw("ws_subscribe_response.json")) == [Control("subscribe", "ticker BTC/USD")]
    line = fixture_lines("venues", "kraken", "ws_v2_book_ETH-USD_depth10.jsonl")[0]
    assert parse.parse_frame(line) == [Control("subscribe", "book ETH/USD")]
    assert parse.parse_frame(_raw("ws_add_order_response_failure.json")) == [VenueNotice("EOrder:Insufficient funds")]
    assert parse.parse_frame('{"channel":"heartbeat"}') == [Control("heartbeat")]
    status = '{"channel":"status","type":"update","data":[{"version":"2.0.0","system":"online","api_version":"v2"}]}'
    assert parse.parse_frame(status) == [Control("status")]
    error = (
        '{"error":"Currency pair not supported XYZ/USD","method":"subscribe","success":false,'
        '"symbol":"XYZ/USD","time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}'
    )
    assert parse.parse_frame(error) == [VenueNotice("Currency pair not supported XYZ/USD", "XYZ/USD")]


def test_instrument_snapshot_yields_precisions() -> None:
    frame = (
        '{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled"}],'
        '"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,'
        '"qty_increment":0.00000001,"price_precision":1,"price_increment":0.1,"cost_precision":5}]}}'
    )
    assert parse.parse_frame(frame) == [PairPrecision("BTC/USD", 1, 8), Control("instrument", "snapshot: 1 pairs")]


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "\x00\xffnot json at all",
        '{"truncated": [1, 2',
        "[1, 2, 3]",
        "null",
        '{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[],"asks":[]}]}',  # no checksum
        '{"channel":"book","type":"weird","data":[]}',
        '{"channel":"book","type":"update","data":[{"symbol":"B","bids":[{"price":"abc","qty":1}],"checksum":1}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"B","bids":[{"price":1.5,"qty":-1}],"checksum":1}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"B","bids":[{"price":1.5,"qty":1.123456789}],'
        '"checksum":1}]}',
        '{"channel":"trade","type":"update","data":[{"symbol":"B","side":"up","price":1,"qty":1}]}',
        '{"channel":"book","type":"update","data":[{"symbol":"B","checksum":1,"timestamp":"yesterday"}]}',
        '{"channel":"ticker","type":"update","data":[]}',  # not subscribed: unexpected
        '{"hello":"world"}',
    ],
)
def test_garbage_raises_parse_error(frame: str) -> None:
    with pytest.raises(ParseError):
        parse.parse_frame(frame)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("2025-05-06T09:17:26.208075Z", 1_746_523_046_208_075_000),
        ("2025-05-06T09:17:26Z", 1_746_523_046_000_000_000),
        ("2025-05-06T09:17:26.208075123+00:00", 1_746_523_046_208_075_123),
        ("2025-05-06T11:17:26.5+02:00", 1_746_523_046_500_000_000),
        ("", 0),
    ],
)
def test_rfc3339_ns(text: str, ns: int) -> None:
    assert parse.rfc3339_ns(text) == ns


@pytest.mark.parametrize(
    "text", ["yesterday", "2025-05-06T09:17:26.abcZ", "2025-05-06T09:17:26.²Z", "2025-13-06T09:17:26Z"]
)
def test_rfc3339_ns_rejects_garbage(text: str) -> None:
    with pytest.raises(ParseError):
        parse.rfc3339_ns(text)
