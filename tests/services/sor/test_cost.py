"""Exact integer cost rules: rounding against us, multipliers, bps."""

from __future__ import annotations

import pytest

from services.sor.cost import avg_px, cost_bps, penalty_ppt, slippage_bps, split_cost, unit_multiplier, walk
from services.sor.errors import SorError

GROSS = 100_000_000_001 * 3  # 3e-8 BTC at 100.000000001 USD: 3000.00000003 nano-USD


def test_buy_rounds_price_fee_and_penalty_up() -> None:
    # Act
    result = split_cost("buy", GROSS, 1_000, 5_000_000_000)

    # Assert: price 3000.00000003 -> 3001, fee 3.00000000003 -> 4, penalty 15.00000000015 -> 16
    assert result == (3001, 4, 16, 3021)


def test_sell_rounds_proceeds_down_and_charges_up() -> None:
    # Act
    result = split_cost("sell", GROSS, 1_000, 5_000_000_000)

    # Assert: cost to us = -3000 + 4 + 16
    assert result == (3000, 4, 16, -2980)


def test_rebate_rounds_toward_zero_against_us() -> None:
    # Act
    result = split_cost("buy", GROSS, -1_000, 0)

    # Assert: a 3.00000000003 rebate pays 3, not 4
    assert result == (3001, -3, 0, 2998)


def test_unit_multiplier_adds_fee_and_penalty_exactly() -> None:
    # Arrange: 1000 ppm fee, 20 ppm/ms over 250 µs = 5 ppm = 5e6 ppt
    pen = penalty_ppt(250_000, 20)

    # Act
    buy, sell = unit_multiplier("buy", 1_000, pen), unit_multiplier("sell", 1_000, pen)

    # Assert
    assert pen == 5_000_000
    assert buy == 1_001_005_000_000
    assert sell == -998_995_000_000


def test_walk_takes_from_the_top_and_reports_the_worst_level() -> None:
    # Arrange
    levels = [(100, 5), (101, 5)]

    # Act / Assert
    assert walk(levels, 5) == (500, 100)
    assert walk(levels, 7) == (702, 101)


def test_walk_refuses_more_than_the_depth() -> None:
    with pytest.raises(SorError, match="short by 1"):
        walk([(100, 5), (101, 5)], 11)


def test_avg_px_rounds_against_us() -> None:
    assert (avg_px("buy", 10, 3), avg_px("sell", 10, 3)) == (4, 3)


def test_bps_are_signed_worse_positive_on_both_sides() -> None:
    # Arrange: mid 100 USD, 1 unit; buy at 101 and sell at 99 are both 100 bps worse
    mid, qty = 100 * 10**9, 10**8

    # Act / Assert
    assert slippage_bps("buy", 101 * 10**9 * qty, qty, mid) == 100.0
    assert slippage_bps("sell", 99 * 10**9 * qty, qty, mid) == 100.0
    assert slippage_bps("buy", 99 * 10**9 * qty, qty, mid) == -100.0
    assert cost_bps("buy", 101 * 10**9, qty, mid) == 100.0
    assert cost_bps("sell", -99 * 10**9, qty, mid) == 100.0
    assert cost_bps("sell", -101 * 10**9, qty, mid) == -100.0
