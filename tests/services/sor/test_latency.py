"""ema_step: integer EMA of samples (the venue scores' RTT, fill rate and slippage)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.sor.latency import ema_step


def test_first_sample_seeds_the_average_then_moves_an_eighth_of_the_gap() -> None:
    # Act
    ema = ema_step(None, 1_000_000, 1, 8)
    ema = ema_step(ema, 2_000_000, 1, 8)
    ema = ema_step(ema, 1_000_000, 1, 8)

    # Assert: 1e6 -> 1e6 + 125_000 -> 1_125_000 - 15_625
    assert ema == 1_109_375


def test_steps_round_away_from_zero() -> None:
    # Act / Assert: gaps of +3 and -3 ns at alpha 1/8 still move 1 ns
    assert (ema_step(100, 103, 1, 8), ema_step(100, 97, 1, 8)) == (101, 99)


@given(st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9), st.integers(1, 16))
def test_a_steady_input_is_reached_exactly(start: int, steady: int, den: int) -> None:
    # Arrange
    ema = ema_step(None, start, 1, den)

    # Act
    for _ in range(2_000):
        ema = ema_step(ema, steady, 1, den)
        if ema == steady:
            break

    # Assert
    assert ema == steady


def test_alpha_one_follows_the_last_sample() -> None:
    assert ema_step(ema_step(None, 5, 1, 1), 9, 1, 1) == 9
