"""Slicing a node's quantity over time: TWAP, VWAP and iceberg (pure, integer math only).

Quantities are split in whole lots by cumulative weight (slice i gets
``floor(lots * W(0..i) / W) - floor(lots * W(0..i-1) / W)`` lots), so the slices are as even as
the weights allow and always sum to the whole; the sub-lot remainder (qty % lot) goes on the last
slice. Slices that come out empty are left out. Slice i is due at
``start_ns + i * horizon_ns // n``.

Randomisation (``randomize_pct`` p, with a passed ``random.Random``) scales each weight by an
integer factor in [100 - p, 100 + p] and delays each slice by up to p% of its own interval, so
slices never leave their interval or change order. The same seed gives the same schedule: derive
it from a logged value (e.g. the NodeActivated event id) so a replay reproduces it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from events.graph import NodeSpec
from services.graph.errors import ScheduleError

DEFAULT_SLICE_INTERVAL_MS = 10_000  # one TWAP slice per 10 s when num_slices is not given
MIN_DEFAULT_SLICES = 2
_NS_PER_MS = 1_000_000

# Urgency (an order that names no policy): how much time it trades for cost.
LOW_URGENCY_HORIZON_MS = 60_000  # low, without horizon_ms: spread over a minute
URGENCY_SLICE_MS = 5_000  # one slice per 5 s of the horizon...
MIN_URGENCY_SLICES, MAX_URGENCY_SLICES = 3, 12  # ...but at least 3 and at most 12


class UrgencyPacing(NamedTuple):
    horizon_ms: int
    num_slices: int


def urgency_pacing(urgency: str, horizon_ms: int | None) -> UrgencyPacing | None:
    """How an order that names no policy is scheduled for its urgency (None = sweep it now).

    * high: one immediate sweep of the consolidated book: done now, paying for the depth it takes.
    * medium: immediate too, unless the caller gives `horizon_ms`: then TWAP over half of it.
    * low: TWAP over `horizon_ms` (default `LOW_URGENCY_HORIZON_MS`): each slice takes only the
      top of books that refill between slices, so it costs less and finishes later.

    Slices: one per `URGENCY_SLICE_MS` of the horizon, clamped to [3, 12]."""
    if urgency == "high" or (urgency == "medium" and horizon_ms is None):
        return None
    if urgency == "medium":
        assert horizon_ms is not None
        horizon = max(1, horizon_ms // 2)
    else:
        horizon = horizon_ms or LOW_URGENCY_HORIZON_MS
    slices = max(MIN_URGENCY_SLICES, min(MAX_URGENCY_SLICES, horizon // URGENCY_SLICE_MS))
    return UrgencyPacing(horizon, slices)


class Slice(NamedTuple):
    due_ns: int
    qty_1e8: int


def default_num_slices(horizon_ms: int) -> int:
    """Return the TWAP slice count for a horizon: one per 10 s, at least 2."""
    return max(MIN_DEFAULT_SLICES, horizon_ms // DEFAULT_SLICE_INTERVAL_MS)


def twap_schedule(
    qty_1e8: int,
    horizon_ms: int,
    start_ns: int,
    *,
    num_slices: int | None = None,
    lot_1e8: int = 1,
    randomize_pct: int = 0,
    rng: random.Random | None = None,
) -> list[Slice]:
    """Return equal slices over the horizon (see the module doc for rounding and randomisation)."""
    n = default_num_slices(horizon_ms) if num_slices is None else num_slices
    if n < 1:
        raise ScheduleError(f"num_slices must be >= 1, was {n}")
    return _schedule(qty_1e8, horizon_ms, start_ns, [1] * n, lot_1e8, randomize_pct, rng)


def vwap_schedule(
    qty_1e8: int,
    horizon_ms: int,
    start_ns: int,
    volume_profile: Sequence[int],
    *,
    lot_1e8: int = 1,
    randomize_pct: int = 0,
    rng: random.Random | None = None,
) -> list[Slice]:
    """Return one slice per profile bucket, sized in proportion to that bucket's traded volume.

    `volume_profile` is traded qty_1e8 per equal bucket of the horizon (see `volume_profile`).
    A profile with no volume at all falls back to TWAP over the same buckets.
    """
    if not volume_profile:
        raise ScheduleError("volume_profile must have at least one bucket, was empty")
    if any(v < 0 for v in volume_profile):
        raise ScheduleError(f"volume_profile must be >= 0 per bucket, was {list(volume_profile)}")
    weights = list(volume_profile) if sum(volume_profile) > 0 else [1] * len(volume_profile)
    return _schedule(qty_1e8, horizon_ms, start_ns, weights, lot_1e8, randomize_pct, rng)


def volume_profile(
    trades: Iterable[tuple[int, int]], start_ns: int, bucket_ns: int, num_buckets: int
) -> list[int]:
    """Sum traded qty_1e8 of `(ts_ns, qty_1e8)` trades into `num_buckets` buckets from start_ns.

    Trades outside ``[start_ns, start_ns + num_buckets * bucket_ns)`` are ignored. Feed it a
    past window (e.g. recent trades or the same window yesterday) to shape a VWAP schedule.
    """
    if bucket_ns <= 0 or num_buckets <= 0:
        raise ScheduleError(f"bucket_ns and num_buckets must be > 0, were {bucket_ns} and {num_buckets}")
    buckets = [0] * num_buckets
    for ts_ns, qty in trades:
        index = (ts_ns - start_ns) // bucket_ns
        if ts_ns >= start_ns and index < num_buckets:
            buckets[index] += qty
    return buckets


def slices_for(
    spec: NodeSpec,
    qty_1e8: int,
    start_ns: int,
    *,
    lot_1e8: int = 1,
    rng: random.Random | None = None,
    profile: Sequence[int] | None = None,
) -> list[Slice]:
    """Return the release schedule of a node's policy for `qty_1e8` starting at `start_ns`.

    sor, aggressive_chase and passive release everything at once; twap and vwap slice over
    ``execution.horizon_ms`` (vwap needs `profile`). Iceberg is reactive: use `Iceberg`.
    """
    ex = spec.execution
    match ex.policy:
        case "sor" | "aggressive_chase" | "passive":
            if qty_1e8 <= 0:
                raise ScheduleError(f"qty_1e8 must be > 0, was {qty_1e8}")
            return [Slice(start_ns, qty_1e8)]
        case "twap":
            return twap_schedule(
                qty_1e8, _horizon(spec), start_ns, num_slices=ex.num_slices, lot_1e8=lot_1e8,
                randomize_pct=ex.randomize_pct, rng=rng,
            )
        case "vwap":
            if profile is None:
                raise ScheduleError(f"node {spec.node_id} has policy vwap: a volume profile is needed")
            return vwap_schedule(
                qty_1e8, _horizon(spec), start_ns, profile, lot_1e8=lot_1e8, randomize_pct=ex.randomize_pct, rng=rng
            )
    raise ScheduleError(f"node {spec.node_id} has policy {ex.policy}: use Iceberg.next_display")


@dataclass(frozen=True, slots=True)
class Iceberg:
    """An order that shows at most `display_qty_1e8` at a time and replenishes as it fills.

    A new clip is shown when the working (shown, unfilled) quantity has fallen to
    `refill_at_1e8` or below: 0, the default, replenishes only when the clip is fully filled
    or gone; a higher value tops up earlier. Working plus the new clip never exceeds the display
    size, and clips are whole lots except the final remainder.
    """

    total_qty_1e8: int
    display_qty_1e8: int
    lot_1e8: int = 1
    refill_at_1e8: int = 0

    def __post_init__(self) -> None:
        if self.total_qty_1e8 <= 0 or self.lot_1e8 <= 0:
            raise ScheduleError(f"total and lot must be > 0, were {self.total_qty_1e8} and {self.lot_1e8}")
        if self.display_qty_1e8 < self.lot_1e8:
            raise ScheduleError(f"display_qty_1e8 must be >= one lot ({self.lot_1e8}), was {self.display_qty_1e8}")
        if not 0 <= self.refill_at_1e8 < self.display_qty_1e8:
            raise ScheduleError(f"refill_at_1e8 must be in [0, display), was {self.refill_at_1e8}")

    def next_display(self, filled_so_far_1e8: int, working_qty_1e8: int) -> int:
        """Return the qty of the next child to show now (0 = nothing to add yet)."""
        if filled_so_far_1e8 < 0 or working_qty_1e8 < 0:
            raise ScheduleError(f"filled and working must be >= 0, were {filled_so_far_1e8} and {working_qty_1e8}")
        if working_qty_1e8 > self.refill_at_1e8:
            return 0
        remaining = self.total_qty_1e8 - filled_so_far_1e8 - working_qty_1e8
        clip = min(self.display_qty_1e8 - working_qty_1e8, remaining)
        if clip <= 0:
            return 0
        if clip < remaining:
            clip -= clip % self.lot_1e8
        return clip


# ---------------------------------------------------------------------------------------------


def _horizon(spec: NodeSpec) -> int:
    if spec.execution.horizon_ms is None:
        raise ScheduleError(f"node {spec.node_id} has policy {spec.execution.policy} but no horizon_ms")
    return spec.execution.horizon_ms


def _schedule(
    qty_1e8: int,
    horizon_ms: int,
    start_ns: int,
    weights: list[int],
    lot_1e8: int,
    randomize_pct: int,
    rng: random.Random | None,
) -> list[Slice]:
    if qty_1e8 <= 0 or horizon_ms <= 0 or lot_1e8 <= 0:
        raise ScheduleError(
            f"qty_1e8, horizon_ms and lot_1e8 must be > 0, were {qty_1e8}, {horizon_ms} and {lot_1e8}"
        )
    if not 0 <= randomize_pct <= 99:
        raise ScheduleError(f"randomize_pct must be in [0, 99], was {randomize_pct}")
    if randomize_pct and rng is None:
        raise ScheduleError("randomize_pct needs a random.Random, was None")
    n = len(weights)
    horizon_ns = horizon_ms * _NS_PER_MS
    bounds = [start_ns + i * horizon_ns // n for i in range(n + 1)]
    due = bounds[:-1]
    if randomize_pct and rng is not None:
        weights = [w * (100 + rng.randint(-randomize_pct, randomize_pct)) for w in weights]
        due = [b + rng.randint(0, (bounds[i + 1] - b) * randomize_pct // 100) for i, b in enumerate(due)]
    lots = _split(qty_1e8 // lot_1e8, weights)
    qtys = [k * lot_1e8 for k in lots]
    qtys[-1] += qty_1e8 % lot_1e8
    return [Slice(t, q) for t, q in zip(due, qtys) if q > 0]


def _split(units: int, weights: list[int]) -> list[int]:
    total = sum(weights)
    out: list[int] = []
    cumulative_weight = 0
    given = 0
    for w in weights:
        cumulative_weight += w
        upto = units * cumulative_weight // total
        out.append(upto - given)
        given = upto
    return out
