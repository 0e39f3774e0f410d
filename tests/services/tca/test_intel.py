"""services/tca/intel.py on hand-built inputs with exact answers."""

from __future__ import annotations

import pytest

from services.tca import intel

USD = 10**9
ONE = 10**8


def test_shares_are_whole_bps_summing_to_exactly_10000() -> None:
    # 10_000 / 3: each floors to 3333, the one bp left goes to the first key on a tied remainder.
    assert intel.shares_bps({"b": 1, "a": 1, "c": 1}) == {"a": 3334, "b": 3333, "c": 3333}
    # 2/3 = 6666.67 (remainder 2 of 3) beats 1/3 = 3333.33 (remainder 1 of 3).
    assert intel.shares_bps({"x": 2, "y": 1}) == {"x": 6667, "y": 3333}
    assert intel.shares_bps({"x": 7, "y": 0}) == {"x": 10_000, "y": 0}
    assert intel.shares_bps({"x": 0, "y": 0}) == {"x": 0, "y": 0}
    assert intel.shares_bps({}) == {}
    with pytest.raises(ValueError, match="weights must be >= 0"):
        intel.shares_bps({"x": -1, "y": 2})


def test_spread_is_over_the_floored_mid_and_needs_both_sides() -> None:
    assert intel.spread_bps(99 * USD, 101 * USD) == 200.0
    # mid = (100e9 + 100.000000001e9) // 2 floors to 100e9: 1 / 100e9 * 1e4
    assert intel.spread_bps(100 * USD, 100 * USD + 1) == 1e-7
    assert intel.spread_bps(0, 101 * USD) is None and intel.spread_bps(99 * USD, 0) is None


def test_levels_notional_rounds_down_once() -> None:
    # 100.000000001 x 0.5 + 3 x 0.00000001 = 50.0000000005 + 0.00000003 -> 50_000_000_030 (down)
    assert intel.levels_notional_usd_1e9([(100 * USD + 1, ONE // 2), (3 * USD, 1)]) == 50_000_000_030


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in (10, 1, 9, 2, 8, 3, 7, 4, 6, 5)]
    assert intel.nearest_rank(values, 50) == 5.0 and intel.nearest_rank(values, 90) == 9.0
    assert intel.nearest_rank(values, 91) == 10.0 and intel.nearest_rank(values, 0) == 1.0
    assert intel.nearest_rank([4.5], 90) == 4.5 and intel.nearest_rank([], 50) is None


def test_p90_adds_the_realised_spread_above_the_median() -> None:
    assert intel.p90_cost_bps(3.0, [float(v) for v in range(1, 11)]) == 7.0  # 3 + (9 - 5)
    assert intel.p90_cost_bps(3.0, [2.0, 2.0, 2.0]) == 3.0  # no dispersion: the book's estimate
    assert intel.p90_cost_bps(3.0, []) is None


def test_vwap_rounds_half_up() -> None:
    assert intel.vwap_1e9(201 * USD * ONE, 2 * ONE) == 100_500_000_000
    assert intel.vwap_1e9(5, 2) == 3 and intel.vwap_1e9(4, 3) == 1  # 2.5 -> 3, 1.33 -> 1
    assert intel.vwap_1e9(0, 0) is None


def test_venue_mix_aggregates_fills_per_venue() -> None:
    fills = [
        ("okx", ONE, 100 * USD, 5),
        ("binance", 2 * ONE, 99 * USD, 0),
        ("okx", ONE, 101 * USD, 7),
    ]
    mix = intel.venue_mix(fills)
    assert mix == [
        {"venue": "binance", "fill_count": 1, "qty_1e8": 2 * ONE, "notional_usd_1e9": 198 * USD,
         "fees_usd_1e9": 0, "vwap_1e9": 99 * USD, "share_bps": 4962},
        # 201 / 399 = 5037.59 bp; 198 / 399 = 4962.41: the left-over bp goes to the larger remainder.
        {"venue": "okx", "fill_count": 2, "qty_1e8": 2 * ONE, "notional_usd_1e9": 201 * USD,
         "fees_usd_1e9": 12, "vwap_1e9": 100_500_000_000, "share_bps": 5038},
    ]
    assert intel.venue_mix([]) == []
