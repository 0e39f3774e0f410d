"""Fixed-point helpers (services/risk/money.py)."""

from __future__ import annotations

from services.risk.money import (
    cost_usd_1e9,
    fee_usd_1e9,
    fmt_ppm,
    fmt_px,
    fmt_qty,
    fmt_usd,
    notional_usd_1e9,
    round_px_to_tick,
    round_qty_down,
    scale_up_ppm,
    usd_to_quote_qty_down,
    usd_to_quote_qty_up,
    utc_day,
)


def test_notional_rounds_down_and_cost_rounds_up() -> None:
    # 0.00000001 BTC at 123.456789123 -> 0.00000123456789123 USD: below 1 nano-dollar resolution.
    px, qty = 123_456_789_123, 1
    assert notional_usd_1e9(px, qty) == 1_234
    assert cost_usd_1e9(px, qty) == 1_235


def test_exact_notional_is_not_rounded() -> None:
    assert notional_usd_1e9(65_000 * 10**9, 10**8) == 65_000 * 10**9
    assert cost_usd_1e9(65_000 * 10**9, 10**8) == 65_000 * 10**9


def test_quote_conversion_and_fee_round_against_us() -> None:
    assert usd_to_quote_qty_up(15) == 2
    assert usd_to_quote_qty_down(15) == 1
    assert fee_usd_1e9(1_000_001, 1_000) == 1_001  # 1000.001 -> 1001


def test_lot_rounding_is_down_and_tick_rounding_favours_the_trader() -> None:
    assert round_qty_down(12_345_678, 10_000) == 12_340_000
    assert round_px_to_tick(100_050_000_000, 100_000_000, "buy") == 100_000_000_000
    assert round_px_to_tick(100_050_000_000, 100_000_000, "sell") == 100_100_000_000
    assert round_px_to_tick(100_000_000_000, 100_000_000, "sell") == 100_000_000_000


def test_scale_up_ppm_rounds_up() -> None:
    assert scale_up_ppm(100 * 10**9, 50_000) == 105 * 10**9
    assert scale_up_ppm(3, 500_000) == 5  # 4.5 -> 5


def test_utc_day_boundaries() -> None:
    day_ns = 86_400 * 10**9
    assert utc_day(0) == 0
    assert utc_day(day_ns - 1) == 0
    assert utc_day(day_ns) == 1


def test_formatting_is_exact_and_readable() -> None:
    assert fmt_qty(1) == "0.00000001"
    assert fmt_qty(10_000) == "0.0001"
    assert fmt_qty(-150_000_000) == "-1.5"
    assert fmt_qty(10**8) == "1"
    assert fmt_usd(2_000_000 * 10**9) == "2,000,000.00"
    assert fmt_usd(1_000_000_004_000_000) == "1,000,000.004"
    assert fmt_usd(-12_500_000_000) == "-12.50"
    assert fmt_px(65_000_500_000_000) == "65000.5"
    assert fmt_ppm(50_000) == "5%"
    assert fmt_ppm(125) == "0.0125%"
