"""services/edges/sandbox/engine.py, post-only: an order that would take liquidity is rejected
whole (as Binance GTX or OKX/Coinbase post_only), one that does not cross rests and fills as
maker, and a cancel-replace keeps the flag."""

from __future__ import annotations

from dataclasses import replace

from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from tests.services.edges.sandbox.helpers import LAT, PX, SYM, Q, book, order, venue

BIDS = [(99 * PX, 5 * Q), (98 * PX, 4 * Q)]
ASKS = [(101 * PX, 5 * Q), (102 * PX, 5 * Q)]
T0 = 1_000_000


def test_a_post_only_buy_at_or_through_the_ask_is_rejected_and_takes_nothing() -> None:
    for px in (101 * PX, 103 * PX):
        # Arrange
        v = venue()
        book(v, BIDS, ASKS)
        # Act
        out = v.submit(replace(order("p", "buy", 2 * Q, px), post_only=True), T0)
        plain = v.submit(order("g", "buy", 2 * Q, px), T0)  # the same order without the flag
        # Assert: rejected whole, nothing rests; without post-only it would have taken as taker.
        assert out == [Rejected("p", "post_only_would_cross",
                                f"post-only buy at px_1e9={px} would cross the best ask px_1e9={101 * PX}", T0 + LAT)]
        assert [o.client_order_id for o in v.open_orders()] == []
        assert [f.liquidity for f in plain if isinstance(f, Filled)] == ["taker"]


def test_a_post_only_sell_at_the_bid_is_rejected() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    (out,) = v.submit(replace(order("p", "sell", 1 * Q, 99 * PX), post_only=True), T0)
    assert isinstance(out, Rejected) and out.code == "post_only_would_cross"


def test_a_post_only_order_inside_the_spread_rests_and_fills_as_maker() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    # Act
    placed = v.submit(replace(order("p", "buy", 1 * Q, 100 * PX), post_only=True), T0)
    filled = v.on_trade(SYM, 100 * PX, 1 * Q, "sell", T0 + LAT + 1)
    # Assert
    assert [type(o) for o in placed] == [Acked]
    assert [(f.qty_1e8, f.px_1e9, f.liquidity) for f in filled if isinstance(f, Filled)] == [(1 * Q, 100 * PX, "maker")]


def test_a_cancel_replace_of_a_post_only_order_to_a_crossing_price_takes_nothing() -> None:
    # Arrange: a resting post-only bid; the venue amends by cancel-replace.
    v = venue(native_amend=False)
    book(v, BIDS, ASKS)
    v.submit(replace(order("p", "buy", 1 * Q, 99 * PX), post_only=True), T0)
    # Act: move its price through the ask.
    out = v.amend("p", 1 * Q, 101 * PX, T0 + 10 * LAT, new_client_order_id="p2")
    # Assert: the old order is replaced, the replacement is refused as post-only, no fill.
    assert [type(o) for o in out] == [Cancelled, Amended, Rejected]
    assert isinstance(out[-1], Rejected) and out[-1].code == "post_only_would_cross"
    assert not any(isinstance(o, Filled) for o in out) and v.open_orders() == []


def test_a_post_only_market_order_is_invalid() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    (out,) = v.submit(replace(order("m", "buy", 1 * Q), post_only=True), T0)
    assert isinstance(out, Rejected) and (out.code, out.message) == ("invalid_order", "a market order cannot be post-only")
