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
from dataclasses import dataclass, field

from events import AnyEvent
from events.execution import ChildAcked, ChildSubmitted, FillRecorded
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted, NodeActivated, NodeCancelled, NodeCompleted
from events.ids import derive_id
from events.routing import ChildAllocated, PlanMade
from events.tca import TcaReported, VenueScored
from projections.follower import SharedFollower, StreamFollower, follow
from projections.market_follower import event_ts_ns, first_seq_since, last_per_subject
from projections.retention import DEFAULT_WINDOW_S, Retention, window_ns
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.outbox import Outbox
from services.graph.state import SLICED_POLICIES
from services.tca.errors import TcaInputError
from services.tca.interval import MarketTape
from services.tca.report import build_report, score_interval
from services.tca.scoring import ScoreKey, VenueScorer, score_key

log = logging.getLogger("crossbook.tca")

LEDGER_SUBJECTS = ["ord.>", "route.>", "exec.>", "tca.>"]
MD_SUBJECTS = ["nbbo.>", "md.*.*.trade"]
NodeKey = tuple[str, str]


def report_id(completed: NodeCompleted) -> str:
    """The report's id: one completion, one report, whoever builds it."""
    return derive_id("tca", completed.event_id)


@dataclass
class NodeFacts:
    """Everything the log said about one node, in log order."""

    activation: NodeActivated | None = None
    plan: PlanMade | None = None
    children: list[ChildAllocated] = field(default_factory=list)
    submitted: list[ChildSubmitted] = field(default_factory=list)
    acks: list[ChildAcked] = field(default_factory=list)
    fills: list[FillRecorded] = field(default_factory=list)


class TcaFold:
    """The in-memory fold: node facts, and a report for each completion (None = nothing to report)."""

    def __init__(self, window_ns: int = int(DEFAULT_WINDOW_S * 1e9)) -> None:
        self.nodes: dict[NodeKey, NodeFacts] = {}
        self.reported: set[str] = set()  # report event ids already on the log
        self.interval_nodes: dict[NodeKey, str] = {}  # TWAP/VWAP nodes not yet completed -> symbol
        # Per graph, its node ids and reports: forgotten a dedup window after the graph ended (on
        # the log's clock); its reports are then read from the API's durable view.
        self.graph_nodes: dict[str, set[str]] = {}
        self.graph_reports: dict[str, list[str]] = {}
        self.retention: Retention[str] = Retention(window_ns)
        self.evicted = 0

    def _evict(self, graph_id: str) -> None:
        for node_id in self.graph_nodes.pop(graph_id, ()):
            self.nodes.pop((graph_id, node_id), None)
            self.interval_nodes.pop((graph_id, node_id), None)
        for report_id in self.graph_reports.pop(graph_id, []):
            self.reported.discard(report_id)
        self.evicted += 1

    def apply(self, event: AnyEvent) -> TcaReported | None:
        self.retention.read(event.ts_ns)
        if len(self.retention):
            for graph_id in self.retention.due():
                self._evict(graph_id)
        match event:
            case TcaReported():
                self.reported.add(event.event_id)
                self.graph_reports.setdefault(event.graph_id, []).append(event.event_id)
            case GraphCompleted() | GraphCancelled():
                self.retention.ended(event.graph_id)
            case GraphSubmitted():
                self.graph_nodes.setdefault(event.graph_id, set()).update(n.node_id for n in event.nodes)
                for spec in event.nodes:
                    if spec.execution.policy in SLICED_POLICIES:  # scored against the interval too
                        self.interval_nodes[(event.graph_id, spec.node_id)] = spec.instrument.symbol
            case NodeActivated():
                facts = self._facts((event.graph_id, event.node_id))
                if facts.activation is None:
                    facts.activation = event
            case PlanMade():
                facts = self._facts((event.graph_id, event.node_id))
                if facts.plan is None:  # the arrival is the first plan's; a re-plan does not move it
                    facts.plan = event
            case ChildAllocated() | ChildSubmitted() | FillRecorded() | ChildAcked() if event.graph_id:
                facts = self._facts((event.graph_id, event.node_id))
                if isinstance(event, ChildAllocated):
                    facts.children.append(event)
                elif isinstance(event, ChildSubmitted):
                    facts.submitted.append(event)
                elif isinstance(event, ChildAcked):
                    facts.acks.append(event)
                else:
                    facts.fills.append(event)
            case NodeCompleted():
                report = self.report(event)
                # A node completes once: its facts are done with (a late stray fill starts an
                # empty entry that no completion will ever read).
                self.nodes.pop((event.graph_id, event.node_id), None)
                self.interval_nodes.pop((event.graph_id, event.node_id), None)
                return report
        return None

    def report(self, completed: NodeCompleted) -> TcaReported | None:
        facts = self.nodes.get((completed.graph_id, completed.node_id))
        if facts is None or facts.activation is None or facts.plan is None or not facts.fills:
            return None  # nothing executed (rejected, cancelled before a fill): nothing to analyse
        try:
            return build_report(
                activation=facts.activation,
                completed=completed,
                plan=facts.plan,
                single_venue_qty_1e8=facts.plan.best_single_venue_qty_1e8 if facts.plan else None,
                fills=facts.fills,
                children=facts.children,
                submitted=facts.submitted,
                acks=facts.acks,
                event_id=report_id(completed),
                interval=(completed.graph_id, completed.node_id) in self.interval_nodes,
            )
        except TcaInputError as exc:
            log.error("tca: cannot report %s/%s: %s", completed.graph_id, completed.node_id, exc)
            return None

    def _facts(self, key: NodeKey) -> NodeFacts:
        facts = self.nodes.get(key)
        if facts is None:
            facts = self.nodes[key] = NodeFacts()
            if key[0] not in self.graph_nodes:  # a stray (a late event of a forgotten graph): it goes too
                self.retention.ended(key[0])
            self.graph_nodes.setdefault(key[0], set()).add(key[1])
        return facts


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
