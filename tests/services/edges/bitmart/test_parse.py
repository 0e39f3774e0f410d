"""BitMart frame parsing (services/edges/bitmart/parse.py) on the documented payloads, the
raw-deflate binary form the production host sends, and malformed input."""

from __future__ import annotations

import zlib

import pytest

from services.edges.bitmart.parse import parse_frame
from services.edges.book import RawLevel
from services.edges.venue import (
    BookUpdate,
    Control,
    ParseError,
    TradeUpdate,
    VenueNotice,
)
from tests.services.edges.bitmart.recorded import payload_lines

DEPTH = payload_lines("ws_depth_increase100_BTC_USDT.jsonl")


def _deflate_raw(text: str) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # no zlib header, as the venue sends
    return packer.compress(text.encode()) + packer.flush()


def test_documented_snapshot_and_update() -> None:
    (snap,) = parse_frame(DEPTH[2])
    assert snap == BookUpdate(
        symbol="BTC_USDT",
        snapshot=True,
        bids=[RawLevel(23_105_000_000_000, 180_114_000)],
        asks=[RawLevel(23_200_000_000_000, 69_959_000), RawLevel(28_000_000_000_000, 20_000_000)],
        seq=4,
        ts_event_ns=1_698_292_343_610_000_000,
    )
    (update,) = parse_frame(DEPTH[3])
    assert isinstance(update, BookUpdate) and not update.snapshot
    assert (update.seq, update.bids, update.asks) == (5, [], [RawLevel(23_200_000_000_000, 59_959_000)])


def test_acks_trades_and_refusals() -> None:
    assert parse_frame(DEPTH[1]) == [Control("subscribe", "spot/depth/increase100:BTC_USDT")]
    ack, push = payload_lines("ws_trade.jsonl")[1:]
    assert parse_frame(ack) == [Control("subscribe", "spot/trade:BTC_USDT")]
    assert parse_frame(push) == [
        TradeUpdate("ETH_USDT", 162_120_000_000, 1_108_500_000, "buy", "", 1_542_337_219_120_000_000)
    ]
    unsub, login, login_failed, sub_failed = payload_lines("ws_replies.jsonl")
    assert parse_frame(unsub) == [Control("unsubscribe", "spot/ticker:BTC_USDT")]
    assert parse_frame(login) == [Control("login", "")]
    assert parse_frame(login_failed) == [VenueNotice("bitmart login error 91002: API KEY not found")]
    assert parse_frame(sub_failed) == [VenueNotice("bitmart subscribe error 90004: Invalid channel param")]
    assert parse_frame("pong") == parse_frame(b"pong") == [Control("pong")]


def test_compressed_binary_pushes_parse_like_their_text() -> None:
    for line in DEPTH[1:4]:
        assert parse_frame(_deflate_raw(line)) == parse_frame(line)
    assert parse_frame(DEPTH[2].encode()) == parse_frame(DEPTH[2])  # uncompressed bytes pass through


@pytest.mark.parametrize(
    "raw",
    [
        '{"truncated": [1, 2',
        "\x00\xffnot json at all",
        b"\x00\xffnot deflate",
        '{"table":"spot/depth/increase100"}',  # no data
        '{"table":"spot/depth/increase100","data":[{"symbol":"BTC_USDT","type":"update","asks":[],"bids":[]}]}',
        '{"table":"spot/depth/increase100","data":[{"symbol":"BTC_USDT","type":"partial","version":3}]}',
        '{"table":"spot/depth/increase100","data":[{"type":"update","version":3,"asks":[],"bids":[]}]}',
        '{"table":"spot/depth/increase100","data":[{"symbol":"BTC","type":"update","version":3,"asks":[["x","1"]]}]}',
        '{"table":"spot/depth/increase100","data":[{"symbol":"BTC","type":"update","version":3,"asks":[["100"]]}]}',
        '{"table":"spot/trade","data":[{"symbol":"BTC_USDT","price":"0","size":"1","side":"buy"}]}',
    ],
)
def test_malformed_frames_raise_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)


def test_other_tables_are_harmless() -> None:
    assert parse_frame('{"table":"spot/ticker","data":[]}') == [Control("unhandled", "spot/ticker")]
