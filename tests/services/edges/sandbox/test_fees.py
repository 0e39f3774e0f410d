"""services/edges/sandbox/fees.py: exact fee arithmetic, rounding against us, the defaults."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal, localcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.edges.sandbox.errors import SandboxError, UnknownFeeVenue
from services.edges.sandbox.fees import (
    FeeSchedule,
    default_fee_schedule,
    default_fee_venues,
    fee_usd_1e9,
    notional_usd_1e9,
)

PX = 10**9
Q = 10**8


def test_taker_fee_is_ppm_of_notional() -> None:
    # Arrange: 0.05% taker on 2 units at $101 = $202 notional.
    sched = FeeSchedule("x", maker_ppm=200, taker_ppm=500)
    # Act
    fee = fee_usd_1e9(sched, "taker", 101 * PX, 2 * Q)
    # Assert: $0.101
    assert fee == 101_000_000


def test_maker_fee_uses_maker_rate() -> None:
    sched = FeeSchedule("x", maker_ppm=200, taker_ppm=500)
    assert fee_usd_1e9(sched, "maker", 99 * PX, 1 * Q) == 19_800_000


def test_fee_rounds_up_and_rebate_rounds_towards_zero() -> None:
    # Arrange: 1e-9 USD price, 1e-8 qty: the exact fee is a tiny fraction of 1e-9 USD.
    paid = FeeSchedule("x", maker_ppm=-100, taker_ppm=500)
    # Act / Assert: a cost of a fraction rounds up to 1; a rebate of a fraction rounds to 0.
    assert fee_usd_1e9(paid, "taker", 1, 1) == 1
    assert fee_usd_1e9(paid, "maker", 1, 1) == 0
    assert fee_usd_1e9(paid, "maker", 100 * PX, Q) == -10_000_000


@given(
    ppm=st.integers(min_value=-999_999, max_value=999_999),
    px=st.integers(min_value=1, max_value=10**15),
    qty=st.integers(min_value=1, max_value=10**14),
)
def test_notional_fee_equals_decimal_ceiling(ppm: int, px: int, qty: int) -> None:
    # Arrange: an independent oracle in Decimal dollars, exact: the product has up to 35 digits,
    # past the default 28-digit context (which rounded the oracle, not the fee).
    sched = FeeSchedule("x", maker_ppm=ppm, taker_ppm=ppm)
    with localcontext(prec=60):
        exact = Decimal(ppm) / 10**6 * (Decimal(px) / 10**9) * (Decimal(qty) / 10**8) * 10**9
    # Act / Assert
    assert fee_usd_1e9(sched, "taker", px, qty) == int(exact.to_integral_value(ROUND_CEILING))


def test_a_fee_past_28_digits_is_its_exact_ceiling() -> None:
    # The case the property run found: the default context gave ...959999, the true ceiling is ...960000.
    sched = FeeSchedule("x", maker_ppm=40_001, taker_ppm=40_001)
    assert fee_usd_1e9(sched, "taker", 49_999_999_999_999, 49_999_999_999_999) == 1_000_024_999_999_960_000


def test_kalshi_fee_is_seven_percent_of_p_times_one_minus_p_rounded_up_to_the_cent() -> None:
    sched = default_fee_schedule("kalshi")
    # 100 contracts at $0.50: 0.07 * 100 * 0.25 = $1.75 exactly.
    assert fee_usd_1e9(sched, "taker", 500_000_000, 100 * Q) == 1_750_000_000
    # 1 contract at $0.50: $0.0175 rounds up to $0.02.
    assert fee_usd_1e9(sched, "taker", 500_000_000, 1 * Q) == 20_000_000
    # 10 contracts at $0.03: 0.07 * 10 * 0.03 * 0.97 = $0.02037 -> $0.03.
    assert fee_usd_1e9(sched, "taker", 30_000_000, 10 * Q) == 30_000_000
    assert fee_usd_1e9(sched, "maker", 500_000_000, 100 * Q) == 0


def test_notional_rounds_costs_up_and_proceeds_down() -> None:
    assert notional_usd_1e9(3, 33_333_333, round_up=True) == 1
    assert notional_usd_1e9(3, 33_333_333, round_up=False) == 0
    assert notional_usd_1e9(101 * PX, 2 * Q, round_up=False) == 202 * PX


def test_every_edge_venue_has_a_default_schedule() -> None:
    expected = (
        "binance",
        "bitget",
        "bitmart",
        "bybit",
        "coinbase",
        "cryptocom",
        "hyperliquid",
        "kalshi",
        "kraken",
        "okx",
        "polymarket",
    )
    assert default_fee_venues() == expected
    assert default_fee_schedule("coinbase") == FeeSchedule("coinbase", maker_ppm=6_000, taker_ppm=12_000)
    # Spot and perps share a venue id and are priced apart; an old perp venue id is its perps.
    assert default_fee_schedule("binance") == FeeSchedule("binance", maker_ppm=1_000, taker_ppm=1_000)
    assert default_fee_schedule("binance", "perp") == FeeSchedule("binance", maker_ppm=200, taker_ppm=500)
    assert default_fee_schedule("binance_usdm") == default_fee_schedule("binance", "perp")
    assert default_fee_schedule("bybit", "perp") == FeeSchedule("bybit", maker_ppm=200, taker_ppm=550)
    assert default_fee_schedule("coinbase", "perp") == default_fee_schedule("coinbase")  # one schedule
    assert default_fee_schedule("polymarket") == FeeSchedule("polymarket", maker_ppm=0, taker_ppm=0)


def test_every_default_charges_takers_at_least_as_much_as_makers() -> None:
    for venue in default_fee_venues():
        for kind in ("spot", "perp"):
            sched = default_fee_schedule(venue, kind)
            assert sched.taker_ppm >= sched.maker_ppm >= 0, venue


def test_unknown_venue_names_the_venue() -> None:
    with pytest.raises(UnknownFeeVenue, match="venue='nowhere'"):
        default_fee_schedule("nowhere")


def test_absurd_rate_is_refused_with_field_and_value() -> None:
    with pytest.raises(SandboxError, match="taker_ppm=1000000"):
        FeeSchedule("x", maker_ppm=0, taker_ppm=1_000_000)
