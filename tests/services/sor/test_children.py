"""marketable_limit_px: the child's IOC limit on the venue tick."""

from __future__ import annotations

import pytest

from services.sor import InvalidOrder, marketable_limit_px

P = 10**9
TICK = 10**7  # 0.01


def test_without_collar_the_limit_is_the_worst_level() -> None:
    assert marketable_limit_px("buy", 101 * P, TICK) == 101 * P
    assert marketable_limit_px("sell", 99 * P, TICK) == 99 * P


def test_collar_widens_then_rounds_back_toward_the_book() -> None:
    # Arrange: 10 bp of 100.00 = 0.1; 7 bp = 0.07; 7.5 bp = 0.075 -> tick rounds inward
    assert marketable_limit_px("buy", 100 * P, TICK, collar_ppm=750) == 100_070_000_000
    assert marketable_limit_px("sell", 100 * P, TICK, collar_ppm=750) == 99_930_000_000


def test_user_limit_caps_the_collar_on_tick() -> None:
    # Act / Assert: limit 100.055 floors to 100.05 for a buy, ceils to 99.96 for a sell
    assert marketable_limit_px("buy", 100 * P, TICK, collar_ppm=1_000, limit_px_1e9=100_055_000_000) == 100_050_000_000
    assert marketable_limit_px("sell", 100 * P, TICK, collar_ppm=1_000, limit_px_1e9=99_955_000_000) == 99_960_000_000


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidOrder, match="got 0, 0, 1"):
        marketable_limit_px("buy", 1, 0)
