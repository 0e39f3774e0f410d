"""plan_order on hand-built books whose optimal split is known."""

from __future__ import annotations

import pytest

from services.sor import Allocation, InvalidBook, InvalidOrder, SorParams, VenueBook, plan_order

U = 10**8  # one base unit in qty_1e8
P = 10**9  # one USD in px_1e9 / usd_1e9


def book(venue: str, levels: list[tuple[int, int]], fee_ppm: int = 0, **kw: int | None) -> VenueBook:
    return VenueBook(venue=venue, levels=levels, taker_fee_ppm=fee_ppm, **kw)  # type: ignore[arg-type]


def test_split_takes_levels_in_order_of_all_in_unit_cost() -> None:
    # Arrange: a1 costs 100.1 with its 10 bp fee, then b1 100.5, b2 100.6, a2 101.101
    a = book("a", [(100 * P, U), (101 * P, U)], fee_ppm=1_000)
    b = book("b", [(100_500_000_000, U // 2), (100_600_000_000, U)])

    # Act
    plan = plan_order("buy", 2 * U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert
    assert plan.allocations == (
        Allocation(
            venue="a",
            qty_1e8=U,
            est_avg_px_1e9=100 * P,
            worst_px_1e9=100 * P,
            fee_ppm=1_000,
            notional_usd_1e9=100 * P,
            fee_usd_1e9=100_000_000,
            latency_penalty_usd_1e9=0,
            est_cost_usd_1e9=100_100_000_000,
            gross_1e17=100 * P * U,
        ),
        Allocation(
            venue="b",
            qty_1e8=U,
            est_avg_px_1e9=100_550_000_000,
            worst_px_1e9=100_600_000_000,
            fee_ppm=0,
            notional_usd_1e9=100_550_000_000,
            fee_usd_1e9=0,
            latency_penalty_usd_1e9=0,
            est_cost_usd_1e9=100_550_000_000,
            gross_1e17=100_550_000_000 * U,
        ),
    )
    assert (plan.filled_qty_1e8, plan.unroutable_qty_1e8) == (2 * U, 0)
    assert plan.expected_avg_px_1e9 == 100_275_000_000
    assert plan.expected_cost_usd_1e9 == 200_650_000_000
    assert plan.expected_slippage_bps == 27.5
    assert plan.expected_cost_bps == 32.5
    # b alone holds only 1.5: a is the only single venue that fills, at 201 + 0.201 fee
    assert (plan.best_single_venue, plan.best_single_venue_qty_1e8) == ("a", 2 * U)
    assert plan.best_single_venue_cost_usd_1e9 == 201_201_000_000


@pytest.mark.parametrize(("fee_a_ppm", "winner"), [(0, "a"), (3_000, "b")])
def test_fee_decides_the_venue(fee_a_ppm: int, winner: str) -> None:
    # Arrange: a is 10 cents cheaper on price; a 30 bp fee (30 cents) makes it dearer
    a = book("a", [(100 * P, U)], fee_ppm=fee_a_ppm)
    b = book("b", [(100_100_000_000, U)])

    # Act
    plan = plan_order("buy", U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert
    assert [(x.venue, x.qty_1e8) for x in plan.allocations] == [(winner, U)]


@pytest.mark.parametrize(("penalty", "winner", "cost"), [(0, "a", 100 * P), (100, "b", 100_060_005_000)])
def test_latency_penalty_decides_the_venue(penalty: int, winner: str, cost: int) -> None:
    # Arrange: a is 5 cents cheaper but 10 ms away; at 100 ppm/ms that is 10 bp vs b's 1 bp
    a = book("a", [(100 * P, U)], latency_ns=10_000_000)
    b = book("b", [(100_050_000_000, U)], latency_ns=1_000_000)

    # Act
    plan = plan_order("buy", U, [a, b], arrival_mid_px_1e9=100 * P, params=SorParams(latency_penalty_ppm_per_ms=penalty))

    # Assert
    assert [(x.venue, x.est_cost_usd_1e9) for x in plan.allocations] == [(winner, cost)]


def test_latency_penalty_is_charged_in_the_published_cost() -> None:
    # Arrange: 1 ms at 100 ppm/ms = 100 ppm of 100.05 USD
    b = book("b", [(100_050_000_000, U)], latency_ns=1_000_000)

    # Act
    plan = plan_order("buy", U, [b], arrival_mid_px_1e9=100 * P, params=SorParams(latency_penalty_ppm_per_ms=100))

    # Assert
    (alloc,) = plan.allocations
    assert (alloc.notional_usd_1e9, alloc.latency_penalty_usd_1e9) == (100_050_000_000, 10_005_000)
    assert plan.expected_cost_usd_1e9 == 100_060_005_000


def test_limit_price_excludes_levels_beyond_it_and_reports_the_rest_unroutable() -> None:
    # Arrange
    a = book("a", [(100 * P, U), (101 * P, U), (102 * P, U)])
    b = book("b", [(100_500_000_000, U), (103 * P, U)])

    # Act
    loose = plan_order("buy", 3 * U, [a, b], arrival_mid_px_1e9=100 * P, limit_px_1e9=101 * P)
    tight = plan_order("buy", 3 * U, [a, b], arrival_mid_px_1e9=100 * P, limit_px_1e9=100_500_000_000)

    # Assert
    assert [(x.venue, x.qty_1e8, x.worst_px_1e9) for x in loose.allocations] == [("a", 2 * U, 101 * P), ("b", U, 100_500_000_000)]
    assert loose.unroutable_qty_1e8 == 0
    assert [(x.venue, x.qty_1e8) for x in tight.allocations] == [("a", U), ("b", U)]
    assert (tight.filled_qty_1e8, tight.unroutable_qty_1e8) == (2 * U, U)
    assert (tight.best_single_venue, tight.best_single_venue_qty_1e8, tight.best_single_venue_cost_usd_1e9) == ("a", U, 100 * P)
    assert tight.limit_px_1e9 == 100_500_000_000


def test_sell_takes_the_highest_net_bids_and_costs_minus_proceeds() -> None:
    # Arrange: bids best-first; b's 99.9 bid nets more than a's 99.95 after a 10 bp fee
    a = book("a", [(100 * P, U), (99_950_000_000, U)], fee_ppm=1_000)
    b = book("b", [(99_900_000_000, U)])

    # Act
    plan = plan_order("sell", 3 * U // 2, [a, b], arrival_mid_px_1e9=100 * P, limit_px_1e9=99_900_000_000)

    # Assert: a1 nets 99.9, b1 99.9 (tie: a is listed first), a2 99.850
    assert [(x.venue, x.qty_1e8, x.est_avg_px_1e9) for x in plan.allocations] == [("a", U, 100 * P), ("b", U // 2, 99_900_000_000)]
    assert [x.est_cost_usd_1e9 for x in plan.allocations] == [-99_900_000_000, -49_950_000_000]
    assert plan.expected_cost_usd_1e9 == -149_850_000_000
    assert plan.expected_avg_px_1e9 == 99_966_666_666  # 149.95 / 1.5 rounded down for a sell
    assert plan.expected_cost_bps == 10.0


def test_sell_limit_excludes_lower_bids() -> None:
    # Arrange
    a = book("a", [(100 * P, U), (99 * P, U)])

    # Act
    plan = plan_order("sell", 2 * U, [a], arrival_mid_px_1e9=100 * P, limit_px_1e9=99_500_000_000)

    # Assert
    assert (plan.filled_qty_1e8, plan.unroutable_qty_1e8) == (U, U)


def test_balance_cap_limits_a_venue_and_sends_the_rest_elsewhere() -> None:
    # Arrange: a is cheapest but only half a unit of balance is available there
    a = book("a", [(100 * P, 10 * U)], max_qty_1e8=U // 2)
    b = book("b", [(101 * P, 10 * U)])

    # Act
    plan = plan_order("buy", 2 * U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert
    assert [(x.venue, x.qty_1e8) for x in plan.allocations] == [("a", U // 2), ("b", 3 * U // 2)]
    assert (plan.best_single_venue, plan.best_single_venue_cost_usd_1e9) == ("b", 202 * P)


def test_equal_cost_split_collapses_to_one_venue() -> None:
    # Arrange: the LP takes b's unit first (tie, listed first) then half of a's, all at 100;
    # a alone holds the whole order at the same price
    b = book("b", [(100 * P, U)])
    a = book("a", [(100 * P, 2 * U)])

    # Act
    plan = plan_order("buy", U + U // 2, [b, a], arrival_mid_px_1e9=100 * P)

    # Assert: one child instead of two for the same cost
    assert [(x.venue, x.qty_1e8) for x in plan.allocations] == [("a", U + U // 2)]
    assert plan.expected_cost_usd_1e9 == 150 * P
    assert plan.best_single_venue == "a"


def test_no_depth_routes_nothing() -> None:
    # Act
    plan = plan_order("buy", U, [book("a", [])], arrival_mid_px_1e9=100 * P)

    # Assert
    assert plan.allocations == ()
    assert (plan.filled_qty_1e8, plan.unroutable_qty_1e8) == (0, U)
    assert (plan.expected_avg_px_1e9, plan.expected_cost_usd_1e9) == (0, 0)
    assert (plan.expected_slippage_bps, plan.expected_cost_bps) == (0.0, 0.0)
    assert (plan.best_single_venue, plan.best_single_venue_qty_1e8, plan.best_single_venue_cost_usd_1e9) == (None, 0, None)


@pytest.mark.parametrize(
    ("side", "qty", "mid", "limit", "message"),
    [
        ("hold", U, P, None, "side must be"),
        ("buy", 0, P, None, "qty_1e8 must be > 0, got 0"),
        ("buy", U, 0, None, "arrival_mid_px_1e9 must be > 0, got 0"),
        ("buy", U, P, -1, "limit_px_1e9 must be > 0 or None, got -1"),
    ],
)
def test_malformed_orders_are_refused(side: str, qty: int, mid: int, limit: int | None, message: str) -> None:
    with pytest.raises(InvalidOrder, match=message):
        plan_order(side, qty, [book("a", [(P, U)])], arrival_mid_px_1e9=mid, limit_px_1e9=limit)  # type: ignore[arg-type]


def test_duplicate_venue_is_refused() -> None:
    with pytest.raises(InvalidOrder, match="'a' appears twice"):
        plan_order("buy", U, [book("a", [(P, U)]), book("a", [(P, U)])], arrival_mid_px_1e9=P)


def test_bids_given_for_a_buy_are_refused() -> None:
    with pytest.raises(InvalidBook, match="asks ascending for a buy"):
        plan_order("buy", U, [book("a", [(2 * P, U), (P, U)])], arrival_mid_px_1e9=P)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"levels": [(P, U), (P, U)]}, "strictly monotonic"),
        ({"levels": [(P, U), (3 * P, U), (2 * P, U)]}, "level 2 px_1e9=2000000000 after 3000000000"),
        ({"levels": [(P, 0)]}, "level 0 must have"),
        ({"lot_1e8": 0}, "lot_1e8 must be >= 1, got 0"),
        ({"tick_1e9": 0}, "tick_1e9 must be >= 1"),
        ({"min_qty_1e8": -1}, "min_qty_1e8 must be >= 0"),
        ({"max_qty_1e8": -1}, "max_qty_1e8 must be >= 0 or None"),
        ({"latency_ns": -1}, "latency_ns must be >= 0"),
        ({"taker_fee_ppm": -1_000_000}, "taker_fee_ppm must be in"),
        ({"venue": ""}, "non-empty name"),
    ],
)
def test_malformed_books_are_refused(kwargs: dict[str, object], message: str) -> None:
    # Arrange
    fields: dict[str, object] = {"venue": "a", "levels": [(P, U)], "taker_fee_ppm": 0} | kwargs

    # Act / Assert
    with pytest.raises(InvalidBook, match=message):
        VenueBook(**fields)  # type: ignore[arg-type]
