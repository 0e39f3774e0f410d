"""services/edges/binance/parse.py against recorded Binance spot and USD-M payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.edges.binance.adapter import BinanceSpot, BinanceUsdm
from services.edges.book import RawLevel
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_lines, fixture_path

SPOT = BinanceSpot()
USDM = BinanceUsdm()


def only(parsed: list[Any]) -> Any:
    assert len(parsed) == 1
    return parsed[0]


# --- depth ----------------------------------------------------------------------------------


def test_spot_depth_diff_combined_frame() -> None:
    line = fixture_lines("venues", "binance_spot", "ws_depth_diff_NKNUSDT.jsonl")[0]
    upd = only(SPOT.parse(line))
    assert isinstance(upd, BookUpdate)
    assert upd.symbol == "NKNUSDT"
    assert upd.snapshot is False
    assert (upd.first_seq, upd.seq, upd.prev_seq) == (499869750, 499869752, None)
    assert upd.bids == [
        RawLevel(351_300_000, 619_500_000_000),
        RawLevel(347_500_000, 554_800_000_000),
        RawLevel(346_400_000, 622_200_000_000),
    ]
    assert upd.asks == []
    assert upd.ts_event_ns == 1633998512068 * 1_000_000


def test_raw_frame_parses_like_combined_frame() -> None:
    # The /ws endpoint sends the bare event; /stream wraps it. Both must decode the same.
    line = fixture_lines("venues", "binance_spot", "ws_depth_diff_NKNUSDT.jsonl")[1]
    bare = json.dumps(json.loads(line)["data"], separators=(",", ":"))
    assert bare.startswith('{"e":')
    assert SPOT.parse(bare) == SPOT.parse(line) == SPOT.parse(line.encode())
    upd = only(SPOT.parse(bare))
    assert upd.bids == [RawLevel(351_700_000, 426_500_000_000)]
    assert upd.asks == [RawLevel(352_900_000, 1_096_800_000_000)]


def test_usdm_depth_diff_carries_pu_and_transaction_time() -> None:
    line = fixture_lines("venues", "binance_usdm", "ws_depth_diff_SUSHIUSDT.jsonl")[0]
    upd = only(USDM.parse(line))
    assert isinstance(upd, BookUpdate)
    assert upd.symbol == "SUSHIUSDT"
    assert (upd.first_seq, upd.seq, upd.prev_seq) == (600859599090, 600859600917, 600859598061)
    assert upd.bids == [
        RawLevel(7_504_000_000, 81_300_000_000),
        RawLevel(7_609_000_000, 0),  # "0" deletes the level
        RawLevel(7_611_000_000, 200_000_000),
    ]
    assert upd.asks == [RawLevel(7_615_000_000, 156_300_000_000), RawLevel(7_622_000_000, 328_400_000_000)]
    assert upd.ts_event_ns == 1626992741024 * 1_000_000  # T (matching engine), not E


def test_usdm_depth_update_pretty_printed_raw() -> None:
    upd = only(USDM.parse(fixture_path("venues", "binance_usdm", "ws_depth_update_stream.json").read_bytes()))
    assert (upd.first_seq, upd.seq, upd.prev_seq) == (157, 160, 149)
    assert upd.bids == [RawLevel(2_400_000, 1_000_000_000)]
    assert upd.asks == [RawLevel(2_600_000, 10_000_000_000)]


# --- REST snapshots -------------------------------------------------------------------------


def test_spot_rest_snapshot() -> None:
    body = fixture_path("venues", "binance_spot", "rest_depth_snapshot_NKNUSDT.json").read_bytes()
    snap = SPOT.parse_snapshot(body, "NKNUSDT")
    raw = json.loads(body)
    assert snap.snapshot is True
    assert snap.seq == 499869752
    assert (len(snap.bids), len(snap.asks)) == (len(raw["bids"]), len(raw["asks"])) == (609, 1000)
    assert snap.bids[0] == RawLevel(352_100_000, 67_200_000_000)
    assert snap.bids[1] == RawLevel(352_000_000, 114_400_000_000)


def test_usdm_rest_snapshot() -> None:
    body = fixture_path("venues", "binance_usdm", "rest_depth_snapshot_SUSHIUSDT.json").read_bytes()
    snap = USDM.parse_snapshot(body, "SUSHIUSDT")
    assert snap.seq == 600859605926
    assert snap.bids[0] == RawLevel(7_611_000_000, 600_000_000)
    assert len(snap.bids) == len(snap.asks) == 1000
    assert snap.ts_event_ns == 1626992741261 * 1_000_000


def test_snapshot_error_body_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="Invalid symbol"):
        SPOT.parse_snapshot(b'{"code":-1121,"msg":"Invalid symbol."}', "NOPEUSDT")
    with pytest.raises(ParseError):
        USDM.parse_snapshot(b'{"lastUpdateId": 5, "bids": [["1.0"]], "asks": []}', "BTCUSDT")


# --- trades ---------------------------------------------------------------------------------


def test_spot_trade_buyer_maker_is_a_sell() -> None:
    t = only(SPOT.parse(fixture_path("venues", "binance_spot", "ws_trade.json").read_text()))
    assert t == TradeUpdate(
        symbol="ETHUSDT",
        px_1e9=4_149_740_000_000,
        qty_1e8=43_870_000,
        aggressor="sell",
        trade_id="705291099",
        ts_event_ns=1639351062243 * 1_000_000,
    )


def test_spot_agg_trade_buyer_taker_is_a_buy() -> None:
    t = only(SPOT.parse(fixture_path("venues", "binance_spot", "ws_agg_trade.json").read_text()))
    assert (t.symbol, t.px_1e9, t.qty_1e8, t.aggressor, t.trade_id) == (
        "ETHUSDT",
        1_632_460_000_000,
        34_305_000,
        "buy",
        "226532",
    )


def test_usdm_agg_trades() -> None:
    t = only(USDM.parse(fixture_path("venues", "binance_usdm", "ws_agg_trade_stream.json").read_text()))
    assert (t.px_1e9, t.qty_1e8, t.aggressor, t.trade_id, t.ts_event_ns) == (
        1_000_000,
        10_000_000_000,
        "sell",
        "5933014",
        123456785 * 1_000_000,
    )
    lines = fixture_lines("venues", "binance_usdm", "ws_agg_trade.jsonl")
    first = only(USDM.parse(lines[0]))
    assert (first.symbol, first.px_1e9, first.qty_1e8, first.aggressor) == ("CTKUSDT", 1_011_000_000, 1_000_000_000, "buy")
    assert all(isinstance(only(USDM.parse(line)), TradeUpdate) for line in lines)


def test_usdm_trade_stream() -> None:
    t = only(USDM.parse(fixture_path("venues", "binance_usdm", "ws_trade_stream.json").read_text()))
    assert (t.symbol, t.trade_id, t.aggressor) == ("BTCUSDT", "5933014", "sell")


# --- control, notices, streams we do not consume ---------------------------------------------


def test_subscribe_ack_and_list_result() -> None:
    assert SPOT.parse('{"result":null,"id":1}') == [Control("subscribed", "id=1")]
    assert USDM.parse('{"result":["btcusdt@depth@100ms"],"id":3}') == [Control("result", "id=3")]


def test_error_frames_become_notices() -> None:
    notice = only(SPOT.parse('{"error":{"code":2,"msg":"Invalid request: unknown variant"},"id":4}'))
    assert isinstance(notice, VenueNotice)
    assert "2: Invalid request: unknown variant" in notice.message and "id 4" in notice.message
    flat = only(USDM.parse('{"code":0,"msg":"Unknown property","id":7}'))
    assert isinstance(flat, VenueNotice) and "Unknown property" in flat.message


@pytest.mark.parametrize(
    ("venue", "name"),
    [
        ("binance_spot", "ws_book_ticker.jsonl"),
        ("binance_spot", "ws_kline_1m.jsonl"),
        ("binance_usdm", "ws_book_ticker.jsonl"),
        ("binance_usdm", "ws_kline_1m.jsonl"),
    ],
)
def test_unconsumed_streams_are_control(venue: str, name: str) -> None:
    for line in fixture_lines("venues", venue, name):
        c = only(SPOT.parse(line))
        assert isinstance(c, Control) and c.kind == "unhandled"
        assert c.detail == json.loads(line)["stream"]


def test_server_shutdown_event_is_control() -> None:
    assert SPOT.parse('{"e":"serverShutdown","E":1700000000000}') == [Control("unhandled", "serverShutdown")]


# --- garbage ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        "",
        "not json at all",
        "\x00\xff",
        "[1, 2]",
        "42",
        '{"truncated": [1, 2',
        '{"hello":"world"}',
        '{"e":"depthUpdate","s":"BTCUSDT"}',  # required fields missing
        '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1.0"]],"a":[]}',  # level without size
        '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["abc","1"]],"a":[]}',
        '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1.0","-3"]],"a":[]}',  # negative size
        '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["0","3"]],"a":[]}',  # zero price
        '{"e":"depthUpdate","s":"BTCUSDT","U":1,"u":2,"b":[["1.0000000001","3"]],"a":[]}',  # > 1e-9
        '{"e":"depthUpdate","s":"BTCUSDT","U":"x","u":2,"b":[],"a":[]}',
        '{"e":"trade","s":"BTCUSDT","t":1,"p":"1.0","q":"0","T":1,"m":true}',  # zero-size trade
        '{"stream":"btcusdt@depth@100ms","data":5}',
        '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}',
    ],
)
def test_garbage_raises_parse_error(frame: str) -> None:
    with pytest.raises(ParseError):
        SPOT.parse(frame)


def test_truncated_recorded_frames_raise_parse_error() -> None:
    for line in fixture_lines("venues", "binance_usdm", "ws_depth_diff_SUSHIUSDT.jsonl")[:20]:
        with pytest.raises(ParseError):
            USDM.parse(line[: len(line) // 2])
        with pytest.raises(ParseError):
            USDM.parse(line.encode()[:-1])
