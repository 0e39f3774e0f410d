"""Generated books: the plan equals scipy's LP optimum and never loses to a single venue."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.sor import SorParams, VenueBook, plan_order
from tests.services.sor.oracle import capacity, lp_optimum, plan_cost, venue_cost

pytest.importorskip("scipy", reason="the LP oracle needs scipy (test extra)")

MID = 1_000 * 10**9
CENT = 10**7  # 0.01 USD in px_1e9
QTY_STEP = 10**4  # 0.0001 base units: keeps exact gross gaps far above 1e-9 USD rounding


@dataclass(frozen=True)
class Case:
    side: str
    qty: int
    books: list[VenueBook]
    penalty: int
    limit: int | None


@st.composite
def books_case(draw: st.DrawFn, uniform_fee: bool = False) -> Case:
    side = draw(st.sampled_from(["buy", "sell"]))
    sign = 1 if side == "buy" else -1
    n = draw(st.integers(2, 10))
    fee = draw(st.integers(-200, 3_000))
    books = []
    for v in range(n):
        px = MID + sign * draw(st.integers(1, 500)) * CENT
        levels = []
        for _ in range(draw(st.integers(1, 20))):
            levels.append((px, draw(st.integers(1, 5_000)) * QTY_STEP))
            px += sign * draw(st.integers(1, 100)) * CENT
        books.append(
            VenueBook(
                venue=f"v{v}",
                levels=levels,
                taker_fee_ppm=fee if uniform_fee else draw(st.integers(-200, 3_000)),
                latency_ns=0 if uniform_fee else draw(st.integers(0, 20_000_000)),
                max_qty_1e8=draw(st.one_of(st.none(), st.integers(0, 20_000).map(lambda k: k * QTY_STEP))),
            )
        )
    penalty = 0 if uniform_fee else draw(st.integers(0, 50))
    limit = draw(st.one_of(st.none(), st.integers(-100, 1_000).map(lambda c: MID + sign * c * CENT)))
    total = sum(q for b in books for _, q in b.levels)
    qty = draw(st.integers(1, total * 12 // 10 // QTY_STEP + 1)) * QTY_STEP  # sometimes too big
    return Case(side, qty, books, penalty, limit)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(books_case())
def test_plan_matches_the_lp_optimum_and_beats_every_single_venue(case: Case) -> None:
    # Arrange
    caps = {b.venue: capacity(case.side, b, case.limit) for b in case.books}
    target = min(case.qty, sum(caps.values()))

    # Act
    plan = plan_order(
        case.side,  # type: ignore[arg-type]
        case.qty,
        case.books,
        arrival_mid_px_1e9=MID,
        params=SorParams(latency_penalty_ppm_per_ms=case.penalty),
        limit_px_1e9=case.limit,
    )

    # Assert: fills all it can, nothing more
    assert plan.filled_qty_1e8 == target == sum(a.qty_1e8 for a in plan.allocations)
    assert plan.unroutable_qty_1e8 == case.qty - target
    for a in plan.allocations:
        assert 0 < a.qty_1e8 <= caps[a.venue]
    # Published costs are exactly the documented integer rules applied to the allocations
    exact = plan_cost(case.side, case.books, plan.allocations, case.penalty)
    assert plan.expected_cost_usd_1e9 == exact
    by_name = {b.venue: b for b in case.books}
    for a in plan.allocations:
        assert a.est_cost_usd_1e9 == venue_cost(case.side, by_name[a.venue], a.qty_1e8, case.penalty)
    if target == 0:
        assert plan.allocations == ()
        return
    # Within 0.1 bp of scipy's optimum on the same levels (both directions)
    optimum = lp_optimum(case.side, target, case.books, case.penalty, case.limit)
    gross_usd = sum(a.gross_1e17 for a in plan.allocations) / 1e17
    assert abs(exact / 1e9 - optimum) <= 1e-5 * gross_usd
    # Never worse than any venue that could have filled it alone
    for b in case.books:
        if caps[b.venue] >= target:
            assert exact <= venue_cost(case.side, b, target, case.penalty)


@settings(max_examples=100, deadline=None)
@given(books_case(uniform_fee=True))
def test_sell_mirrors_buy_when_fees_are_uniform(case: Case) -> None:
    # Arrange: reflect every level about the mid (ask at mid+d <-> bid at mid-d)
    mirrored = [
        VenueBook(
            venue=b.venue,
            levels=[(2 * MID - px, q) for px, q in b.levels],
            taker_fee_ppm=b.taker_fee_ppm,
            max_qty_1e8=b.max_qty_1e8,
        )
        for b in case.books
    ]
    other = "sell" if case.side == "buy" else "buy"
    limit = None if case.limit is None else 2 * MID - case.limit

    # Act
    plan = plan_order(case.side, case.qty, case.books, arrival_mid_px_1e9=MID, limit_px_1e9=case.limit)  # type: ignore[arg-type]
    mirror = plan_order(other, case.qty, mirrored, arrival_mid_px_1e9=MID, limit_px_1e9=limit)  # type: ignore[arg-type]

    # Assert: same split, same slippage, sign-flipped price part
    assert [(a.venue, a.qty_1e8) for a in plan.allocations] == [(a.venue, a.qty_1e8) for a in mirror.allocations]
    assert plan.expected_slippage_bps == mirror.expected_slippage_bps
    for a, m in zip(plan.allocations, mirror.allocations):
        assert a.gross_1e17 + m.gross_1e17 == 2 * MID * a.qty_1e8
        assert a.worst_px_1e9 + m.worst_px_1e9 == 2 * MID
