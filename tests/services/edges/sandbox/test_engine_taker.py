"""services/edges/sandbox/engine.py, taker side: book walking, consumed liquidity, IOC/FOK,
rejections, latency, idempotency and determinism."""

from __future__ import annotations

import random

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.ids import sandbox_fill_id, sandbox_venue_order_id
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected, SandboxOrder
from tests.services.edges.sandbox.helpers import FEES, LAT, PX, SYM, VENUE, Q, book, order, venue

ASKS = [(100 * PX, 1 * Q), (101 * PX, 2 * Q), (102 * PX, 5 * Q)]
BIDS = [(99 * PX, 3 * Q), (98 * PX, 4 * Q)]
NOW = 1_000_000_000


def fills(outcomes: list[Outcome]) -> list[tuple[int, int, int, str]]:
    return [(o.px_1e9, o.qty_1e8, o.fee_usd_1e9, o.liquidity) for o in outcomes if isinstance(o, Filled)]


def test_market_buy_sweeps_levels_at_their_own_prices_with_exact_vwap_and_fees() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    # Act
    out = v.submit(order("c1", "buy", 4 * Q), NOW)
    # Assert: 1@100, 2@101, 1@102; taker 500 ppm of $100, $202, $102.
    assert fills(out) == [
        (100 * PX, 1 * Q, 50_000_000, "taker"),
        (101 * PX, 2 * Q, 101_000_000, "taker"),
        (102 * PX, 1 * Q, 51_000_000, "taker"),
    ]
    f = [o for o in out if isinstance(o, Filled)]
    vwap = sum(x.px_1e9 * x.qty_1e8 for x in f) // sum(x.qty_1e8 for x in f)
    assert vwap == 101 * PX
    assert sum(x.fee_usd_1e9 for x in f) == 202_000_000


def test_outcomes_are_ack_then_fills_with_deterministic_ids() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    out = v.submit(order("c1", "sell", 5 * Q), NOW)
    voi = sandbox_venue_order_id(VENUE, "c1")
    ts = NOW + LAT
    assert out == [
        Acked("c1", voi, ts),
        Filled("c1", voi, sandbox_fill_id(voi, 1), SYM, "sell", 3 * Q, 99 * PX, 148_500_000, "taker", ts,
               fee_asset="USDT", fee_qty_1e8=14_850_000),
        Filled("c1", voi, sandbox_fill_id(voi, 2), SYM, "sell", 2 * Q, 98 * PX, 98_000_000, "taker", ts,
               fee_asset="USDT", fee_qty_1e8=9_800_000),
    ]


def test_consumed_liquidity_is_not_reused_until_the_level_changes() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("a", "buy", 2 * Q), NOW)  # takes 1@100 and 1@101
    # Act: a second order against the same book state finds only what is left.
    second = v.submit(order("b", "buy", 2 * Q, 101 * PX, "ioc"), NOW)
    # Assert
    assert fills(second) == [(101 * PX, 1 * Q, 50_500_000, "taker")]
    assert second[-1] == Cancelled("b", sandbox_venue_order_id(VENUE, "b"), 1 * Q, 1 * Q, "ioc_remainder", NOW + LAT)


def test_unchanged_level_in_a_new_snapshot_stays_consumed_and_changed_level_refreshes() -> None:
    # Arrange: take all of 100 and 101.
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("a", "buy", 3 * Q), NOW)
    # Act: a snapshot where 100 changed size (2) and 101 did not (2).
    v.on_book(SYM, BIDS, [(100 * PX, 2 * Q), (101 * PX, 2 * Q), (102 * PX, 5 * Q)], NOW + 1)
    out = v.submit(order("b", "buy", 3 * Q, 101 * PX, "ioc"), NOW + 2)
    # Assert: 100 is fresh (2), 101 is still taken, the limit stops at 101.
    assert fills(out) == [(100 * PX, 2 * Q, 100_000_000, "taker")]
    assert out[-1] == Cancelled("b", sandbox_venue_order_id(VENUE, "b"), 2 * Q, 1 * Q, "ioc_remainder", NOW + 2 + LAT)


def test_delta_updates_refresh_only_the_levels_they_touch() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("a", "buy", 3 * Q), NOW)  # 100 and 101 used up
    v.on_book(SYM, [], [(101 * PX, 4 * Q), (100 * PX, 0)], NOW + 1, snapshot=False)
    out = v.submit(order("b", "buy", 5 * Q), NOW + 2)
    assert fills(out) == [(101 * PX, 4 * Q, 202_000_000, "taker"), (102 * PX, 1 * Q, 51_000_000, "taker")]


def test_ioc_limit_fills_within_the_limit_and_cancels_the_rest() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    out = v.submit(order("c", "buy", 5 * Q, 101 * PX, "ioc"), NOW)
    voi = sandbox_venue_order_id(VENUE, "c")
    assert fills(out) == [(100 * PX, 1 * Q, 50_000_000, "taker"), (101 * PX, 2 * Q, 101_000_000, "taker")]
    assert out[-1] == Cancelled("c", voi, 3 * Q, 2 * Q, "ioc_remainder", NOW + LAT)
    assert v.open_orders() == []


def test_market_order_larger_than_the_book_fills_what_exists_and_cancels_the_rest() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    out = v.submit(order("c", "buy", 10 * Q), NOW)
    assert sum(f[1] for f in fills(out)) == 8 * Q
    assert isinstance(out[-1], Cancelled) and out[-1].cancelled_qty_1e8 == 2 * Q


def test_fok_is_rejected_when_the_limit_cannot_fill_it_and_takes_nothing() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    # Act
    rejected = v.submit(order("f1", "buy", 4 * Q, 101 * PX, "fok"), NOW)
    filled = v.submit(order("f2", "buy", 3 * Q, 101 * PX, "fok"), NOW)
    # Assert: no ack for the reject, and the book was not touched by it.
    assert rejected == [
        Rejected("f1", "fok_unfillable", f"qty_1e8={4 * Q} but only {3 * Q} is available within the limit", NOW + LAT)
    ]
    assert fills(filled) == [(100 * PX, 1 * Q, 50_000_000, "taker"), (101 * PX, 2 * Q, 101_000_000, "taker")]


def test_fok_counts_only_untaken_liquidity() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("a", "buy", 1 * Q), NOW)
    out = v.submit(order("b", "buy", 8 * Q, 102 * PX, "fok", "limit"), NOW)
    assert [type(o) for o in out] == [Rejected]


def test_duplicate_client_order_id_returns_the_first_answer_and_places_nothing() -> None:
    # Arrange
    v = venue()
    book(v, BIDS, ASKS)
    first = v.submit(order("dup", "buy", 1 * Q, 95 * PX), NOW)
    # Act: a retry, even with different contents, and later.
    again = v.submit(order("dup", "buy", 7 * Q, 101 * PX), NOW + 5_000)
    # Assert
    assert again == first
    assert [o.client_order_id for o in v.open_orders()] == ["dup"]
    assert v.open_orders()[0].qty_1e8 == 1 * Q
    assert v.history("dup") == tuple(first)


def test_duplicate_of_a_filled_market_order_does_not_take_liquidity_again() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    first = v.submit(order("m", "buy", 1 * Q), NOW)
    again = v.submit(order("m", "buy", 1 * Q), NOW)
    other = v.submit(order("n", "buy", 1 * Q), NOW)
    assert again == first
    assert fills(other) == [(101 * PX, 1 * Q, 50_500_000, "taker")]


def test_rejections_for_listing_book_and_staleness() -> None:
    v = venue(symbols=[SYM, "ETH-USDT-PERP"], max_book_age_ns=1_000)
    ts = NOW + LAT
    unknown = v.submit(SandboxOrder("u", "DOGE-USDT-PERP", "buy", Q, "market"), NOW)
    no_book = v.submit(SandboxOrder("n", "ETH-USDT-PERP", "buy", Q, "market"), NOW)
    book(v, BIDS, ASKS, ts=NOW - 1_001)
    old = v.submit(order("o", "buy", Q), NOW)
    assert unknown == [Rejected("u", "unknown_symbol", f"symbol='DOGE-USDT-PERP' is not listed on {VENUE}", ts)]
    assert no_book == [Rejected("n", "no_book", f"no book for symbol='ETH-USDT-PERP' on {VENUE}", ts)]
    assert old == [Rejected("o", "stale_book", f"book for symbol={SYM!r} is 1001 ns old", ts)]


def test_a_stale_book_rejects_until_a_snapshot_resyncs_it() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.set_stale(SYM)
    stale = v.submit(order("s", "buy", Q), NOW)
    v.on_book(SYM, [], [(100 * PX, 1 * Q)], NOW, snapshot=False)  # a delta does not resync
    still = v.submit(order("s2", "buy", Q), NOW)
    book(v, BIDS, ASKS, ts=NOW)
    fresh = v.submit(order("s3", "buy", Q), NOW)
    assert [o.code for o in stale + still if isinstance(o, Rejected)] == ["stale_book", "stale_book"]
    assert fills(fresh) == [(100 * PX, 1 * Q, 50_000_000, "taker")]


def test_malformed_orders_are_rejected_with_the_field_and_value() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    zero = v.submit(order("z", "buy", 0), NOW)
    priced_market = v.submit(order("p", "buy", Q, 100 * PX, order_type="market"), NOW)
    unpriced_limit = v.submit(order("l", "buy", Q, None, order_type="limit"), NOW)
    ts = NOW + LAT
    assert zero == [Rejected("z", "invalid_order", "qty_1e8=0 must be positive", ts)]
    assert priced_market == [
        Rejected(
            "p",
            "invalid_order",
            "market order carries limit_px_1e9=100000000000; send an IOC limit instead",
            ts,
        )
    ]
    assert unpriced_limit == [Rejected("l", "invalid_order", "limit order needs a positive limit_px_1e9, got None", ts)]


def test_latency_is_exact_without_jitter_and_seeded_with_jitter() -> None:
    # Arrange
    fixed = venue(latency_ns=7_000)
    jittery = venue(latency_ns=7_000, seed=42, jitter_ns=1_000)
    for v in (fixed, jittery):
        book(v, BIDS, ASKS)
    draws = random.Random(42)
    # Act
    a = fixed.submit(order("a", "buy", Q), 500)
    b1 = jittery.submit(order("b1", "buy", Q), 500)
    b2 = jittery.cancel("nope", 900)
    # Assert
    assert [o.ts_ns for o in a] == [7_500, 7_500]
    expected_b1 = 7_500 + draws.randint(0, 1_000)
    assert [o.ts_ns for o in b1] == [expected_b1, expected_b1]
    assert b2[0].ts_ns == 7_900 + draws.randint(0, 1_000)


def scenario(seed: int) -> list[Outcome]:
    v = SandboxVenue(VENUE, FEES, 1_000, random.Random(seed), jitter_ns=10_000)
    out: list[Outcome] = []
    v.on_book(SYM, BIDS, ASKS, 0)
    out += v.submit(order("r1", "buy", 2 * Q, 99 * PX), 10)
    out += v.submit(order("m1", "buy", 2 * Q), 20)
    out += v.on_trade(SYM, 99 * PX, 4 * Q, "sell", 50_000)
    out += v.submit(order("m2", "sell", 3 * Q, 98 * PX, "ioc"), 60_000)
    out += v.cancel("r1", 70_000)
    return out


def test_same_inputs_and_seed_give_identical_outcomes() -> None:
    assert scenario(3) == scenario(3)
    assert scenario(3) != scenario(4)  # the seed is what differs: jittered timestamps


def test_forget_drops_a_final_order_but_never_an_open_one() -> None:
    v = venue()
    book(v, BIDS, ASKS)
    v.submit(order("done", "buy", 1 * Q), NOW)
    v.submit(order("open", "buy", 1 * Q, 90 * PX), NOW)
    assert v.forget("open") is False
    assert v.forget("done") is True
    assert v.history("done") == ()
    assert v.forget("done") is False
    # After the dedup window the id is new again: this places a real second order.
    again = v.submit(order("done", "buy", 1 * Q), NOW)
    assert fills(again) == [(101 * PX, 1 * Q, 50_500_000, "taker")]
