"""Venue scores in the cost model: a badly scored venue loses flow to an equally priced good one."""

from __future__ import annotations

import pytest

from events.tca import VenueScored
from services.sor import InvalidBook, SorParams, VenueBook, VenueScore, plan_order
from services.sor.scores import VenueScoreBook

U = 10**8  # one base unit in qty_1e8
P = 10**9  # one USD in px_1e9 / usd_1e9
PARAMS = SorParams(latency_penalty_ppm_per_ms=5, unfilled_penalty_ppm=1_000)


def books() -> list[VenueBook]:
    # Equal prices and fees, both 20 ms by default: without scores the tie goes to "bad" (listed first).
    levels = [(100 * P, U), (101 * P, U)]
    return [
        VenueBook(venue="bad", levels=levels, taker_fee_ppm=500, latency_ns=20_000_000),
        VenueBook(venue="good", levels=levels, taker_fee_ppm=500, latency_ns=20_000_000),
    ]


def split(plan: object) -> list[tuple[str, int]]:
    return [(a.venue, a.qty_1e8) for a in plan.allocations]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "bad",
    [
        VenueScore(fill_rate_ppm=800_000),  # misses 20%: 200 ppm dearer
        VenueScore(latency_ns=25_000_000),  # 5 ms slower at 5 ppm/ms: 25 ppm dearer
        VenueScore(realised_slippage_ppm=30),  # fills 0.3 bp worse than planned
    ],
)
def test_a_badly_scored_venue_loses_the_order_to_an_equally_priced_good_one(bad: VenueScore) -> None:
    unscored = plan_order("buy", U, books(), arrival_mid_px_1e9=100 * P, params=PARAMS)
    scored = plan_order(
        "buy", U, books(), arrival_mid_px_1e9=100 * P, params=PARAMS, scores={"bad": bad, "good": VenueScore()}
    )
    assert split(unscored) == [("bad", U)]
    assert split(scored) == [("good", U)]
    assert scored.best_single_venue == "good"


def test_the_score_penalty_is_charged_exactly_and_only_the_overflow_goes_to_the_bad_venue() -> None:
    # Arrange: 3 units; the good venue's first level (1 unit at 100) is cheapest, then the bad
    # venue's 100 (with 200 ppm for an 80% fill rate and 10 ppm of slippage) beats either 101.
    scores = {
        "bad": VenueScore(latency_ns=10_000_000, fill_rate_ppm=800_000, realised_slippage_ppm=10),
        "good": VenueScore(latency_ns=2_000_000, fill_rate_ppm=1_000_000, realised_slippage_ppm=-40),
    }
    # Act
    plan = plan_order("buy", 3 * U, books(), arrival_mid_px_1e9=100 * P, params=PARAMS, scores=scores)
    # Assert: good takes 100 and 101 (its all-in 101 is 101 * (1 + 0.0005 + 0.00001) = 101.05151),
    # bad takes one unit at 100: fee 0.05, latency 10 ms * 5 ppm/ms = 50 ppm = 0.005,
    # score 200 ppm + 10 ppm = 210 ppm = 0.021 USD. A better-than-planned fill earns no credit.
    bad, good = plan.allocations
    assert (bad.venue, bad.qty_1e8, good.venue, good.qty_1e8) == ("bad", U, "good", 2 * U)
    assert (bad.fee_usd_1e9, bad.latency_penalty_usd_1e9, bad.score_penalty_usd_1e9) == (50_000_000, 5_000_000, 21_000_000)
    assert bad.est_cost_usd_1e9 == 100 * P + 50_000_000 + 5_000_000 + 21_000_000
    assert (good.latency_penalty_usd_1e9, good.score_penalty_usd_1e9) == (2_010_000, 0)  # 10 ppm of 201 USD


def test_no_scores_and_scores_for_other_venues_plan_exactly_as_before() -> None:
    base = plan_order("buy", 3 * U, books()[::-1], arrival_mid_px_1e9=100 * P, params=PARAMS)
    assert plan_order("buy", 3 * U, books()[::-1], arrival_mid_px_1e9=100 * P, params=PARAMS, scores={}) == base
    others = {"elsewhere": VenueScore(latency_ns=1, fill_rate_ppm=0)}
    assert plan_order("buy", 3 * U, books()[::-1], arrival_mid_px_1e9=100 * P, params=PARAMS, scores=others) == base
    unmeasured = {"bad": VenueScore(), "good": VenueScore()}
    assert plan_order("buy", 3 * U, books()[::-1], arrival_mid_px_1e9=100 * P, params=PARAMS, scores=unmeasured) == base


def test_bad_scores_are_refused() -> None:
    with pytest.raises(InvalidBook, match="fill_rate_ppm"):
        VenueScore(fill_rate_ppm=1_000_001)
    with pytest.raises(InvalidBook, match="latency_ns"):
        VenueScore(latency_ns=-1)


def scored(venue: str, symbol: str, sandbox: bool, latency: int, event_id: str) -> VenueScored:
    return VenueScored(
        event_id=event_id, ts_ns=1, venue=venue, symbol=symbol, is_sandbox=sandbox, latency_ema_ns=latency,
        fill_rate_ppm=900_000, realised_slippage_ppm=None, latency_samples=1, fill_samples=1, slippage_samples=0,
        alpha_num=1, alpha_den=8, first_sample_ns=1, last_sample_ns=1,
    )


def test_the_router_score_book_keeps_the_latest_per_venue_symbol_and_sandbox_flag() -> None:
    book = VenueScoreBook()
    for event in [
        scored("okx", "BTC-USDT", False, 5, "1"),
        scored("okx", "BTC-USDT", False, 7, "2"),
        scored("okx", "BTC-USDT", True, 9, "3"),
        scored("bybit", "ETH-USDT", False, 11, "4"),
    ]:
        book.apply(event)
    assert book.for_symbol("BTC-USDT", False) == {"okx": VenueScore(latency_ns=7, fill_rate_ppm=900_000)}
    assert book.for_symbol("BTC-USDT", True) == {"okx": VenueScore(latency_ns=9, fill_rate_ppm=900_000)}
    assert book.for_symbol("SOL-USDT", False) == {}
