"""Coinbase frame parsing (services/edges/coinbase/parse.py) against the recorded payloads."""

from __future__ import annotations

import pytest

from services.edges.book import RawLevel
from services.edges.coinbase import parse
from services.edges.coinbase.book import ConnectionSequence
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_lines, fixture_path


def _raw(name: str) -> bytes:
    return fixture_path("venues", "coinbase", name).read_bytes()


def test_snapshot_levels_by_side() -> None:
    conn = ConnectionSequence()
    (snap,) = parse.parse_frame(_raw("ws_l2_data_snapshot.json"), conn)
    assert isinstance(snap, BookUpdate)
    assert snap.symbol == "BTC-USD" and snap.snapshot
    assert snap.bids == [
        RawLevel(68_900_000_000_000, 150_000_000),
        RawLevel(68_899_500_000_000, 75_000_000),
        RawLevel(68_899_000_000_000, 230_000_000),
    ]
    assert snap.asks[0] == RawLevel(68_901_000_000_000, 50_000_000)
    assert (snap.seq, snap.prev_seq, snap.first_seq) == (0, None, 0)
    assert snap.ts_event_ns == 1_775_572_200_123_456_000


def test_update_carries_connection_sequence() -> None:
    conn = ConnectionSequence()
    parse.parse_frame(_raw("ws_l2_data_snapshot.json"), conn)
    (upd,) = parse.parse_frame(_raw("ws_l2_data_update.json"), conn)
    assert isinstance(upd, BookUpdate) and not upd.snapshot
    assert upd.bids == [RawLevel(68_900_000_000_000, 200_000_000)]
    assert upd.asks == [RawLevel(68_901_000_000_000, 0)]
    assert (upd.seq, upd.prev_seq, upd.first_seq) == (1, 0, 0)


def test_real_frames_trimmed_numbers_and_nanosecond_timestamps() -> None:
    lines = fixture_lines("venues", "coinbase", "ws_real_frames_perp_intx.jsonl")
    (snap,) = parse.parse_frame(lines[0], ConnectionSequence())
    assert isinstance(snap, BookUpdate)
    assert snap.asks == [RawLevel(79_944_100_000_000, 120_000_000), RawLevel(79_944_000_000_000, 4_800_000)]
    assert snap.bids[0] == RawLevel(79_943_900_000_000, 301_050_000)
    sol = fixture_lines("venues", "coinbase", "ws_real_frames_sol_usd.jsonl")
    conn = ConnectionSequence()
    parse.parse_frame(sol[0], conn)
    (upd,) = parse.parse_frame(sol[1], conn)
    assert isinstance(upd, BookUpdate)
    assert upd.asks == [RawLevel(120_720_000_000, 0)]  # "0" deletes
    assert upd.ts_event_ns == 1_790_396_138_409_935_310  # all nine digits kept


def test_market_trades_side_reading() -> None:
    maker = parse.parse_frame(_raw("ws_market_trades.json"), ConnectionSequence())
    assert maker == [
        TradeUpdate("BTC-USD", 68_900_500_000_000, 150_000, "sell", "995098700", 1_775_572_202_789_012_000),
        TradeUpdate("BTC-USD", 68_900_000_000_000, 5_000_000, "buy", "995098701", 1_775_572_202_800_000_000),
    ]
    taker = parse.parse_frame(_raw("ws_market_trades.json"), ConnectionSequence(), side_is_maker=False)
    assert [t.aggressor for t in taker if isinstance(t, TradeUpdate)] == ["buy", "sell"]
    snapshot = (
        '{"channel":"market_trades","sequence_num":4,"events":[{"type":"snapshot","trades":[{"trade_id":"1",'
        '"product_id":"BTC-USD","price":"1","size":"1","side":"BUY","time":""}]}]}'
    )
    assert parse.parse_frame(snapshot, ConnectionSequence()) == [Control("trades_snapshot", "1 trades")]


def test_control_frames_advance_the_counter() -> None:
    conn = ConnectionSequence()
    assert parse.parse_frame(_raw("ws_subscriptions.json"), conn) == [Control("subscriptions", "level2,market_trades")]
    assert conn.last == 0
    lines = fixture_lines("venues", "coinbase", "ws_real_frames_perp_intx.jsonl")
    assert parse.parse_frame(lines[3], conn) == [Control("heartbeat")]
    assert (conn.last, conn.run_start) == (3, 3)
    assert parse.parse_frame(_raw("ws_ticker.json"), conn) == [Control("ticker", "not consumed")]
    assert parse.parse_frame(lines[4], conn) == [VenueNotice("authentication failure")]


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "\x00\xffnot json at all",
        '{"truncated": [1, 2',
        "[1]",
        '{"channel":"l2_data","sequence_num":1}',
        '{"channel":"l2_data","sequence_num":1,"events":[{"type":"reset","product_id":"B","updates":[]}]}',
        '{"channel":"l2_data","sequence_num":1,"events":[{"type":"update","product_id":"B",'
        '"updates":[{"side":"ask","price_level":"1","new_quantity":"1"}]}]}',
        '{"channel":"l2_data","sequence_num":1,"events":[{"type":"update","product_id":"B",'
        '"updates":[{"side":"bid","price_level":"x","new_quantity":"1"}]}]}',
        '{"channel":"l2_data","sequence_num":1,"events":[{"type":"update","product_id":"B",'
        '"updates":[{"side":"bid","price_level":"1","new_quantity":"-2"}]}]}',
        '{"channel":"market_trades","sequence_num":1,"events":[{"type":"update","trades":[{"trade_id":"1",'
        '"product_id":"B","price":"1","size":"1","side":"UP"}]}]}',
        '{"channel":"l2_data","sequence_num":1,"timestamp":"noon","events":[]}',
        '{"channel":"mystery","sequence_num":1}',
        '{"hello":"world"}',
    ],
)
def test_garbage_raises_parse_error(frame: str) -> None:
    with pytest.raises(ParseError):
        parse.parse_frame(frame, ConnectionSequence())


def test_snapshot_then_update_in_one_frame_merge() -> None:
    frame = (
        '{"channel":"l2_data","sequence_num":7,"events":['
        '{"type":"update","product_id":"B-USD","updates":[{"side":"bid","price_level":"5","new_quantity":"9"}]},'
        '{"type":"snapshot","product_id":"B-USD","updates":[{"side":"bid","price_level":"1","new_quantity":"1"}]},'
        '{"type":"update","product_id":"B-USD","updates":[{"side":"offer","price_level":"2","new_quantity":"3"}]}]}'
    )
    (u,) = parse.parse_frame(frame, ConnectionSequence())
    assert isinstance(u, BookUpdate) and u.snapshot and u.seq == 7
    assert u.bids == [RawLevel(1_000_000_000, 100_000_000)]
    assert u.asks == [RawLevel(2_000_000_000, 300_000_000)]
