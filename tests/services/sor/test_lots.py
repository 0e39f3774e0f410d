"""Lots and minimums: the rounding heuristic on hand-built books, and its invariants."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.sor import VenueBook, plan_order
from tests.services.sor.oracle import capacity, plan_cost, venue_cost

U = 10**8
P = 10**9


def book(venue: str, levels: list[tuple[int, int]], **kw: int | None) -> VenueBook:
    return VenueBook(venue=venue, levels=levels, taker_fee_ppm=0, **kw)  # type: ignore[arg-type]


def split(plan: object) -> list[tuple[str, int]]:
    return [(a.venue, a.qty_1e8) for a in plan.allocations]  # type: ignore[attr-defined]


def test_allocation_rounds_down_to_its_lot_and_the_remainder_moves_on() -> None:
    # Arrange: a has 0.37 of balance but trades in 0.1 lots; b trades in 0.01 lots
    a = book("a", [(100 * P, 10 * U)], lot_1e8=U // 10, max_qty_1e8=37 * U // 100)
    b = book("b", [(100_500_000_000, 10 * U)], lot_1e8=U // 100)

    # Act
    plan = plan_order("buy", U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert: the LP's 0.37/0.63 becomes 0.3/0.7
    assert split(plan) == [("a", 30 * U // 100), ("b", 70 * U // 100)]
    assert plan.expected_cost_usd_1e9 == 30 * P + 70_350_000_000


def test_venue_below_its_minimum_is_dropped_when_it_cannot_be_raised() -> None:
    # Arrange: b is cheapest but holds 0.2 and takes nothing under 0.5
    a = book("a", [(100 * P, 60 * U // 100)])
    b = book("b", [(99 * P, 20 * U // 100)], min_qty_1e8=U // 2)
    c = book("c", [(100_200_000_000, 10 * U)])

    # Act
    plan = plan_order("buy", U, [a, b, c], arrival_mid_px_1e9=100 * P)

    # Assert
    assert split(plan) == [("a", 60 * U // 100), ("c", 40 * U // 100)]
    assert plan.expected_cost_usd_1e9 == 60 * P + 40_080_000_000


def test_venue_below_its_minimum_is_raised_when_that_fills_more() -> None:
    # Arrange: a holds 0.7; b's 0.3 share is under its 0.5 minimum; dropping b fills only 0.7
    a = book("a", [(100 * P, 70 * U // 100)], lot_1e8=U // 10)
    b = book("b", [(100_100_000_000, 10 * U)], lot_1e8=U // 10, min_qty_1e8=U // 2)

    # Act
    plan = plan_order("buy", U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert: 0.5 + 0.5 beats b alone (100.1)
    assert split(plan) == [("a", U // 2), ("b", U // 2)]
    assert plan.expected_cost_usd_1e9 == 100_050_000_000
    assert (plan.best_single_venue, plan.best_single_venue_cost_usd_1e9) == ("b", 100_100_000_000)


def test_remainder_is_refilled_by_the_cheapest_chunk_even_across_a_level() -> None:
    # Arrange: the LP gives a 0.35 at 100 and b 0.65 at 101; rounding leaves a 0.3, b 0.5
    a = book("a", [(100 * P, 35 * U // 100), (102 * P, 10 * U)], lot_1e8=U // 10)
    b = book("b", [(101 * P, 10 * U)], lot_1e8=U // 4)

    # Act
    plan = plan_order("buy", U, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert: b cannot take 0.2 in 0.25 lots; a takes 0.1 straddling 100/102, then 0.1 at 102
    assert split(plan) == [("a", U // 2), ("b", U // 2)]
    assert plan.expected_cost_usd_1e9 == 100_800_000_000  # 35 + 15.3 + 50.5


def test_exchange_trades_lots_between_venues_to_fill_the_whole_order() -> None:
    # Arrange: rounding leaves a 0.14 (its cap) + b 0.10 and 0.02 that b's 0.05 lots cannot take
    a = book("a", [(100 * P, 14 * U // 100)], lot_1e8=2 * U // 100)
    b = book("b", [(101 * P, U)], lot_1e8=5 * U // 100)

    # Act
    plan = plan_order("buy", 26 * U // 100, [a, b], arrival_mid_px_1e9=100 * P)

    # Assert: the only full fill is a 0.06 + b 0.20 (b alone stops at 0.25)
    assert split(plan) == [("a", 6 * U // 100), ("b", 20 * U // 100)]
    assert (plan.unroutable_qty_1e8, plan.expected_cost_usd_1e9) == (0, 26_200_000_000)
    assert (plan.best_single_venue, plan.best_single_venue_qty_1e8) == ("b", 25 * U // 100)


def test_quantity_finer_than_every_lot_is_unroutable() -> None:
    # Act
    plan = plan_order("buy", 105 * U // 100, [book("a", [(100 * P, 10 * U)], lot_1e8=U // 10)], arrival_mid_px_1e9=100 * P)

    # Assert
    assert split(plan) == [("a", U)]
    assert plan.unroutable_qty_1e8 == 5 * U // 100


def test_minimum_that_is_not_a_lot_multiple_rounds_up_to_the_next_lot() -> None:
    # Arrange: minimum 0.25 with 0.1 lots: the smallest legal order is 0.3
    a = book("a", [(100 * P, 10 * U)], lot_1e8=U // 10, min_qty_1e8=U // 4)

    # Act
    small = plan_order("buy", U // 4, [a], arrival_mid_px_1e9=100 * P)
    enough = plan_order("buy", 3 * U // 10, [a], arrival_mid_px_1e9=100 * P)

    # Assert
    assert (split(small), small.unroutable_qty_1e8, small.best_single_venue) == ([], U // 4, None)
    assert split(enough) == [("a", 3 * U // 10)]


MID = 1_000 * P
CENT = 10**7


@st.composite
def lotted(draw: st.DrawFn) -> tuple[str, int, list[VenueBook]]:
    side = draw(st.sampled_from(["buy", "sell"]))
    sign = 1 if side == "buy" else -1
    books = []
    for v in range(draw(st.integers(1, 6))):
        px = MID + sign * draw(st.integers(1, 300)) * CENT
        levels = []
        for _ in range(draw(st.integers(0, 8))):
            levels.append((px, draw(st.integers(1, 400)) * 10**5))
            px += sign * draw(st.integers(1, 50)) * CENT
        books.append(
            VenueBook(
                venue=f"v{v}",
                levels=levels,
                taker_fee_ppm=draw(st.integers(0, 1_000)),
                lot_1e8=draw(st.sampled_from([1, 10**5, 10**6, 10**7, 3 * 10**6])),
                min_qty_1e8=draw(st.sampled_from([0, 10**6, 5 * 10**6, 2 * 10**7])),
                max_qty_1e8=draw(st.one_of(st.none(), st.integers(0, 5 * U))),
            )
        )
    qty = draw(st.integers(1, 10 * U))
    return side, qty, books


@settings(max_examples=200, deadline=None)
@given(lotted())
def test_lotted_plans_are_legal_exactly_costed_and_never_worse_than_one_venue(case: tuple[str, int, list[VenueBook]]) -> None:
    # Arrange
    side, qty, books = case
    by_name = {b.venue: b for b in books}

    # Act
    plan = plan_order(side, qty, books, arrival_mid_px_1e9=MID)  # type: ignore[arg-type]

    # Assert: every child is legal at its venue
    for a in plan.allocations:
        b = by_name[a.venue]
        assert a.qty_1e8 % b.lot_1e8 == 0
        assert a.qty_1e8 >= max(b.min_qty_1e8, 1)
        assert a.qty_1e8 <= capacity(side, b, None)
    assert plan.filled_qty_1e8 + plan.unroutable_qty_1e8 == qty
    assert plan.expected_cost_usd_1e9 == plan_cost(side, books, plan.allocations, 0)
    # ...and no single venue alone fills more, or as much for less
    for b in books:
        f = min(qty, capacity(side, b, None))
        f -= f % b.lot_1e8
        if f == 0 or f < b.min_qty_1e8:
            continue
        assert plan.filled_qty_1e8 >= f
        if f == plan.filled_qty_1e8:
            assert plan.expected_cost_usd_1e9 <= venue_cost(side, b, f, 0)
