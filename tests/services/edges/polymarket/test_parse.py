"""services/edges/polymarket/parse.py against the Polymarket market-channel fixtures."""

from __future__ import annotations

import json

import pytest

from services.edges.polymarket.adapter import PolymarketAdapter
from services.edges.polymarket.parse import parse_frame
from services.edges.venue import BookUpdate, Control, MarketNotice, ParseError, Reply, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_path

PM = ("venues", "polymarket")
ASSET_713 = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
ASSET_483 = "48331043336612883890938759509493159234755048973500640148014422747788308965732"
ASSET_521 = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


def _text(name: str) -> str:
    return fixture_path(*PM, name).read_text()


def test_book_event_values() -> None:
    (book,) = parse_frame(_text("ws_market_book_msg.json"))
    assert isinstance(book, BookUpdate)
    assert book.symbol == ASSET_713 and book.snapshot and book.seq is None
    assert [lvl[:2] for lvl in book.bids] == [(500_000_000, 20_000_000_000), (490_000_000, 35_000_000_000)]
    assert [lvl[:2] for lvl in book.asks] == [(510_000_000, 15_000_000_000), (520_000_000, 25_000_000_000)]
    assert book.ts_event_ns == 1703875200000 * 1_000_000


def test_full_book_is_sorted_best_first() -> None:
    """The venue lists bids ascending and asks descending (worst first)."""
    raw = json.loads(_text("ws_book_full.json"))
    (book,) = parse_frame(_text("ws_book_full.json"))
    assert isinstance(book, BookUpdate) and book.symbol == ASSET_483
    assert len(book.bids) == len(raw["bids"]) == 76 and len(book.asks) == len(raw["asks"]) == 86
    assert book.bids[0][:2] == (511_000_000, 130_472_000_000)  # "0.511", "1304.72"
    assert book.bids[-1][:2] == (1_000_000, 900_002_358_000_000)  # "0.001", "9000023.58"
    assert book.asks[0][:2] == (514_000_000, 2_023_087_000_000)  # "0.514", "20230.87"
    assert book.asks[-1][:2] == (999_000_000, 1_050_010_000_000_000)  # "0.999", "10500100"
    assert [lvl.px_1e9 for lvl in book.bids] == sorted((lvl.px_1e9 for lvl in book.bids), reverse=True)
    assert [lvl.px_1e9 for lvl in book.asks] == sorted(lvl.px_1e9 for lvl in book.asks)


def test_price_change_current_shape() -> None:
    (update,) = parse_frame(_text("ws_market_price_change_msg.json"))
    assert isinstance(update, BookUpdate) and not update.snapshot and not update.increments
    assert update.symbol == ASSET_713
    assert [lvl[:2] for lvl in update.bids] == [(510_000_000, 15_000_000_000)] and update.asks == []
    assert update.ts_event_ns == 1703875201000 * 1_000_000


def test_price_change_v2_keeps_order_within_one_token() -> None:
    (update,) = parse_frame(_text("ws_price_change_v2.json"))
    assert isinstance(update, BookUpdate) and update.symbol == ASSET_521
    assert [lvl[:2] for lvl in update.bids] == [
        (600_000_000, 330_000_000_000),
        (500_000_000, 340_000_000_000),
        (700_000_000, 340_000_000_000),
    ]


def test_price_change_for_two_tokens_splits_per_token() -> None:
    raw = json.loads(_text("ws_price_change_v2.json"))
    raw["price_changes"][1]["asset_id"] = "42"
    raw["price_changes"][2]["side"] = "SELL"
    first, second = parse_frame(json.dumps(raw))
    assert isinstance(first, BookUpdate) and isinstance(second, BookUpdate)
    assert first.symbol == ASSET_521 and [lvl.px_1e9 for lvl in first.bids] == [600_000_000]
    assert [lvl.px_1e9 for lvl in first.asks] == [700_000_000]
    assert second.symbol == "42" and [lvl.px_1e9 for lvl in second.bids] == [500_000_000]


def test_legacy_price_change() -> None:
    (update,) = parse_frame(_text("legacy_price_change.json"))
    assert isinstance(update, BookUpdate) and update.symbol == ASSET_483
    assert update.bids == [] and [lvl[:2] for lvl in update.asks] == [(514_000_000, 2_157_408_000_000)]


def test_last_trade_price() -> None:
    (trade,) = parse_frame(_text("ws_last_trade_price.json"))
    assert trade == TradeUpdate(
        symbol="21742633143463906290569050155826241533067272736897614950488156847949938836455",
        px_1e9=491_000_000,
        qty_1e8=8_536_000_000,
        aggressor="sell",
        ts_event_ns=1724564136087 * 1_000_000,
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ws_market_tick_size_msg.json", "tick_size_change"),
        ("ws_tick_size_change.json", "tick_size_change"),
        ("ws_market_best_bid_ask_msg.json", "best_bid_ask"),
    ],
)
def test_info_events_are_control(name: str, kind: str) -> None:
    (item,) = parse_frame(_text(name))
    assert isinstance(item, Control) and item.kind == kind


NVDA_CONDITION = "0x311d0c4b6671ab54af4970c06fcf58662516f5168997bdda209ec3db5aa6b0c1"
NVDA_YES = "76043073756653678226373981964075571318267289248134717369284518995922789326425"
NVDA_NO = "31690934263385727664202099278545688007799199447969475608906331829650099442770"


def test_new_market_lists_the_market_with_its_tokens_yes_first() -> None:
    (item,) = parse_frame(_text("ws_market_new_market_msg.json"))
    assert isinstance(item, MarketNotice) and item.kind == "listed"
    assert (item.slug, item.venue_event_id, item.condition_id) == (
        "nvda-above-240-on-january-30-2026", NVDA_CONDITION, NVDA_CONDITION,
    )
    assert item.question == "Will NVIDIA (NVDA) close above $240 end of January?"
    assert (item.outcomes, item.outcome_token_ids) == (["Yes", "No"], [NVDA_YES, NVDA_NO])
    assert item.url == "https://polymarket.com/event/nvda-above-in-january-2026"
    assert item.start_ns == 1766790415550 * 1_000_000


def test_market_resolved_names_winner_and_loser_by_condition_id() -> None:
    (item,) = parse_frame(_text("ws_market_resolved_msg.json"))
    assert isinstance(item, MarketNotice) and item.kind == "resolved"
    # No slug on the wire: the edge runtime maps the condition id to the slug it listed.
    assert (item.slug, item.venue_event_id) == ("", NVDA_CONDITION)
    assert (item.winning_outcome, item.winning_token_id, item.losing_token_id) == ("Yes", NVDA_YES, NVDA_NO)


def test_lifecycle_events_without_their_tokens_are_parse_errors() -> None:
    resolved = json.loads(_text("ws_market_resolved_msg.json"))
    with pytest.raises(ParseError):
        parse_frame(json.dumps({**resolved, "winning_asset_id": "123"}))
    listed = json.loads(_text("ws_market_new_market_msg.json"))
    with pytest.raises(ParseError):
        parse_frame(json.dumps({**listed, "assets_ids": [NVDA_YES]}))


def test_array_of_events() -> None:
    frame = "[" + _text("ws_market_book_msg.json") + "," + _text("ws_last_trade_price.json") + "]"
    book, trade = parse_frame(frame)
    assert isinstance(book, BookUpdate) and book.snapshot and isinstance(trade, TradeUpdate)
    assert parse_frame("[]") == []


def test_text_frames() -> None:
    assert parse_frame("PONG") == [Control("pong")]
    assert parse_frame(b"PING") == [Reply("PONG")]
    (notice,) = parse_frame("INVALID OPERATION")
    assert isinstance(notice, VenueNotice)


def test_rest_book() -> None:
    token = "23360939988679364027624185518382759743328544433592111535569478055890815567848"
    body = fixture_path(*PM, "rest_book.json").read_bytes()
    book = PolymarketAdapter().parse_snapshot(body, token)
    assert book.snapshot and book.symbol == token
    assert book.bids[0][:2] == (100_000_000, 12_500_000_000)  # "0.1", "125"
    assert book.asks[0][:2] == (140_000_000, 70_500_000_000)  # "0.14", "705"
    assert book.asks[1][:2] == (200_000_000, 7_000_000_000)
    assert len(book.bids) == 5 and len(book.asks) == 7
    with pytest.raises(ParseError):
        PolymarketAdapter().parse_snapshot(body, "some-other-token")
    with pytest.raises(ParseError):
        PolymarketAdapter().parse_snapshot(b'{"asset_id": "1", "bids": [{"price": "0.1"', "1")


@pytest.mark.parametrize(
    "raw",
    [
        '{"event_type":"book","asset_id":"1","bids":[{"price":"0.5","size":"1"}',  # truncated
        b"\x00\xffnot json at all",
        "PONGPONG",
        "17",
        '{"asset_id":"1","bids":[]}',  # no event_type
        '{"event_type":"book","bids":[]}',  # no asset_id
        '{"event_type":"book","asset_id":"1","bids":[{"price":"0.5"}]}',
        '{"event_type":"book","asset_id":"1","bids":[{"price":"abc","size":"1"}]}',
        '{"event_type":"book","asset_id":"1","bids":[{"price":"0.5","size":"-1"}]}',
        '{"event_type":"price_change","market":"m","timestamp":"1"}',
        '{"event_type":"price_change","price_changes":[{"asset_id":"1","price":"0.5","size":"1","side":"UP"}]}',
        '{"event_type":"price_change","price_changes":[{"price":"0.5","size":"1","side":"BUY"}]}',
        '{"event_type":"book","asset_id":"1","timestamp":"soon","bids":[]}',
        '{"event_type":"last_trade_price","asset_id":"1","price":"0.5","size":"1","side":""}',
    ],
)
def test_garbage_raises_parse_error(raw: str | bytes) -> None:
    with pytest.raises(ParseError):
        parse_frame(raw)
