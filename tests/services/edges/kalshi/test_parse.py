"""services/edges/kalshi/parse.py against the Kalshi fixtures (docs examples and real deltas)."""

from __future__ import annotations

import json

import pytest

from services.edges.kalshi.parse import parse_frame
from services.edges.kalshi.sim import created_msg, determined_msg
from services.edges.venue import BookUpdate, Control, MarketNotice, ParseError, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_lines


def _one(raw: str | bytes) -> object:
    parsed = parse_frame(raw)
    assert len(parsed) == 1
    return parsed[0]


def test_doc_snapshot_yes_bids_and_no_bids_as_yes_asks() -> None:
    snap = _one(fixture_lines("venues", "kalshi", "ws_orderbook_doc_example.jsonl")[0])
    assert isinstance(snap, BookUpdate)
    assert snap.symbol == "FED-23DEC-T3.00" and snap.snapshot and not snap.increments
    assert (snap.seq, snap.stream_key) == (2, "7")
    assert [lvl[:2] for lvl in snap.bids] == [(80_000_000, 30_000_000_000), (220_000_000, 33_300_000_000)]
    # NO bids 0.54 x 20 and 0.56 x 146 are YES asks at 0.46 and 0.44
    assert [lvl[:2] for lvl in snap.asks] == [(460_000_000, 2_000_000_000), (440_000_000, 14_600_000_000)]


def test_doc_delta_is_a_signed_increment() -> None:
    delta = _one(fixture_lines("venues", "kalshi", "ws_orderbook_doc_example.jsonl")[1])
    assert isinstance(delta, BookUpdate)
    assert not delta.snapshot and delta.increments
    assert (delta.seq, delta.stream_key) == (3, "7")
    assert [lvl[:2] for lvl in delta.bids] == [(960_000_000, -5_400_000_000)]  # "0.960", "-54.00"
    assert delta.asks == []
    assert delta.ts_event_ns == 1669149841000 * 1_000_000


def test_real_delta_samples() -> None:
    yes, no = (_one(ln) for ln in fixture_lines("venues", "kalshi", "ws_orderbook_delta_samples.jsonl"))
    assert isinstance(yes, BookUpdate) and isinstance(no, BookUpdate)
    assert yes.symbol == "KXHIGHNY-26JUN24-T82" and (yes.seq, yes.stream_key) == (2, "1")
    assert [lvl[:2] for lvl in yes.bids] == [(100_000_000, 700_000_000)] and yes.asks == []
    assert yes.ts_event_ns == 1782316195033 * 1_000_000
    # a NO bid change at 0.04 is a YES ask change at 0.96; fractional contracts survive exactly
    assert no.bids == [] and [lvl[:2] for lvl in no.asks] == [(960_000_000, -5_000_000)]
    assert no.seq == 66


def test_fill_is_control_not_book_data() -> None:
    assert _one(fixture_lines("venues", "kalshi", "ws_fill_doc_example.jsonl")[0]) == Control("fill", "sid=13")


def test_subscribed_and_error_replies() -> None:
    ack = _one('{"id":1,"type":"subscribed","msg":{"channel":"orderbook_delta","sid":4}}')
    assert ack == Control("subscribed", "orderbook_delta sid=4 id=1")
    err = _one('{"id":2,"type":"error","msg":{"code":8,"msg":"Unknown channel name"}}')
    assert isinstance(err, VenueNotice) and "8" in err.message and "Unknown channel name" in err.message


def test_trade() -> None:
    raw = {
        "type": "trade",
        "sid": 11,
        "msg": {
            "trade_id": "d91bc706",
            "market_ticker": "HIGHNY-22DEC23-B53.5",
            "yes_price_dollars": "0.360",
            "no_price_dollars": "0.640",
            "count_fp": "136.00",
            "taker_side": "no",
            "ts": 1669149841,
        },
    }
    assert _one(json.dumps(raw)) == TradeUpdate(
        symbol="HIGHNY-22DEC23-B53.5",
        px_1e9=360_000_000,
        qty_1e8=13_600_000_000,
        aggressor="sell",  # a NO taker sells YES
        trade_id="d91bc706",
        ts_event_ns=1669149841 * 10**9,
    )


def test_empty_snapshot_is_an_empty_book() -> None:
    snap = _one('{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"X"}}')
    assert isinstance(snap, BookUpdate) and snap.bids == [] and snap.asks == []


@pytest.mark.parametrize(
    "raw",
    [
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"0.10"',  # truncated
        b"\x00\xffnot json at all",
        "[1, 2]",
        '{"sid":1}',  # no type
        # legacy integer-cent delta: the dollar fields are required
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price":10,"delta":5,"side":"yes"}}',
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"T","yes":[[8,300]]}}',
        '{"type":"orderbook_delta","sid":1,"msg":{"market_ticker":"T","price_dollars":"0.1","delta_fp":"1","side":"yes"}}',
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"0.1","delta_fp":"1","side":"up"}}',
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"1.2","delta_fp":"1","side":"no"}}',
        '{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"0.1","delta_fp":"x","side":"no"}}',
        '{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"T","yes_dollars_fp":[["0.1","-3"]]}}',
        '{"type":"error","id":1}',
    ],
)
def test_garbage_raises_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)


def _lifecycle(msg: dict[str, object]) -> str:
    return json.dumps({"type": "market_lifecycle_v2", "sid": 4, "msg": msg})


def test_lifecycle_created_lists_both_legs_and_determined_resolves() -> None:
    created = created_msg("KXHIGHNY-26JUN25-T84", "High above 84?", 1_782_300_000, 1_782_400_000)
    (listed,) = parse_frame(_lifecycle(created))
    assert isinstance(listed, MarketNotice) and listed.kind == "listed"
    assert (listed.slug, listed.venue_event_id) == ("KXHIGHNY-26JUN25-T84", "KXHIGHNY-26JUN25")
    assert listed.question == "High above 84?"
    assert listed.outcome_token_ids == ["KXHIGHNY-26JUN25-T84:YES", "KXHIGHNY-26JUN25-T84:NO"]
    assert (listed.start_ns, listed.end_ns) == (1_782_300_000 * 10**9, 1_782_400_000 * 10**9)
    assert listed.url == "https://kalshi.com/markets/kxhighny"
    (no,) = parse_frame(_lifecycle(determined_msg("KXHIGHNY-26JUN25-T84", "no", 1_782_400_100)))
    assert isinstance(no, MarketNotice) and no.kind == "resolved"
    assert (no.winning_outcome, no.winning_token_id, no.losing_token_id) == (
        "No", "KXHIGHNY-26JUN25-T84:NO", "KXHIGHNY-26JUN25-T84:YES",
    )
    assert no.ts_event_ns == 1_782_400_100 * 10**9
    # A voided result or a state change that moves no money is control traffic.
    paused = {"market_ticker": "KXHIGHNY-26JUN25-T84", "event_type": "deactivated"}
    for msg in (determined_msg("KXHIGHNY-26JUN25-T84", "", 1), paused):
        (item,) = parse_frame(_lifecycle(msg))
        assert isinstance(item, Control) and item.kind == "market_lifecycle_v2"
    with pytest.raises(ParseError):
        parse_frame(_lifecycle({"event_type": "created"}))  # no market ticker
