"""services/edges/sandbox/engine.py, maker side: queue position, trades, book shrinkage,
crossing books, cancels and arrival latency."""

from __future__ import annotations

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.ids import sandbox_fill_id, sandbox_venue_order_id
from services.edges.sandbox.orders import Cancelled, Filled, Outcome, Rejected
from tests.services.edges.sandbox.helpers import LAT, PX, SYM, VENUE, Q, book, order, venue

BIDS = [(99 * PX, 5 * Q), (98 * PX, 4 * Q)]
ASKS = [(101 * PX, 5 * Q), (102 * PX, 5 * Q)]
T0 = 1_000_000
LIVE = T0 + LAT  # when the order reaches the venue


def fills(outcomes: list[Outcome]) -> list[tuple[str, int, int, int, str]]:
    return [
        (o.client_order_id, o.px_1e9, o.qty_1e8, o.fee_usd_1e9, o.liquidity) for o in outcomes if isinstance(o, Filled)
    ]


def queue(v: SandboxVenue, coid: str) -> int:
    return next(o.queue_ahead_1e8 for o in v.open_orders() if o.client_order_id == coid)


def test_resting_order_joins_behind_the_displayed_size() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    out = v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    assert fills(out) == []
    assert queue(v, "r") == 5 * Q


def test_fills_only_after_trades_consume_the_queue_ahead_then_partially_as_maker() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    voi = sandbox_venue_order_id(VENUE, "r")
    # Act
    first = v.on_trade(SYM, 99 * PX, 4 * Q, "sell", LIVE + 1)
    ahead_after_first = queue(v, "r")
    second = v.on_trade(SYM, 99 * PX, 2 * Q, "sell", LIVE + 2)
    third = v.on_trade(SYM, 99 * PX, 5 * Q, "sell", LIVE + 3)
    # Assert: 4 of 5 ahead; then 1 ahead + 1 for us; then our last 2. Maker 200 ppm of $99/unit.
    assert first == []
    assert ahead_after_first == 1 * Q
    assert second == [
        Filled("r", voi, sandbox_fill_id(voi, 1), SYM, "buy", 1 * Q, 99 * PX, 19_800_000, "maker", LIVE + 2,
               fee_asset="USDT", fee_qty_1e8=1_980_000)
    ]
    assert third == [
        Filled("r", voi, sandbox_fill_id(voi, 2), SYM, "buy", 2 * Q, 99 * PX, 39_600_000, "maker", LIVE + 3,
               fee_asset="USDT", fee_qty_1e8=3_960_000)
    ]
    assert v.open_orders() == []


def test_trades_on_the_wrong_side_or_price_do_not_move_the_queue() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    assert v.on_trade(SYM, 99 * PX, 4 * Q, "buy", LIVE + 1) == []  # buy aggressor never meets bids
    assert v.on_trade(SYM, 100 * PX, 4 * Q, "sell", LIVE + 2) == []  # above our bid
    assert queue(v, "r") == 5 * Q


def test_trades_before_the_order_reaches_the_venue_do_not_count() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    assert v.on_trade(SYM, 99 * PX, 9 * Q, "sell", LIVE - 1) == []
    assert queue(v, "r") == 5 * Q


def test_price_improving_limit_has_no_queue_and_fills_on_the_next_trade_there() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    out = v.on_trade(SYM, 100 * PX, 2 * Q, "sell", LIVE)
    assert queue(v, "r") == 0
    assert fills(out) == [("r", 100 * PX, 2 * Q, 40_000_000, "maker")]


def test_trade_through_our_price_fills_us_at_our_limit_not_the_trade_price() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    out = v.on_trade(SYM, 98 * PX, 2 * Q, "sell", LIVE)
    assert fills(out) == [("r", 99 * PX, 2 * Q, 39_600_000, "maker")]


def test_one_trade_serves_our_orders_in_price_then_time_priority() -> None:
    # Arrange: a at 99 behind 5; b at 99 behind 5 (+ a); c at 100 with no queue.
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("a", "buy", 2 * Q, 99 * PX), T0)
    v.submit(order("b", "buy", 2 * Q, 99 * PX), T0)
    v.submit(order("c", "buy", 1 * Q, 100 * PX), T0)
    # Act: 9 sold at 99 passes c (through), then 5 displayed ahead, then a, then b.
    out = v.on_trade(SYM, 99 * PX, 9 * Q, "sell", LIVE)
    # Assert
    assert [(c, q) for c, _, q, _, _ in fills(out)] == [("c", 1 * Q), ("a", 2 * Q), ("b", 1 * Q)]


def test_unknown_aggressor_is_inferred_from_the_book() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    v.submit(order("s", "sell", 3 * Q, 101 * PX), T0)
    inside = v.on_trade(SYM, 100 * PX, 9 * Q, "unknown", LIVE)  # inside the spread: nobody's
    at_bid = v.on_trade(SYM, 99 * PX, 6 * Q, "unknown", LIVE)
    assert inside == []
    assert fills(at_bid) == [("r", 99 * PX, 1 * Q, 19_800_000, "maker")]
    assert queue(v, "s") == 5 * Q


def test_book_shrinkage_advances_the_queue_by_its_unexplained_proportional_share() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)  # ahead 5 of 5

    def level(qty: int, ts: int) -> None:
        v.on_book(SYM, [(99 * PX, qty)], [], ts, snapshot=False)

    # Act / Assert, step by step
    level(10 * Q, LIVE + 1)  # 5 joined behind us
    assert queue(v, "r") == 5 * Q
    level(8 * Q, LIVE + 2)  # 2 cancelled, we hold 5/10 of the level: advance 1
    assert queue(v, "r") == 4 * Q
    v.on_trade(SYM, 99 * PX, 3 * Q, "sell", LIVE + 3)  # traded: advance 3
    assert queue(v, "r") == 1 * Q
    level(5 * Q, LIVE + 4)  # the same 3 leave the book: already counted
    assert queue(v, "r") == 1 * Q
    level(3 * Q, LIVE + 5)  # 2 cancelled of 5: share 2*1/5 rounds down to 0.4 unit
    assert queue(v, "r") == 60_000_000
    level(3 * Q - 1, LIVE + 6)  # 1e-8 cancelled: our share 0.2e-8 rounds down to nothing
    assert queue(v, "r") == 60_000_000
    level(0, LIVE + 7)  # the level vanished: nobody left ahead
    assert queue(v, "r") == 0


def test_book_changes_before_arrival_reset_the_queue_to_what_is_displayed_then() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 99 * PX), T0)
    v.on_book(SYM, [(99 * PX, 8 * Q)], [], LIVE - 1, snapshot=False)
    assert queue(v, "r") == 8 * Q


def test_an_opposite_book_crossing_the_order_fills_it_as_maker_at_the_limit() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    # Act: asks arrive at 99.5 (1) and 100 (1): they cross our bid.
    out = v.on_book(SYM, [], [(99 * PX + PX // 2, 1 * Q), (100 * PX, 1 * Q)], LIVE, snapshot=False)
    # Assert: one maker fill of 2 at our 100, not at 99.5.
    assert fills(out) == [("r", 100 * PX, 2 * Q, 40_000_000, "maker")]
    assert v.open_orders()[0].filled_qty_1e8 == 2 * Q


def test_crossing_liquidity_is_consumed_and_not_given_twice() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    v.on_book(SYM, [], [(100 * PX, 1 * Q)], LIVE, snapshot=False)
    again = v.on_book(SYM, [(98 * PX, 1 * Q)], [], LIVE + 1, snapshot=False)  # unrelated level
    taker = v.submit(order("m", "buy", 1 * Q), LIVE + 2)
    assert again == []
    assert fills(taker) == [("m", 101 * PX, 1 * Q, 50_500_000, "taker")]


def test_crossing_before_arrival_does_not_fill() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    out = v.on_book(SYM, [], [(100 * PX, 1 * Q)], LIVE - 1, snapshot=False)
    assert out == []


def test_marketable_gtc_limit_takes_then_rests_the_remainder() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    out = v.submit(order("r", "buy", 7 * Q, 101 * PX), T0)
    assert fills(out) == [("r", 101 * PX, 5 * Q, 252_500_000, "taker")]
    resting = v.open_orders()
    assert [(o.client_order_id, o.qty_1e8, o.filled_qty_1e8, o.queue_ahead_1e8) for o in resting] == [
        ("r", 7 * Q, 5 * Q, 0)
    ]


def test_cancel_reports_the_remainder_and_a_second_cancel_is_rejected() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    v.on_trade(SYM, 100 * PX, 1 * Q, "sell", LIVE)
    first = v.cancel("r", LIVE + 10)
    second = v.cancel("r", LIVE + 20)
    unknown = v.cancel("ghost", LIVE + 30)
    voi = sandbox_venue_order_id(VENUE, "r")
    assert first == [Cancelled("r", voi, 1 * Q, 2 * Q, "user", LIVE + 10 + LAT)]
    assert second == [Rejected("r", "not_open", "client_order_id='r' is cancelled", LIVE + 20 + LAT)]
    assert unknown == [Rejected("ghost", "unknown_order", "client_order_id='ghost' is unknown", LIVE + 30 + LAT)]
    assert v.on_trade(SYM, 100 * PX, 5 * Q, "sell", LIVE + 40) == []


def test_a_stale_book_fills_no_resting_order_until_resynced() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 3 * Q, 100 * PX), T0)
    v.set_stale(SYM)
    stale = v.on_book(SYM, [], [(100 * PX, 1 * Q)], LIVE, snapshot=False)
    resync = v.on_book(SYM, BIDS, [(100 * PX, 2 * Q), *ASKS], LIVE + 1)
    assert stale == []
    assert fills(resync) == [("r", 100 * PX, 2 * Q, 40_000_000, "maker")]
