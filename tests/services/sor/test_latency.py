"""EmaLatency: integer EMA of RTT samples."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.sor import EmaLatency, SorError


def test_first_sample_seeds_the_average_then_moves_an_eighth_of_the_gap() -> None:
    # Act
    ema = EmaLatency().update(1_000_000).update(2_000_000).update(1_000_000)

    # Assert: 1e6 -> 1e6 + 125_000 -> 1_125_000 - 15_625
    assert (ema.ema_ns, ema.samples) == (1_109_375, 3)


def test_steps_round_away_from_zero() -> None:
    # Act: gaps of +3 and -3 ns at alpha 1/8 still move 1 ns
    up = EmaLatency(ema_ns=100, samples=1).update(103)
    down = EmaLatency(ema_ns=100, samples=1).update(97)

    # Assert
    assert (up.ema_ns, down.ema_ns) == (101, 99)


@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 16))
def test_a_steady_rtt_is_reached_exactly(start: int, steady: int, den: int) -> None:
    # Arrange
    ema = EmaLatency(alpha_num=1, alpha_den=den).update(start)

    # Act
    for _ in range(2_000):
        ema = ema.update(steady)
        if ema.ema_ns == steady:
            break

    # Assert
    assert ema.ema_ns == steady


def test_alpha_one_follows_the_last_sample() -> None:
    assert EmaLatency(alpha_num=1, alpha_den=1).update(5).update(9).ema_ns == 9


def test_default_before_any_sample() -> None:
    assert (EmaLatency().latency_ns(7), EmaLatency().update(3).latency_ns(7)) == (7, 3)


@pytest.mark.parametrize(("num", "den"), [(0, 8), (9, 8), (-1, 8)])
def test_alpha_outside_zero_one_is_refused(num: int, den: int) -> None:
    with pytest.raises(SorError, match=f"alpha_num={num} alpha_den={den}"):
        EmaLatency(alpha_num=num, alpha_den=den)


def test_negative_sample_is_refused() -> None:
    with pytest.raises(SorError, match="sample_ns must be >= 0, got -1"):
        EmaLatency().update(-1)
