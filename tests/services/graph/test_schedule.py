"""services/graph/schedule.py: TWAP/VWAP slices on a virtual clock and iceberg clips."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.graph import ExecutionSpec, Instrument, NodeSpec
from services.graph.errors import ScheduleError
from services.graph.schedule import (
    Iceberg,
    Slice,
    default_num_slices,
    slices_for,
    twap_schedule,
    volume_profile,
    vwap_schedule,
)

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000  # one second in ns


# --- TWAP --------------------------------------------------------------------------------------


def test_twap_default_is_one_slice_per_10s_with_exact_due_times() -> None:
    # Act
    slices = twap_schedule(1_000_000, 60_000, T0)
    # Assert
    assert slices == [
        Slice(T0, 166_666),
        Slice(T0 + 10 * S, 166_667),
        Slice(T0 + 20 * S, 166_667),
        Slice(T0 + 30 * S, 166_666),
        Slice(T0 + 40 * S, 166_667),
        Slice(T0 + 50 * S, 166_667),
    ]


def test_twap_default_has_at_least_two_slices() -> None:
    # Act / Assert
    assert default_num_slices(5_000) == 2
    assert default_num_slices(125_000) == 12
    assert twap_schedule(10, 5_000, T0) == [Slice(T0, 5), Slice(T0 + 2_500_000_000, 5)]


def test_twap_rounds_to_lots_and_puts_the_odd_remainder_last() -> None:
    # Act
    slices = twap_schedule(1_050, 40_000, T0, num_slices=4, lot_1e8=100)
    # Assert
    assert slices == [Slice(T0, 200), Slice(T0 + 10 * S, 300), Slice(T0 + 20 * S, 200), Slice(T0 + 30 * S, 350)]


def test_twap_leaves_out_slices_too_small_for_a_lot() -> None:
    # Act
    slices = twap_schedule(250, 50_000, T0, num_slices=5, lot_1e8=100)
    # Assert
    assert slices == [Slice(T0 + 20 * S, 100), Slice(T0 + 40 * S, 150)]


def test_twap_randomisation_is_seeded_and_stays_in_each_interval() -> None:
    # Act
    a = twap_schedule(10_000, 40_000, T0, num_slices=4, randomize_pct=20, rng=random.Random(7))
    b = twap_schedule(10_000, 40_000, T0, num_slices=4, randomize_pct=20, rng=random.Random(7))
    plain = twap_schedule(10_000, 40_000, T0, num_slices=4)
    # Assert
    assert a == b
    assert a != plain
    assert sum(s.qty_1e8 for s in a) == 10_000
    for i, s in enumerate(a):
        assert T0 + i * 10 * S <= s.due_ns <= T0 + i * 10 * S + 2 * S  # at most 20% of the interval late
        assert 2_500 * 80 // 120 <= s.qty_1e8 <= 2_500 * 120 // 80


@given(
    qty=st.integers(1, 10**12),
    horizon_ms=st.integers(1, 10**7),
    n=st.integers(1, 50),
    lot=st.integers(1, 10**6),
    pct=st.integers(0, 99),
    seed=st.integers(0, 2**32),
)
def test_twap_slices_always_sum_to_the_quantity(qty: int, horizon_ms: int, n: int, lot: int, pct: int, seed: int) -> None:
    # Act
    slices = twap_schedule(qty, horizon_ms, T0, num_slices=n, lot_1e8=lot, randomize_pct=pct, rng=random.Random(seed))
    # Assert
    assert sum(s.qty_1e8 for s in slices) == qty
    assert all(s.qty_1e8 > 0 for s in slices)
    assert all(s.qty_1e8 % lot == 0 for s in slices[:-1])
    assert [s.due_ns for s in slices] == sorted(s.due_ns for s in slices)
    assert all(T0 <= s.due_ns < T0 + horizon_ms * 1_000_000 for s in slices)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"qty_1e8": 0, "horizon_ms": 1000}, "qty_1e8, horizon_ms and lot_1e8 must be > 0, were 0, 1000 and 1"),
        ({"qty_1e8": 10, "horizon_ms": 0}, "qty_1e8, horizon_ms and lot_1e8 must be > 0, were 10, 0 and 1"),
        ({"qty_1e8": 10, "horizon_ms": 1000, "num_slices": 0}, "num_slices must be >= 1, was 0"),
        ({"qty_1e8": 10, "horizon_ms": 1000, "randomize_pct": 5}, "randomize_pct needs a random.Random, was None"),
        ({"qty_1e8": 10, "horizon_ms": 1000, "randomize_pct": 100, "rng": random.Random(1)},
         "randomize_pct must be in [0, 99], was 100"),
    ],
)
def test_twap_rejects_impossible_requests(kwargs: dict[str, object], message: str) -> None:
    # Act / Assert
    with pytest.raises(ScheduleError) as info:
        twap_schedule(start_ns=T0, **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


# --- VWAP --------------------------------------------------------------------------------------


def test_vwap_slices_follow_the_volume_profile() -> None:
    # Act
    slices = vwap_schedule(800, 40_000, T0, [1, 3, 0, 4])
    # Assert
    assert slices == [Slice(T0, 100), Slice(T0 + 10 * S, 300), Slice(T0 + 30 * S, 400)]


@given(
    qty=st.integers(1, 10**12),
    profile=st.lists(st.integers(0, 10**9), min_size=1, max_size=30),
)
def test_vwap_each_slice_is_within_one_unit_of_its_volume_share(qty: int, profile: list[int]) -> None:
    # Act
    slices = vwap_schedule(qty, 60_000, T0, profile)
    # Assert
    total = sum(profile)
    by_due = {s.due_ns: s.qty_1e8 for s in slices}
    assert sum(by_due.values()) == qty
    for i, volume in enumerate(profile):
        due = T0 + i * 60_000 * 1_000_000 // len(profile)
        expected = qty * volume / total if total else qty / len(profile)
        assert abs(by_due.get(due, 0) - expected) < 1 + 1e-9 * qty


def test_vwap_without_volume_falls_back_to_twap_and_rejects_bad_profiles() -> None:
    # Act / Assert
    assert vwap_schedule(10, 20_000, T0, [0, 0]) == [Slice(T0, 5), Slice(T0 + 10 * S, 5)]
    with pytest.raises(ScheduleError):
        vwap_schedule(10, 20_000, T0, [])
    with pytest.raises(ScheduleError):
        vwap_schedule(10, 20_000, T0, [3, -1])


def test_volume_profile_buckets_recent_trades() -> None:
    # Arrange
    trades = [(T0 - 1, 99), (T0, 5), (T0 + S - 1, 7), (T0 + S, 11), (T0 + 3 * S, 13), (T0 + 4 * S, 17)]
    # Act
    profile = volume_profile(trades, T0, S, 4)
    # Assert
    assert profile == [12, 11, 0, 13]


# --- dispatch ----------------------------------------------------------------------------------


def _spec(**execution: object) -> NodeSpec:
    return NodeSpec(node_id="n", instrument=Instrument(symbol="BTC-USD"), side="buy", qty_1e8=1_000,
                    execution=ExecutionSpec(**execution))  # type: ignore[arg-type]


def test_slices_for_dispatches_on_policy() -> None:
    # Act / Assert
    assert slices_for(_spec(policy="sor"), 1_000, T0) == [Slice(T0, 1_000)]
    assert slices_for(_spec(policy="passive"), 1_000, T0) == [Slice(T0, 1_000)]
    assert slices_for(_spec(policy="twap", horizon_ms=20_000, num_slices=2), 1_000, T0) == [
        Slice(T0, 500), Slice(T0 + 10 * S, 500)
    ]
    assert slices_for(_spec(policy="vwap", horizon_ms=20_000), 1_000, T0, profile=[3, 1]) == [
        Slice(T0, 750), Slice(T0 + 10 * S, 250)
    ]
    with pytest.raises(ScheduleError):
        slices_for(_spec(policy="vwap", horizon_ms=20_000), 1_000, T0)
    with pytest.raises(ScheduleError):
        slices_for(_spec(policy="iceberg", display_qty_1e8=10), 1_000, T0)
    with pytest.raises(ScheduleError):
        slices_for(_spec(policy="twap"), 1_000, T0)


# --- iceberg -----------------------------------------------------------------------------------


def test_iceberg_shows_one_clip_and_replenishes_when_it_fills() -> None:
    # Arrange
    ice = Iceberg(total_qty_1e8=250, display_qty_1e8=100)
    # Act / Assert
    assert ice.next_display(0, 0) == 100  # first clip
    assert ice.next_display(40, 60) == 0  # clip still showing
    assert ice.next_display(100, 0) == 100  # clip filled: replenish
    assert ice.next_display(200, 0) == 50  # last clip is the remainder
    assert ice.next_display(250, 0) == 0


def test_iceberg_tops_up_at_the_refill_level_in_whole_lots() -> None:
    # Arrange
    ice = Iceberg(total_qty_1e8=1_000, display_qty_1e8=100, lot_1e8=10, refill_at_1e8=30)
    # Act / Assert
    assert ice.next_display(0, 31) == 0
    assert ice.next_display(69, 25) == 70  # 100 - 25 = 75 -> 70 in lots of 10


@given(
    display=st.integers(1, 10**5),
    clips=st.integers(0, 40),
    extra=st.integers(1, 10**5),
    lot=st.integers(1, 100),
    refill_pct=st.integers(0, 99),
    seed=st.integers(0, 2**32),
)
def test_iceberg_never_shows_more_than_display_and_clips_sum_to_total(
    display: int, clips: int, extra: int, lot: int, refill_pct: int, seed: int
) -> None:
    # Arrange
    display = max(display, lot)
    total = display * clips + 1 + extra % display
    ice = Iceberg(total, display, lot, refill_at_1e8=display * refill_pct // 100)
    rng = random.Random(seed)
    filled = working = shown = 0
    shown_clips: list[int] = []
    # Act: show clips, fill part of what is working, repeat
    for _ in range(10_000):
        clip = ice.next_display(filled, working)
        if clip:
            shown_clips.append(clip)
            working += clip
            shown += clip
        assert working <= display
        if filled == total:
            break
        assert working > 0  # never stuck with nothing showing
        done = rng.randint(max(1, working // 2), working)  # fills big enough to end the loop
        filled += done
        working -= done
    # Assert
    assert filled == total
    assert shown == total
    assert all(c % lot == 0 for c in shown_clips[:-1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 10), "total and lot must be > 0, were 0 and 1"),
        ((100, 5, 10), "display_qty_1e8 must be >= one lot (10), was 5"),
        ((100, 10, 1, 10), "refill_at_1e8 must be in [0, display), was 10"),
    ],
)
def test_iceberg_rejects_bad_sizes(args: tuple[int, ...], message: str) -> None:
    # Act / Assert
    with pytest.raises(ScheduleError) as info:
        Iceberg(*args)
    assert str(info.value) == message
