"""Venue scoring: a pure fold of our own children's lifecycle into per-venue moving averages.

Per (venue, symbol, is_sandbox) three integer EMAs, each moving ALPHA_NUM/ALPHA_DEN (1/8, as
TCP's RTT estimate; about the last 15 samples weigh in) of the way to every new sample
(`services.sor.latency.ema_step`, steps rounded away from zero):

* latency: a child's first ChildAcked minus when it was sent (its first ChildSubmitted, else its
  ChildAllocated). The ack's venue time (`ts_event_ns`) is used when given, like the TCA report's
  send_to_ack hop: it is when the order reached the book, which is what adverse selection
  prices. Clock skew that would make it negative counts as 0.
* fill rate (ppm): when a marketable (IOC/FOK) child closes (filled in full, cancelled, or
  rejected), filled / allocated qty. Resting (GTC/day) children are left out: how much of a
  resting order fills says more about the market than about the venue.
* realised slippage (ppm, worse for us > 0): when a marketable child with fills closes, its fill
  VWAP against the average price the plan expected at that venue (`PlanMade` allocation),
  rounded up (against us). Measured against the plan rather than the arrival mid (what
  `TcaReported` uses) because the planner already prices the book it walks: only the part
  the venue added on top of that belongs in its score. So `TcaReported` is not an input.

The fold emits a `VenueScored` when a key's score moves materially from the last one it emitted
(its first score, or a move of LATENCY_MOVE_PPM of the latency, FILL_RATE_MOVE_PPM or
SLIPPAGE_MOVE_PPM). The new event's id is derived from the event that caused it and its time is
that event's, so a replay of the same log yields the same events byte for byte. VenueScored
events met on the log are only remembered (`seen`): they never feed the averages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from events import AnyEvent
from events.base import Event
from events.execution import ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded
from events.ids import derive_id
from events.routing import ChildAllocated, PlanMade
from events.tca import VenueScored
from projections.retention import Retention
from services.graph.state import IMMEDIATE_TIFS
from services.sor.latency import ema_step

ALPHA_NUM, ALPHA_DEN = 1, 8
LATENCY_MOVE_PPM = 100_000  # 10% of the last emitted latency
FILL_RATE_MOVE_PPM = 10_000  # one percentage point
SLIPPAGE_MOVE_PPM = 50  # half a basis point
PPM = 1_000_000

ScoreKey = tuple[str, str, bool]  # venue, symbol, is_sandbox


def score_key(score: VenueScored) -> ScoreKey:
    return (score.venue, score.symbol, score.is_sandbox)


@dataclass
class _Child:
    key: ScoreKey
    side: str
    qty_1e8: int
    marketable: bool
    expected_px_1e9: int | None
    sent_ns: int
    submitted: bool = False
    acked: bool = False
    filled_qty_1e8: int = 0
    gross_1e17: int = 0  # sum(px_1e9 * qty_1e8) of its fills
    fill_ids: set[str] = field(default_factory=set)


@dataclass
class _Averages:
    latency_ns: int | None = None
    fill_rate_ppm: int | None = None
    slippage_ppm: int | None = None
    latency_samples: int = 0
    fill_samples: int = 0
    slippage_samples: int = 0
    first_sample_ns: int = 0
    last_sample_ns: int = 0


class VenueScorer:
    """The scoring fold: `apply(event)` returns a VenueScored to publish, or None."""

    def __init__(self, window_ns: int | None = None) -> None:
        """`window_ns`: forget a seen score id, and a plan's price no child took, this long after
        it (on the log's clock); None keeps them for ever."""
        self.children: dict[str, _Child] = {}  # open children by child_id
        self.expected: dict[tuple[str, str], int] = {}  # (plan_id, venue) -> the plan's avg px
        self.averages: dict[ScoreKey, _Averages] = {}
        self.emitted: dict[ScoreKey, VenueScored] = {}  # the last score emitted per key
        self.seen: set[str] = set()  # VenueScored ids already on the log
        self.window_ns = window_ns
        self.retention: Retention[tuple[str, str]] = Retention(window_ns or 0)  # ("score", id) | (plan_id, venue)

    def apply(self, event: AnyEvent) -> VenueScored | None:
        if self.window_ns is not None:
            self._forget_due(event.ts_ns)
        match event:
            case VenueScored():
                self.seen.add(event.event_id)
                if self.window_ns is not None:
                    self.retention.ended(("score", event.event_id))
            case PlanMade():
                for alloc in event.allocations:  # a resting part on the same venue comes after: first wins
                    self.expected.setdefault((event.plan_id, alloc.venue), alloc.est_avg_px_1e9)
                    if self.window_ns is not None:
                        self.retention.ended((event.plan_id, alloc.venue))
            case ChildAllocated() if event.child_id not in self.children:
                self.children[event.child_id] = _Child(
                    key=(event.venue, event.symbol, event.is_sandbox),
                    side=event.side,
                    qty_1e8=event.qty_1e8,
                    marketable=event.tif in IMMEDIATE_TIFS,
                    expected_px_1e9=self.expected.pop((event.plan_id, event.venue), None),
                    sent_ns=event.ts_ns,
                )
            case ChildSubmitted():
                child = self.children.get(event.child_id)
                if child is not None and not child.submitted and not child.acked:
                    child.submitted, child.sent_ns = True, event.ts_ns
            case ChildAcked():
                child = self.children.get(event.child_id)
                if child is not None and not child.acked:
                    child.acked = True
                    rtt = max(0, (event.ts_event_ns or event.ts_ns) - child.sent_ns)
                    return self._sample(child.key, event, latency_ns=rtt)
            case FillRecorded():
                child = self.children.get(event.child_id)
                if child is not None and event.fill_id not in child.fill_ids:
                    child.fill_ids.add(event.fill_id)
                    child.filled_qty_1e8 += event.qty_1e8
                    child.gross_1e17 += event.px_1e9 * event.qty_1e8
                    if child.filled_qty_1e8 >= child.qty_1e8:
                        return self._close(event.child_id, event, child.filled_qty_1e8)
            case ChildCancelled():
                child = self.children.get(event.child_id)
                if child is not None:  # the venue's filled figure counts fills we may not have yet
                    return self._close(event.child_id, event, max(event.filled_qty_1e8, child.filled_qty_1e8))
            case ChildRejected():
                child = self.children.get(event.child_id)
                if child is not None:
                    return self._close(event.child_id, event, child.filled_qty_1e8)
        return None

    def _forget_due(self, ts_ns: int) -> None:
        # Within the window a score is re-derived only by a replay; a plan's children are
        # allocated with it, so a price still unclaimed by then belongs to no child.
        self.retention.read(ts_ns)
        for kind, key in self.retention.due():
            if kind == "score":
                self.seen.discard(key)
            else:
                self.expected.pop((kind, key), None)

    def _close(self, child_id: str, cause: Event, filled_qty_1e8: int) -> VenueScored | None:
        child = self.children.pop(child_id)
        if not child.marketable or child.qty_1e8 <= 0:
            return None
        fill_rate = min(PPM, filled_qty_1e8 * PPM // child.qty_1e8)
        slippage = None
        if child.expected_px_1e9 and child.filled_qty_1e8:
            base = child.expected_px_1e9 * child.filled_qty_1e8
            worse = child.gross_1e17 - base if child.side == "buy" else base - child.gross_1e17
            slippage = -(-worse * PPM // base)
        return self._sample(child.key, cause, fill_rate_ppm=fill_rate, slippage_ppm=slippage)

    def _sample(
        self,
        key: ScoreKey,
        cause: Event,
        *,
        latency_ns: int | None = None,
        fill_rate_ppm: int | None = None,
        slippage_ppm: int | None = None,
    ) -> VenueScored | None:
        avg = self.averages.setdefault(key, _Averages(first_sample_ns=cause.ts_ns))
        avg.last_sample_ns = cause.ts_ns
        if latency_ns is not None:
            avg.latency_ns = ema_step(avg.latency_ns, latency_ns, ALPHA_NUM, ALPHA_DEN)
            avg.latency_samples += 1
        if fill_rate_ppm is not None:
            avg.fill_rate_ppm = ema_step(avg.fill_rate_ppm, fill_rate_ppm, ALPHA_NUM, ALPHA_DEN)
            avg.fill_samples += 1
        if slippage_ppm is not None:
            avg.slippage_ppm = ema_step(avg.slippage_ppm, slippage_ppm, ALPHA_NUM, ALPHA_DEN)
            avg.slippage_samples += 1
        last = self.emitted.get(key)
        if last is not None and not _moved(last, avg):
            return None
        venue, symbol, is_sandbox = key
        score = VenueScored(
            event_id=derive_id("venue_score", cause.event_id),
            ts_ns=cause.ts_ns,
            causation_id=cause.event_id,
            venue=venue,
            symbol=symbol,
            is_sandbox=is_sandbox,
            latency_ema_ns=avg.latency_ns,
            fill_rate_ppm=avg.fill_rate_ppm,
            realised_slippage_ppm=avg.slippage_ppm,
            latency_samples=avg.latency_samples,
            fill_samples=avg.fill_samples,
            slippage_samples=avg.slippage_samples,
            alpha_num=ALPHA_NUM,
            alpha_den=ALPHA_DEN,
            first_sample_ns=avg.first_sample_ns,
            last_sample_ns=avg.last_sample_ns,
        )
        self.emitted[key] = score
        return score


def _moved(last: VenueScored, now: _Averages) -> bool:
    """Whether the averages moved materially from the last emitted score (a first value always does)."""
    old, new = last.latency_ema_ns, now.latency_ns
    if (old is None) != (new is None):
        return True
    if old is not None and new is not None and abs(new - old) * PPM >= LATENCY_MOVE_PPM * max(old, 1):
        return True
    return _moved_by(last.fill_rate_ppm, now.fill_rate_ppm, FILL_RATE_MOVE_PPM) or _moved_by(
        last.realised_slippage_ppm, now.slippage_ppm, SLIPPAGE_MOVE_PPM
    )


def _moved_by(old: int | None, new: int | None, step: int) -> bool:
    if old is None or new is None:
        return (old is None) != (new is None)
    return abs(new - old) >= step
