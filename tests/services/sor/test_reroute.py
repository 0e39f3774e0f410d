"""replan_remainder: the unfilled part goes again, without the venues that missed."""

from __future__ import annotations

import pytest

from services.sor import InvalidOrder, VenueBook, plan_order, replan_remainder
from services.sor import marketable_limit_px

U = 10**8
P = 10**9


def books() -> list[VenueBook]:
    return [
        VenueBook(venue="a", levels=[(100 * P, U)], taker_fee_ppm=0),
        VenueBook(venue="b", levels=[(101 * P, U)], taker_fee_ppm=0),
        VenueBook(venue="c", levels=[(102 * P, 5 * U)], taker_fee_ppm=0),
    ]


def test_missed_venue_is_excluded_and_only_the_remainder_is_planned() -> None:
    # Arrange: a and b each got 1; a filled nothing, b filled all
    plan = plan_order("buy", 2 * U, books(), arrival_mid_px_1e9=100 * P, limit_px_1e9=102 * P)

    # Act: a still shows its unit (stale quote) but missed; b's unit is gone from its book
    now = [books()[0], VenueBook(venue="b", levels=[], taker_fee_ppm=0), books()[2]]
    again = replan_remainder(plan, {"a": 0, "b": U}, now)

    # Assert
    assert [(x.venue, x.qty_1e8) for x in plan.allocations] == [("a", U), ("b", U)]
    assert again is not None
    assert [(x.venue, x.qty_1e8) for x in again.allocations] == [("c", U)]
    assert (again.qty_1e8, again.arrival_mid_px_1e9, again.limit_px_1e9) == (U, 100 * P, 102 * P)


def test_partial_fill_counts_as_a_miss_and_unroutable_part_is_retried() -> None:
    # Arrange: only 1.5 of 3 was routable at the limit, a filled half of its 1
    plan = plan_order("buy", 3 * U, books(), arrival_mid_px_1e9=100 * P, limit_px_1e9=101 * P)

    # Act
    again = replan_remainder(plan, {"a": U // 2, "b": U}, books(), exclude=("b",))

    # Assert: 1.5 left; a (missed) and b (excluded) are out, c is above the limit
    assert plan.unroutable_qty_1e8 == U
    assert again is not None
    assert (again.qty_1e8, again.allocations, again.unroutable_qty_1e8) == (3 * U // 2, (), 3 * U // 2)


def test_fully_filled_plan_needs_nothing() -> None:
    # Arrange
    plan = plan_order("buy", 2 * U, books(), arrival_mid_px_1e9=100 * P)

    # Act / Assert
    assert replan_remainder(plan, {"a": U, "b": U}, books()) is None


@pytest.mark.parametrize(("filled", "message"), [({"a": -1}, "must be >= 0, got -1"), ({"a": 3 * U}, "more than plan qty")])
def test_impossible_fills_are_refused(filled: dict[str, int], message: str) -> None:
    # Arrange
    plan = plan_order("buy", 2 * U, books(), arrival_mid_px_1e9=100 * P)

    # Act / Assert
    with pytest.raises(InvalidOrder, match=message):
        replan_remainder(plan, filled, books())


@pytest.mark.parametrize(
    ("side", "limit", "cap"),
    [
        ("buy", None, 100_500_000_000),  # mid + 50 bps
        ("buy", 100_200_000_000, 100_200_000_000),  # the order's own limit is tighter
        ("sell", None, 99_500_000_000),
        ("sell", 99_900_000_000, 99_900_000_000),
    ],
)
def test_reroute_limit_is_the_collar_from_arrival_never_past_the_order_limit(side: str, limit: int | None, cap: int) -> None:
    # Act / Assert
    # The router caps a re-route with the child pricing rule on a 1e-9 tick.
    assert marketable_limit_px(side, 100 * P, 1, collar_ppm=5_000, limit_px_1e9=limit) == cap


def test_reroute_limit_needs_an_arrival_mid() -> None:
    with pytest.raises(InvalidOrder):
        marketable_limit_px("buy", 0, 1, collar_ppm=5_000)
