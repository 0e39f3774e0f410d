"""services/edges/bybit/parse.py against recorded Bybit v5 frames."""

from __future__ import annotations

import json

import pytest

from services.edges.bybit.parse import parse_frame
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_lines, fixture_path


def _one(raw: str) -> object:
    parsed = parse_frame(raw)
    assert len(parsed) == 1
    return parsed[0]


def test_subscribe_ack_is_control() -> None:
    ack = _one(fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")[0])
    assert ack == Control("subscribe", "")
    ack = _one(fixture_path("venues", "bybit", "ws_subscription_ack.json").read_text())
    assert ack == Control("subscribe", "sub-orderbook-1")


def test_subscribe_failure_is_venue_notice() -> None:
    notice = _one(fixture_path("venues", "bybit", "ws_subscription_failure.json").read_text())
    assert isinstance(notice, VenueNotice)
    assert "Invalid topic: invalid.topic.BTCUSDT" in notice.message


def test_real_snapshot_values() -> None:
    snap = _one(fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")[1])
    assert isinstance(snap, BookUpdate)
    assert snap.symbol == "BTCUSDT" and snap.snapshot and not snap.increments
    assert snap.seq == 10132540
    assert snap.ts_event_ns == 1773386409389 * 1_000_000
    assert len(snap.bids) == 50 and len(snap.asks) == 50
    assert snap.bids[0][:2] == (71_423_800_000_000, 55_700_000)  # "71423.80", "0.557"
    assert snap.asks[0][:2] == (71_423_900_000_000, 466_900_000)  # "71423.90", "4.669"
    assert snap.asks[-1][:2] == (71_435_300_000_000, 6_000_000)  # "71435.30", "0.060"


def test_real_delta_values() -> None:
    delta = _one(fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")[2])
    assert isinstance(delta, BookUpdate)
    assert not delta.snapshot and delta.seq == 10132541
    assert delta.bids[0][:2] == (71_419_800_000_000, 0)  # "0" deletes
    assert delta.bids[1][:2] == (71_418_200_000_000, 15_900_000)
    assert [lvl.px_1e9 for lvl in delta.asks] == [
        71_427_900_000_000,
        71_428_300_000_000,
        71_433_300_000_000,
        71_435_400_000_000,
    ]


def test_delta_with_u_1_is_a_snapshot() -> None:
    frame = json.loads(fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")[2])
    frame["data"]["u"] = 1
    update = _one(json.dumps(frame))
    assert isinstance(update, BookUpdate) and update.snapshot and update.seq == 1


def test_real_public_trades() -> None:
    trades = parse_frame(fixture_lines("venues", "bybit", "ws_public_trade_BTCUSDT.jsonl")[0])
    assert len(trades) == 9 and all(isinstance(t, TradeUpdate) for t in trades)
    first = trades[0]
    assert first == TradeUpdate(
        symbol="BTCUSDT",
        px_1e9=69_916_800_000_000,
        qty_1e8=100_000,
        aggressor="sell",
        trade_id="8c931d9a-b703-5c34-9aeb-860867cf1f66",
        ts_event_ns=1774021164272 * 1_000_000,
    )
    assert trades[4].qty_1e8 == 3_200_000  # "0.032"
    assert trades[-1].px_1e9 == 69_914_200_000_000


@pytest.mark.parametrize(
    "frame",
    [
        '{"success":true,"ret_msg":"pong","conn_id":"x","req_id":"","op":"ping"}',
        '{"req_id":"","op":"pong","args":["1675418560633"],"conn_id":"x"}',
    ],
)
def test_pong_shapes_are_control(frame: str) -> None:
    assert _one(frame).kind == "pong"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "raw",
    [
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","data":{"s":"BTCUSDT","b":[["1.0","2"]],',  # truncated
        b"\x00\xffnot json at all",
        "[1, 2, 3]",
        '{"hello":"world"}',
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[]}}',  # no u
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["abc","1"]],"u":5}}',
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1.5","-1"]],"u":5}}',
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["1.5"]],"u":5}}',
        '{"topic":"orderbook.50.BTCUSDT","type":"weird","ts":1,"data":{"s":"BTCUSDT","u":5}}',
        '{"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1,"data":{"s":"BTCUSDT","b":[["0.0000000001","1"]],"u":5}}',
        '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":[{"T":1,"s":"BTCUSDT","S":"Buy","v":"x","p":"1"}]}',
        '{"topic":"publicTrade.BTCUSDT","type":"snapshot","ts":1,"data":{"T":1}}',
    ],
)
def test_garbage_raises_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)
