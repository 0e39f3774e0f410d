"""The TCA process: fold each node's facts from the LEDGER stream, report each completed node once.

The report's id is derived from the NodeCompleted event id, and its time is the completion's, so
re-running (a restart, a second instance) republishes the same bytes under the same id and
JetStream keeps one. Completions seen while replaying are held until the follower has caught up:
a report already on the log (`tca.>`) is then not published again, even outside the dedup window.
Venue scores (`scoring.py`, VenueScored on `tca.score.>`) are derived, held and released the same way.

TWAP/VWAP parents are also scored against the market's interval TWAP/VWAP (`interval.py`): the
service keeps its own record of NBBO mids and trades (MD is age-bounded), follows MD once the
LEDGER has been caught up (so every open interval is pinned first), and scores a completed
parent once that record has caught up with MD.
"""

from __future__ import annotations

import asyncio
import logging

from events import AnyEvent
from events.graph import NodeActivated, NodeCancelled, NodeCompleted
from events.tca import TcaReported, VenueScored
from projections.follower import SharedFollower, StreamFollower, follow
from projections.market_follower import event_ts_ns, first_seq_since, last_per_subject
from projections.retention import window_ns
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.outbox import Outbox
from services.tca.interval import MarketTape
from services.tca.fold import TcaFold
from services.tca.report import score_interval
from services.tca.scoring import ScoreKey, VenueScorer, score_key

log = logging.getLogger("crossbook.tca")

LEDGER_SUBJECTS = ["ord.>", "route.>", "exec.>", "tca.>"]
MD_SUBJECTS = ["nbbo.>", "md.*.*.trade"]


class TcaService:
    def __init__(self, bus: Bus, *, ledger: SharedFollower | None = None, retention_s: float | None = None) -> None:
        """`retention_s`: how long an ended graph's facts stay (default: the bus's dedup window)."""
        self.bus = bus
        self.fold = TcaFold(window_ns(bus, retention_s))
        self.held: dict[str, TcaReported] = {}  # built while replaying; published once caught up
        self.scorer = VenueScorer(window_ns(bus, retention_s))
        self.held_scores: dict[ScoreKey, VenueScored] = {}  # the same, latest per venue only
        self.outbox = Outbox(bus, "tca")
        self.follower = follow(bus, "LEDGER", LEDGER_SUBJECTS, self.on_event, ledger)
        self.tape = MarketTape()
        self.md_follower = StreamFollower(bus, "MD", MD_SUBJECTS, self.tape.apply)
        self._task: asyncio.Task[None] | None = None
        self._interval_tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.outbox.start()
        await self.follower.start()
        self._task = asyncio.create_task(self._release_when_caught_up(), name="tca-release")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for task in list(self._interval_tasks):
            await cancel_and_wait(task)
        await self.md_follower.stop()
        await self.follower.stop()
        await self.outbox.stop()

    def on_event(self, event: AnyEvent, seq: int) -> None:
        report = self.fold.apply(event)
        self._score_venues(event)
        if isinstance(event, NodeActivated):
            key = (event.graph_id, event.node_id)
            if key in self.fold.interval_nodes:
                self.tape.pin(key, self.fold.interval_nodes[key], event.ts_ns)
        if isinstance(event, NodeCancelled):
            self.tape.unpin((event.graph_id, event.node_id))  # no report will close its interval
        if isinstance(event, TcaReported):
            self.held.pop(event.event_id, None)
            self.tape.unpin((event.graph_id, event.node_id))  # reported: its interval is done with
        if report is None or report.event_id in self.fold.reported:
            if isinstance(event, NodeCompleted):
                self.tape.unpin((event.graph_id, event.node_id))
            return
        if self.follower.caught_up.is_set():
            self._publish([report])
        else:
            self.held[report.event_id] = report

    def _score_venues(self, event: AnyEvent) -> None:
        # Venue scores are held and released like reports (ids derived from their causes).
        score = self.scorer.apply(event)
        if score is None or score.event_id in self.scorer.seen:
            return
        if self.follower.caught_up.is_set():
            self.outbox.put([score])
        else:
            self.held_scores[score_key(score)] = score

    async def _release_when_caught_up(self) -> None:
        await self.follower.caught_up.wait()
        scores, self.held_scores = self.held_scores, {}
        self.outbox.put([s for s in scores.values() if s.event_id not in self.scorer.seen])
        await self.md_follower.start(await self._record_start_seq())
        held, self.held = self.held, {}
        self._publish([r for r in held.values() if r.event_id not in self.fold.reported])

    async def _record_start_seq(self) -> int:
        # The record keeps `keep_ns` behind the newest NBBO, and open intervals from their start:
        # read MD from there (twice `keep_ns` back, so the mid in force at the window's start is
        # in it too), not the whole MD stream from sequence 1 (up to its age limit of history).
        newest = [event_ts_ns(latest.event) for latest in await last_per_subject(self.bus, "MD", ["nbbo.>"])]
        if not newest:
            return 1
        since = min([max(newest) - 2 * self.tape.keep_ns, *(start for _, start in self.tape.pins.values())])
        return await first_seq_since(self.bus, "MD", MD_SUBJECTS, max(since, 0))

    def _publish(self, reports: list[TcaReported]) -> None:
        self.outbox.put([r for r in reports if r.interval_start_ns is None])
        interval = [r for r in reports if r.interval_start_ns is not None]
        if interval:
            task = asyncio.create_task(self._publish_interval(interval), name="tca-interval")
            self._interval_tasks.add(task)
            task.add_done_callback(self._interval_tasks.discard)

    async def _publish_interval(self, reports: list[TcaReported]) -> None:
        # The record must reach the completions: wait until it holds what MD holds now.
        try:
            await self.md_follower.wait_caught_up(timeout=30.0)
        except TimeoutError:
            log.warning("tca: market record behind MD; scoring %d interval report(s) with what it has", len(reports))
        scored = []
        for report in reports:
            start, end = report.interval_start_ns or 0, report.interval_end_ns or 0
            scored.append(score_interval(report, *self.tape.benchmarks(report.symbol, start, end)))
            self.tape.unpin((report.graph_id, report.node_id))
        self.outbox.put([r for r in scored if r.event_id not in self.fold.reported])
