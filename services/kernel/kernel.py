"""The synchronous, deterministic trading kernel: one shared fold of the ledger and the deciders
(graph engine, risk, router, sandbox matching, TCA) run over it, event in, events out.

    kernel = Kernel(clock=VirtualClock(t0), rng=random.Random(seed), limits=..., sandbox=SandboxConfig())
    out = kernel.advance_to(event.ts_ns)   # timers and venue replies due before the input
    out += kernel.handle(event)            # everything the input caused, already folded

`handle` folds the input and reacts; each reaction is folded into the accounts and books the
moment it is made (so the next decision sees it), into its graph when its turn comes (the graph
engine steps through its events in log order, as live), and reacted to in turn, first in first
out, until nothing more follows; re-routes and iceberg clips are decided once the queue is
empty, on the whole story so far, as the live router decides them once caught up. What a
simulated venue answers after its latency, a graph's timers and a TWAP's slices wait in a queue
ordered by (due time, scheduling order) and are released by `advance_to`. Time comes only from
the injected clock (moved to each input's and timer's time), ids derive from the causing event
(`ports.derived_ids`, `events.ids.derive_id`), and the only randomness is the seeded `rng`
(each simulated venue's latency draws): the same inputs and seed give the same outputs.

The decisions are the live services' own code: `services.graph.engine.step` and
`graph.commands.command_answer`, `services.sor.policy.RoutingPolicy` (risk check and plans,
shared with the live router), `services.risk.releases_for`, `services.edges.sandbox.engine.SandboxVenue`
(latency, queue position, partial fills, fees), `services.tca.fold.TcaFold` and the TCA's
`VenueScorer` (whose scores feed the router's cost model, as live), and the sandbox executor's
`SandboxAccounts` for the sandbox book's commands (paper funding, settings, set balance, reset,
redemption: the same facts, with the same ids, as the live executor appends).

Speed: a simulated venue's copy of a book is fed only while something depends on it (an order
rests there, or liquidity it took is remembered until its level changes); otherwise it is caught
up from the market fold when the next order reaches that venue (`SandboxVenue.resync`).

Bounded state: once a graph has ended and none of its orders is open at a simulated venue nor
has a reply on the way, everything kept for it (graph state, submission, activations, venue
order records, TCA facts) is dropped; a later command for it is ignored, as the live engine does.
TWAP/VWAP parents are scored against the market over their life from a tape of NBBO mids (the
live runner reads `nbbo.>`; a backtest has none) and trades, once the tape reaches the interval's
end. The kill switch commands are answered as the live risk decider does; a command for another
tenant's graph is ignored.

Restart (the live runner, services/kernel/jetstream.py): `restore` folds the log as it stood,
deciding nothing, and `finish_restore` picks up open work. Not restored: a simulated venue's
queue positions and its memory of liquidity our orders took (not on the log; a resting child
rejoins the back of its level), a TCA report or venue score decided but not appended before the
crash, and interval reports waiting for the tape.

One difference from the live sandbox executor, on purpose: the executor appends a venue's answer
when it handles the order (stamped with the venue's time in `ts_event_ns`); the kernel delivers
it at the venue's time, so nothing downstream learns of a fill before it happened.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec

from events import AnyEvent, commands
from events.execution import ChildCancelled, ChildRejected, FillRecorded
from events.graph import (
    GraphCancelled,
    GraphCompleted,
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCancelled,
    NodeCompleted,
)
from events.ids import derive_id
from events.market import BookDeltaBatch, BookSnapshot, NbboChanged, TradePrinted, VenueStatusChanged
from events.risk import KillSwitchCleared, KillSwitchEngaged, RiskCheckRejected
from events.routing import ChildAllocated, PlanMade
from events.venues import ONCHAIN_VENUES
from events.tca import TcaReported, VenueScored
from events.vault import CredentialRevoked, CredentialStored
from projections.market import MarketBooks
from projections.retention import DEFAULT_WINDOW_S
from services.edges.sandbox.accounts import SandboxAccounts
from services.edges.sandbox.config import SandboxConfig, fee_schedule
from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.errors import SandboxError, UnknownFeeVenue
from services.edges.sandbox.mapping import ChildRef, to_event
from services.edges.sandbox.orders import (
    Acked,
    Amended,
    Cancelled,
    Filled,
    Outcome,
    Rejected,
    SandboxOrder,
    amended_child_qty,
)
from services.graph.commands import command_answer, engine_command, graph_body
from services.graph.engine import Tick, next_wakeup_ns, step
from services.graph.errors import GraphError
from services.graph.schedule import slices_for
from services.graph.state import SLICED_POLICIES, GraphState
from services.kernel.ports import Clock, derived_ids
from services.refdata import instrument_rules
from services.risk import InstrumentRules, RiskLimits, releases_for, rules_book
from services.risk.account import CHILD_FACTS, refusal_event
from services.risk.books import AccountBooks
from services.sor import SorParams
from services.sor.config import ROUTER_PARAMS
from services.sor.policy import RESTING, RoutingPolicy, node_spec
from services.tca.fold import TcaFold
from services.tca.interval import MarketTape
from services.tca.report import score_interval
from services.tca.scoring import VenueScorer

MARKET_EVENTS = (BookSnapshot, BookDeltaBatch, TradePrinted, VenueStatusChanged)
_UPDATES = (BookDeltaBatch, TradePrinted)  # what a simulated book may skip while nothing depends on it
NodeKey = tuple[str, str]
# Ends that may leave a reservation behind: what the node did not spend is released then.
ENDS = (NodeCompleted, NodeCancelled, GraphCompleted, GraphCancelled, RiskCheckRejected)


@dataclass(frozen=True, slots=True)
class _Tick:
    graph_id: str
    due_ns: int


@dataclass(frozen=True, slots=True)
class _Slice:
    key: NodeKey
    index: int
    qty_1e8: int


@dataclass(frozen=True, slots=True)
class _Score:
    report_id: str


# How long a TWAP/VWAP report waits for the market record to reach its interval's end (the
# market data read may trail the ledger read); then it is scored on what the record holds.
INTERVAL_WAIT_NS = 1_000_000_000


@dataclass(slots=True)
class _VenueOrder:
    # One child at a simulated venue, until it is filled or closed.
    ref: ChildRef
    venue: str
    remaining_1e8: int
    replies: int = 0  # execution events made for it (their ids count up)
    acked: bool = False  # sent again after a restart: its first ack is on the log already


Scheduled = AnyEvent | _Tick | _Slice | _Score


class Kernel:
    """The ledger fold and its deciders. `handle` one input at a time, in time order."""

    def __init__(
        self,
        *,
        clock: Clock,
        rng: random.Random,
        limits: RiskLimits | None = None,
        params: SorParams | None = None,
        sandbox: SandboxConfig | None = None,
        rules: list[InstrumentRules] | None = None,
        simulate_live: bool = True,
        live_entry: Callable[[str, str], bool] | None = None,
    ) -> None:
        """`simulate_live`: live (not sandbox) graphs' children fill at the simulated venues too
        (backtests); off in a live trader, where the live executor sends them and its facts
        come back as inputs. `live_entry`: whether a live child of a symbol can be placed at a
        venue (the live trader's order entry; None: nowhere). Live graphs route only to venues
        with live entry that the tenant has credentials for, folded from the vault's events
        (`vault.>`: which venues are connected, never a secret), as the services router does."""
        self.clock = clock
        self.simulate_live = simulate_live
        self.limits = limits or RiskLimits()
        self.sandbox = sandbox or SandboxConfig()
        self.rules = rules_book(rules if rules is not None else instrument_rules())
        # -- the fold --
        self.market = MarketBooks()
        # Fill dedup keys and finished graphs' children leave the accounts after the ledger's
        # dedup window on the log's clock (deterministic: the same inputs evict at the same point).
        self.accounts = AccountBooks(self.rules, window_ns=int(DEFAULT_WINDOW_S * 1_000_000_000))
        self.graphs: dict[str, GraphState] = {}  # open graphs (ended ones leave, `_evict`)
        self.submitted: dict[str, GraphSubmitted] = {}
        self.activations: dict[NodeKey, NodeActivated] = {}
        self.arrivals: dict[NodeKey, int] = {}  # the first plan's arrival mid
        self.tca = TcaFold()
        self.tape = MarketTape()  # NBBO mids and trades: the interval benchmarks of TWAP/VWAP parents
        self._unscored: dict[str, TcaReported] = {}  # interval reports waiting for the tape to reach their end
        self.scorer = VenueScorer()
        # -- deciders' own state --
        self.policy = RoutingPolicy(self.market, self.rules, params or ROUTER_PARAMS, live_entry=live_entry)
        self.venues: dict[str, SandboxVenue | None] = {}  # None: no simulator (no fee schedule)
        self._venue_seed = rng.getrandbits(64)  # each venue's draws from its own stream, by name
        self.orders: dict[str, _VenueOrder] = {}  # client order id -> open child at a venue
        self.graph_orders: dict[str, dict[str, str]] = {}  # graph_id -> its client order ids -> venue
        self.in_flight: dict[str, int] = {}  # graph_id -> scheduled replies not yet delivered
        self.wakeups: dict[str, int] = {}  # graph_id -> its next Tick
        self.ticked: dict[str, int] = {}  # graph_id -> the last due time ticked
        self.kill_seen: set[str] = set()
        self.ended: set[str] = set()  # graphs whose end was decided on: they leave once nothing is open
        self._timers: list[tuple[int, int, Scheduled]] = []
        self._order = itertools.count()
        self._queue: deque[AnyEvent] = deque()
        self._follow_up: dict[str, None] = {}  # graphs to re-check once the queue is empty, in order
        # (venue, symbol) books the simulator was not fed while nothing depended on them.
        self._dormant: set[tuple[str, str]] = set()
        self._made: dict[str, set[str]] = {}  # graph_id -> follow-up plans made (each is made once)
        self.book = SandboxAccounts()  # the sandbox book's commands (funding, reset, ...), as the executor
        # Restoring from the log (`restore`): open children, by client order id, and the number
        # of execution facts each already has (a resubmitted child's next reply ids follow them).
        self._restored: dict[str, ChildAllocated] = {}
        self._replies: dict[str, int] = {}
        self._left: dict[str, int] = {}

    # --- entry points -----------------------------------------------------------------------
    def handle(self, event: AnyEvent) -> list[AnyEvent]:
        """Apply one input at its time; return every event it caused (folded already), in order,
        after whatever was scheduled before it (call `advance_to` first to keep those apart)."""
        ts = event.ts_ns
        timers = self._timers
        out = self.advance_to(ts) if timers and timers[0][0] <= ts else []
        self.clock.advance_to(ts)
        if isinstance(event, NbboChanged):  # read by the live runner (a backtest has none: no TWAP benchmark)
            self.tape.apply(event)
            return out + self._score_reached(event.symbol)
        if isinstance(event, MARKET_EVENTS):  # the hot path: no reactions unless our orders rest there
            self.market.apply(event)
            if isinstance(event, TradePrinted):
                self.tape.apply(event)
                out += self._score_reached(event.symbol)
            venues = self.venues
            venue = venues[event.venue] if event.venue in venues else self._venue(event.venue)
            if venue is None:
                return out
            if isinstance(event, _UPDATES) and not venue.needs_market(event.symbol):
                self._dormant.add((event.venue, event.symbol))  # caught up from the market fold when used
                return out
            outcomes = venue.on_event(event)
            if outcomes:
                self._deliver_outcomes(outcomes)
                out += self._drain()
            return out
        self._fold(event)
        self._queue.append(event)
        reactions = self._drain()
        return out + (reactions[1:] if reactions and reactions[0] is event else reactions)

    def advance_to(self, ts_ns: int) -> list[AnyEvent]:
        """Release everything scheduled up to `ts_ns` (venue replies, timers, slices), in order."""
        out: list[AnyEvent] = []
        timers = self._timers
        while timers and timers[0][0] <= ts_ns:
            due, _, item = heapq.heappop(timers)
            self.clock.advance_to(due)
            self._fire(item)
            out += self._drain()
        return out

    def next_due_ns(self) -> int | None:
        """When the next scheduled item is due (None: nothing is waiting)."""
        return self._timers[0][0] if self._timers else None

    def run(self, inputs: Iterable[AnyEvent]) -> list[AnyEvent]:
        """Every input with what precedes and follows it: the log the inputs make."""
        log: list[AnyEvent] = []
        for event in inputs:
            log += self.advance_to(event.ts_ns)
            log.append(event)
            log += self.handle(event)
        return log

    # --- restoring from the log (a restart of the live runner) -------------------------------
    def observe(self, event: AnyEvent) -> None:
        """Fold a market event without reacting (before `finish_restore`: nothing rests yet)."""
        if isinstance(event, (NbboChanged, TradePrinted)):
            self.tape.apply(event)
        if isinstance(event, NbboChanged):
            return
        self.market.apply(event)
        venue = getattr(event, "venue", "")
        self._dormant.add((venue, getattr(event, "symbol", "")))  # simulated books start from the fold's

    def adopt_market(self, other: Kernel) -> None:
        """Take over `other`'s market books and tape (market data is no fold of the ledger: a
        kernel rebuilt from the log keeps the books it reads). Before any `restore`."""
        self.market = self.policy.market = other.market
        self.tape.mids, self.tape.trades, self.tape.newest_ns = other.tape.mids, other.tape.trades, other.tape.newest_ns
        self._dormant = set(self.market.books)  # simulated books start from the fold's, as after `observe`

    def restore(self, event: AnyEvent) -> None:
        """Fold an event already on the log, as when it was decided, deciding nothing: what it
        caused is on the log too and is restored in its turn. `finish_restore` then picks up the
        work that was open (resting children, TWAP slices, timers, follow-ups)."""
        if isinstance(event, MARKET_EVENTS):
            self.observe(event)
            return
        self._fold(event)
        if isinstance(event, commands.COMMANDS):
            return
        if isinstance(event, (KillSwitchEngaged, KillSwitchCleared)):
            self.kill_seen.add(event.event_id)
        graph_id = getattr(event, "graph_id", None)
        ts = event.ts_ns
        if isinstance(event, GraphSubmitted):
            if graph_id not in self.graphs:
                state, _ = step(None, event, ts, derived_ids(event.causation_id or event.event_id, 1))
                self._keep(state)
        elif graph_id and graph_id in self.graphs:
            try:
                state, _ = step(self.graphs[graph_id], event, ts, derived_ids(event.event_id))
            except GraphError:
                state = self.graphs[graph_id]
            self._keep(state)
        if isinstance(event, NodeActivated):
            self._restore_activation(event)
        elif isinstance(event, PlanMade):
            self._made.setdefault(event.graph_id, set()).add(event.plan_id)
        elif isinstance(event, ChildAllocated):
            if self._simulated(event):
                self._restored[event.client_order_id] = event
                self._left[event.client_order_id] = event.qty_1e8
                self.graph_orders.setdefault(event.graph_id, {})[event.client_order_id] = event.venue
        coid = getattr(event, "client_order_id", None)
        if coid is not None and coid in self._restored and not isinstance(event, ChildAllocated):
            self._replies[coid] = self._replies.get(coid, 0) + 1
            if isinstance(event, FillRecorded):
                self._left[coid] -= event.qty_1e8
            if isinstance(event, (ChildCancelled, ChildRejected)) or self._left[coid] <= 0:
                del self._restored[coid]
        if not isinstance(event, (TcaReported, VenueScored)):
            self.tca.apply(event)
            self._interval(event)
            self.scorer.apply(event)
        elif isinstance(event, TcaReported):
            self.tape.unpin((event.graph_id, event.node_id))
        if graph_id and graph_id in self.graphs:
            if isinstance(event, (GraphCompleted, GraphCancelled)):
                self.ended.add(graph_id)
            if graph_id in self.ended:
                self._evict_if_done(graph_id)  # as live: a long log is restored in bounded memory

    def _restore_activation(self, activation: NodeActivated) -> None:
        key = (activation.graph_id, activation.node_id)
        graph = self.submitted.get(activation.graph_id)
        if graph is None or key in self.activations:
            return
        self.activations[key] = activation
        node = node_spec(graph, activation.node_id)
        if node.execution.policy in SLICED_POLICIES:  # every slice again: those on the log are skipped
            slices = slices_for(
                node, node.qty_1e8, activation.ts_ns, lot_1e8=self.policy.lot(node.instrument.symbol),
                rng=random.Random(activation.event_id),
                profile=[1] * max(2, node.execution.num_slices or 2) if node.execution.policy == "vwap" else None,
            )
            for index, piece in enumerate(slices):
                self._schedule(piece.due_ns, _Slice(key, index, piece.qty_1e8))

    def finish_restore(self) -> list[AnyEvent]:
        """The log is restored: children that were open go back to their simulated venues (what
        is left of them), ended graphs with nothing open leave, and each open graph's follow-ups
        are decided. Returns what that caused; timers and slices due are released by `advance_to`."""
        now = self.clock.now_ns()
        restored, self._restored = self._restored, {}
        for coid, child in restored.items():
            state = self.graphs.get(child.graph_id)
            left = self._left.get(coid, 0)
            if state is None or left <= 0:
                continue
            ref = ChildRef(child.child_id, child.graph_id, child.node_id, child.venue, child.tenant)
            replies = self._replies.get(coid, 0)
            self.orders[coid] = _VenueOrder(ref, child.venue, left, replies=replies, acked=replies > 0)
            venue = self._venue(child.venue)
            if venue is None:
                continue
            self._wake(venue, child.symbol)
            order = SandboxOrder(coid, child.symbol, child.side, left, child.order_type, child.limit_px_1e9, child.tif)
            self._deliver_outcomes(venue.submit(order, now))
            if (state.terminal or state.nodes[child.node_id].final) and coid in self.orders:
                # Its node ended (a cancel on the log) before the venue's answer was: pulled now.
                self._deliver_outcomes([o for o in venue.cancel(coid, now) if not isinstance(o, Rejected)])
        self._replies.clear()
        self._left.clear()
        for graph_id in sorted(self.ended):
            self._evict_if_done(graph_id)
        for graph_id in self.graphs:
            self._follow_up[graph_id] = None
        return self._drain()

    def hot_size(self) -> dict[str, int]:
        """How much each part of the hot state holds (open work only, once ended work has left)."""
        accounts = list(self.accounts.accounts.values())
        return {
            "graphs": len(self.graphs),
            "submitted": len(self.submitted),
            "activations": len(self.activations),
            "arrivals": len(self.arrivals),
            "tca_nodes": len(self.tca.nodes) + len(self.tca.interval_nodes) + len(self.tca.reported),
            "scorer": len(self.scorer.children) + len(self.scorer.expected),
            "follow_up_plans": len(self._made),
            "venue_orders": len(self.orders),
            "graph_orders": len(self.graph_orders),
            "in_flight": len(self.in_flight),
            "ended": len(self.ended),
            "wakeups": len(self.wakeups) + len(self.ticked),
            "timers": len(self._timers),
            "venue_records": sum(v.remembered() for v in self.venues.values() if v),
            "reservations": sum(len(a.reservations) for a in accounts),
            "open_children": sum(len(a.open_children) for a in accounts),
            "passed_nodes": sum(len(a.passed_nodes) for a in accounts),
            "graph_sandbox": len(self.accounts.graph_sandbox),
        }

    def window_size(self) -> dict[str, int]:
        """What ended work leaves behind until the ledger's dedup window has passed on the log's
        clock (a re-sent fact may still name it): known children and fill dedup keys."""
        accounts = list(self.accounts.accounts.values())
        return {
            "known_children": sum(len(a.children) for a in accounts),
            "fill_keys": sum(len(a.fill_keys) for a in accounts),
            "refused_facts": sum(len(a.refused) for a in accounts),
            "graph_children": len(self.accounts.graph_children),
        }

    # --- the loop ---------------------------------------------------------------------------
    def _drain(self) -> list[AnyEvent]:
        # React to each queued event in turn; reactions are folded into the account and market
        # when made (the next decision sees them) and into their graph when their turn comes (the
        # graph engine steps through its events in log order, as live). Follow-ups wait until
        # the queue is empty: decided on the whole story so far, as the live router's are.
        out: list[AnyEvent] = []
        queue = self._queue
        while True:
            while queue:
                event = queue.popleft()
                out.append(event)
                for reaction in self._decide(event):
                    self._fold(reaction)
                    queue.append(reaction)
            if not self._follow_up:
                return out
            graphs, self._follow_up = self._follow_up, {}
            for graph_id in graphs:
                self._emit(self._follow_ups(graph_id))

    def _emit(self, events: Iterable[AnyEvent]) -> None:
        for event in events:
            self._fold(event)
            self._queue.append(event)

    def _schedule(self, due_ns: int, item: Scheduled) -> None:
        heapq.heappush(self._timers, (due_ns, next(self._order), item))

    def _fire(self, item: Scheduled) -> None:
        if isinstance(item, _Tick):
            self._tick(item)
        elif isinstance(item, _Slice):
            self._release_slice(item)
        elif isinstance(item, _Score):
            self._score(item.report_id)
        else:  # a venue's reply, due now
            graph_id = getattr(item, "graph_id", "")
            left = self.in_flight.get(graph_id, 0) - 1
            if left > 0:
                self.in_flight[graph_id] = left
            else:
                self.in_flight.pop(graph_id, None)
            self._emit([item])

    # --- the fold ---------------------------------------------------------------------------
    def _fold(self, event: AnyEvent) -> None:
        if isinstance(event, MARKET_EVENTS):
            self.market.apply(event)
            return
        if isinstance(event, GraphSubmitted):
            self.submitted.setdefault(event.graph_id, event)
        elif isinstance(event, PlanMade):
            self.arrivals.setdefault((event.graph_id, event.node_id), event.arrival_mid_px_1e9)
        elif isinstance(event, VenueScored):
            self.policy.scores.apply(event)  # the TCA's venue scores feed the router's cost model
        elif isinstance(event, (CredentialStored, CredentialRevoked)):
            self.policy.fold_credentials(event)  # where a tenant's live graphs may route
        if event.tenant:
            self.accounts.fold(event)
            self.book.fold(event)

    # --- the deciders -----------------------------------------------------------------------
    def _decide(self, event: AnyEvent) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        if isinstance(event, commands.COMMANDS):
            return self._command(event)
        if isinstance(event, (KillSwitchEngaged, KillSwitchCleared)):
            self.kill_seen.add(event.event_id)
        if isinstance(event, CHILD_FACTS) and event.tenant:
            # Facts must make sense: one the account fold refused (an unknown child, the wrong
            # venue) moves nothing and is recorded once, as the live risk decider records it.
            refusal = self.accounts.refusal(event)
            if refusal is not None:
                return [refusal_event(event, *refusal, derive_id("fact_refused", event.event_id), self.clock.now_ns())]
        graph_id = getattr(event, "graph_id", None)
        if isinstance(event, GraphSubmitted):
            if graph_id not in self.graphs:  # an input (a log older than commands): the engine starts it
                state, started = step(None, event, self.clock.now_ns(), derived_ids(event.causation_id or event.event_id, 1))
                self._keep(state)
                out += started
        elif graph_id and graph_id in self.graphs:
            out += self._graph_step(graph_id, event)
        if isinstance(event, NodeActivated):
            out += self._route(event)
        elif isinstance(event, ChildAllocated):
            self._submit_child(event)
        if isinstance(event, (NodeCancelled, GraphCancelled)):
            self._cancel_resting(event.graph_id, event.node_id if isinstance(event, NodeCancelled) else None)
        elif isinstance(event, NodeAmended):
            self._amend_resting(event)
        if isinstance(event, ENDS) and event.tenant:
            now = self.clock.now_ns()
            out += [r for a in self.accounts.accounts_for(event) for r in releases_for(a, event, now_ns=now)]
        if not isinstance(event, (TcaReported, VenueScored)):  # our own outputs: nothing to fold
            report = self.tca.apply(event)
            self._interval(event)
            if report is not None and report.interval_start_ns is not None:
                # Scored once the market record reaches the interval's end (or after a wait).
                self._unscored[report.event_id] = report
                self._schedule(max(report.interval_end_ns or 0, self.clock.now_ns()) + INTERVAL_WAIT_NS,
                               _Score(report.event_id))
                report = None
            if report is not None:
                out.append(report)
            score = self.scorer.apply(event)
            if score is not None:
                out.append(score)
        if graph_id and graph_id in self.graphs:
            self._follow_up[graph_id] = None
            if isinstance(event, (GraphCompleted, GraphCancelled)):
                self.ended.add(graph_id)
            if graph_id in self.ended:
                self._evict_if_done(graph_id)
        return out

    def _score_reached(self, symbol: str) -> list[AnyEvent]:
        if not self._unscored:
            return []
        newest = self.tape.newest_ns.get(symbol, 0)
        due = [i for i, r in self._unscored.items() if r.symbol == symbol and (r.interval_end_ns or 0) <= newest]
        for report_id in due:
            self._score(report_id)
        return self._drain() if due else []

    def _score(self, report_id: str) -> None:
        report = self._unscored.pop(report_id, None)
        if report is None:
            return
        start, end = report.interval_start_ns or 0, report.interval_end_ns or 0
        self.tape.unpin((report.graph_id, report.node_id))
        self._emit([score_interval(report, *self.tape.benchmarks(report.symbol, start, end))])

    def _interval(self, event: AnyEvent) -> None:
        # A TWAP/VWAP parent's interval is pinned in the tape from its accept until its report.
        if isinstance(event, NodeActivated):
            key = (event.graph_id, event.node_id)
            if key in self.tca.interval_nodes:
                self.tape.pin(key, self.tca.interval_nodes[key], event.ts_ns)
        elif isinstance(event, NodeCancelled):
            self.tape.unpin((event.graph_id, event.node_id))

    def _command(self, command: commands.SubmitGraph | commands.CancelGraph | commands.CancelNode
                 | commands.AmendNode | commands.ResumeGraph | commands.EngageKillSwitch
                 | commands.ClearKillSwitch | commands.FundSandbox | commands.ChangeSandboxSettings
                 | commands.SetSandboxBalance | commands.ResetSandbox | commands.RedeemPositions) -> list[AnyEvent]:
        now = self.clock.now_ns()
        if isinstance(command, commands.SANDBOX_COMMANDS):
            return self.book.apply(command, now)  # the executor's own code: the same facts as live
        if isinstance(command, (commands.EngageKillSwitch, commands.ClearKillSwitch)):
            event_id = derive_id("react", command.event_id, "0")  # as the live risk decider
            if event_id in self.kill_seen:
                return []
            fact: KillSwitchEngaged | KillSwitchCleared = (
                KillSwitchEngaged(event_id=event_id, ts_ns=now, tenant=command.tenant, causation_id=command.event_id,
                                  reason=command.reason)
                if isinstance(command, commands.EngageKillSwitch)
                else KillSwitchCleared(event_id=event_id, ts_ns=now, tenant=command.tenant, causation_id=command.event_id)
            )
            return [fact]
        if isinstance(command, commands.SubmitGraph):
            if command.graph_id in self.graphs:
                return []  # a retry or a clash (an ended graph's id is not checked: it has left)
            new_id = derived_ids(command.event_id)
            submitted = GraphSubmitted(
                event_id=new_id(), ts_ns=now, tenant=command.tenant, causation_id=command.event_id,
                correlation_id=command.graph_id, **graph_body(command),
            )
            state, reactions = step(None, submitted, now, new_id)
            self._keep(state)
            return [submitted, *reactions]
        current = self.graphs.get(command.graph_id)
        if current is None or current.tenant != command.tenant:
            return []
        try:
            state, out = command_answer(current, engine_command(command), now, command.event_id)
        except GraphError:
            return []  # the graph moved on since the front door checked the command
        self._keep(state)
        return out

    def _graph_step(self, graph_id: str, event: AnyEvent) -> list[AnyEvent]:
        state = self.graphs[graph_id]
        try:
            state, out = step(state, event, self.clock.now_ns(), derived_ids(event.event_id))
        except GraphError:
            return []
        self._keep(state)
        return out

    def _keep(self, state: GraphState) -> None:
        graph_id = state.graph_id
        self.graphs[graph_id] = state
        due = next_wakeup_ns(state, self.ticked.get(graph_id))
        if due is None:
            self.wakeups.pop(graph_id, None)
        elif due != self.wakeups.get(graph_id):
            self.wakeups[graph_id] = due
            self._schedule(due, _Tick(graph_id, due))

    def _tick(self, tick: _Tick) -> None:
        if self.wakeups.get(tick.graph_id) != tick.due_ns or tick.graph_id not in self.graphs:
            return  # superseded, or the graph has left
        self.ticked[tick.graph_id] = tick.due_ns
        del self.wakeups[tick.graph_id]
        state = self.graphs[tick.graph_id]
        try:
            state, out = step(state, Tick(), self.clock.now_ns(),
                              derived_ids(derive_id("tick", tick.graph_id, str(tick.due_ns))))
        except GraphError:
            return
        self._keep(state)
        self._emit(out)

    # --- router -----------------------------------------------------------------------------
    def _route(self, activation: NodeActivated) -> list[AnyEvent]:
        key = (activation.graph_id, activation.node_id)
        graph = self.submitted.get(activation.graph_id)
        if graph is None or key in self.activations:
            return []
        self.activations[key] = activation
        node = node_spec(graph, activation.node_id)
        now = self.clock.now_ns()
        account = self.accounts.account(activation.tenant, graph.is_sandbox)
        policy = self.policy
        if node.execution.policy in RESTING:
            quote = policy.quote(node, node.limit_px_1e9, graph)
            mark = policy.mark(node.instrument.symbol)
            verdict, passed = policy.risk(account, activation, node, None, mark,
                                          (quote[0], node.qty_1e8) if quote else None, limits=self.limits, now_ns=now,
                                          live=not graph.is_sandbox)
            if not passed or quote is None:
                return verdict
            qty = node.qty_1e8
            if node.execution.policy == "iceberg":
                qty = policy.iceberg(node, node.qty_1e8).next_display(0, 0)
            return [*verdict, *policy.resting_events(activation, graph, node, 0, *quote, qty,
                                                     arrival_mid_px_1e9=self.arrivals.get(key), now_ns=now)]
        books, plan, mark = policy.plan(node, node.qty_1e8, graph)
        resting = policy.resting_part(node, books, plan)
        verdict, passed = policy.risk(account, activation, node, plan, mark, resting, limits=self.limits, now_ns=now,
                                          live=not graph.is_sandbox)
        if not passed:
            return verdict
        if node.execution.policy in SLICED_POLICIES:
            # TWAP/VWAP: risk reserved the whole node; slices are released on schedule.
            slices = slices_for(
                node, node.qty_1e8, activation.ts_ns, lot_1e8=policy.lot(node.instrument.symbol),
                rng=random.Random(activation.event_id),  # as the live router: the schedule derives from the activation
                profile=[1] * max(2, node.execution.num_slices or 2) if node.execution.policy == "vwap" else None,
            )
            for index, piece in enumerate(slices):
                self._schedule(max(piece.due_ns, now), _Slice(key, index, piece.qty_1e8))
            return verdict
        assert plan is not None
        if resting is not None:  # what rests is routed (to the book), not unroutable
            plan = msgspec.structs.replace(plan, unroutable_qty_1e8=plan.unroutable_qty_1e8 - resting[1])
        return [*verdict, *policy.plan_events(activation, graph, node, books, plan, tag=None, now_ns=now, resting=resting)]

    def _release_slice(self, piece: _Slice) -> None:
        graph_id, node_id = piece.key
        state = self.graphs.get(graph_id)
        activation = self.activations.get(piece.key)
        graph = self.submitted.get(graph_id)
        if state is None or activation is None or graph is None or state.nodes[node_id].final:
            return  # cancelled, or settled by the engine after its horizon
        node = node_spec(graph, node_id)
        books, plan, _ = self.policy.plan(node, piece.qty_1e8, graph)
        if plan is None or not any(a.qty_1e8 for a in plan.allocations):
            return  # no live book: the slice is skipped, as live
        events = self.policy.plan_events(activation, graph, node, books, plan, tag=str(piece.index),
                                         now_ns=self.clock.now_ns())
        if events and isinstance(events[0], PlanMade) and events[0].plan_id in self._made.get(graph_id, ()):
            return  # released before a restart: its plan is on the log (`restore`)
        self._emit(events)

    def _follow_ups(self, graph_id: str) -> list[AnyEvent]:
        # Re-routes of missed IOC remainders and the next iceberg clip, decided on the graph's
        # whole story so far; each is made once (its ids derive from the node's plan count).
        state = self.graphs.get(graph_id)
        graph = self.submitted.get(graph_id)
        if state is None or graph is None or state.terminal or state.status == "PAUSED":
            return []
        out: list[AnyEvent] = []
        now = self.clock.now_ns()
        for node in state.nodes.values():
            key = (graph_id, node.node_id)
            activation = self.activations.get(key)
            if activation is None or node.final:
                continue
            if node.awaits_reroute:
                events = self.policy.reroute_events(activation, graph, state, node,
                                                    arrival_mid_px_1e9=self.arrivals.get(key) or 0, now_ns=now)
            else:
                clip = self.policy.next_clip_qty(state, node)
                quote = self.policy.quote(node.spec, node.limit_px_1e9, graph) if clip > 0 else None
                if quote is None:
                    continue
                events = self.policy.resting_events(activation, graph, node.spec, node.plan_count, *quote, clip,
                                                    arrival_mid_px_1e9=self.arrivals.get(key), now_ns=now)
            plan_id = events[0].plan_id if isinstance(events[0], PlanMade) else ""
            made = self._made.setdefault(graph_id, set())
            if plan_id in made:
                continue
            made.add(plan_id)
            out += events
        return out

    # --- sandbox matching -------------------------------------------------------------------
    def _venue(self, name: str) -> SandboxVenue | None:
        if name in self.venues:
            return self.venues[name]
        try:
            venue: SandboxVenue | None = SandboxVenue(
                name, fee_schedule(name, self.sandbox), self.sandbox.latency_ns,
                random.Random(f"{self._venue_seed}/{name}"), jitter_ns=self.sandbox.jitter_ns,
                max_book_age_ns=self.sandbox.max_book_age_ns,
            )
        except (SandboxError, UnknownFeeVenue):  # no fee schedule: not a venue the sandbox simulates
            venue = None
        self.venues[name] = venue
        return venue

    def _simulated(self, child: ChildAllocated) -> bool:
        graph = self.submitted.get(child.graph_id)
        return self.simulate_live or graph is None or graph.is_sandbox

    def _submit_child(self, child: ChildAllocated) -> None:
        ref = ChildRef(child.child_id, child.graph_id, child.node_id, child.venue, child.tenant)
        coid = child.client_order_id
        if coid in self.orders:
            return  # a repeat: the venue answered it already
        if not self._simulated(child) or child.venue in ONCHAIN_VENUES:
            return  # a live child or a swap: its executor sends it, its facts come back as inputs
        self.orders[coid] = _VenueOrder(ref, child.venue, child.qty_1e8)
        self.graph_orders.setdefault(child.graph_id, {})[coid] = child.venue
        now = self.clock.now_ns()
        state = self.graphs.get(child.graph_id)
        venue = self._venue(child.venue)
        if state is None or state.terminal or state.nodes[child.node_id].final:
            outcomes: list[Outcome] = [Rejected(coid, "node_cancelled",
                                                f"node {child.node_id} ended before this child was sent", now)]
        elif venue is None:
            outcomes = [Rejected(coid, "unknown_venue", f"venue={child.venue!r} is not simulated", now)]
        else:
            self._wake(venue, child.symbol)
            order = SandboxOrder(coid, child.symbol, child.side, child.qty_1e8, child.order_type, child.limit_px_1e9,
                                 child.tif, post_only=child.post_only)
            outcomes = venue.submit(order, now)
        self._deliver_outcomes(outcomes)

    def _wake(self, venue: SandboxVenue, symbol: str) -> None:
        # A simulated book skipped while no order depended on it starts from the market fold's.
        if (venue.venue, symbol) not in self._dormant:
            return
        self._dormant.discard((venue.venue, symbol))
        book = self.market.books.get((venue.venue, symbol))
        if book is None:
            return
        bids, asks = book.top(len(book.bids) + len(book.asks))
        venue.resync(symbol, bids, asks, book.last_update_ns)
        venue.set_stale(symbol, book.stale)

    def _cancel_resting(self, graph_id: str, node_id: str | None) -> None:
        now = self.clock.now_ns()
        for coid in sorted(self.graph_orders.get(graph_id, ())):
            order = self.orders.get(coid)
            if order is None or order.remaining_1e8 <= 0 or (node_id is not None and order.ref.node_id != node_id):
                continue
            venue = self.venues.get(order.venue)
            if venue is not None:
                self._deliver_outcomes([o for o in venue.cancel(coid, now) if not isinstance(o, Rejected)])

    def _amend_resting(self, event: NodeAmended) -> None:
        # As the live executor: the node's new total applies to its resting child, and the venue
        # decides native (a pure size decrease keeps its place) or cancel-replace.
        state = self.graphs.get(event.graph_id)
        graph = self.submitted.get(event.graph_id)
        if state is None or graph is None:
            return
        node = state.nodes[event.node_id]
        one_clip = node.spec.execution.policy == "iceberg"
        for coid, name in sorted(self.graph_orders.get(event.graph_id, {}).items()):
            record, venue = self.orders.get(coid), self.venues.get(name)
            if record is None or venue is None or record.ref.node_id != event.node_id:
                continue
            resting = next((o for o in venue.open_orders(node.spec.instrument.symbol) if o.client_order_id == coid), None)
            if resting is None:
                continue
            new_qty = amended_child_qty(resting, event.new_qty_1e8, node.filled_qty_1e8, one_clip=one_clip)
            if new_qty == resting.qty_1e8 and event.new_limit_px_1e9 is None:
                return  # nothing changes at the venue
            replacement = derive_id("sandbox_amend", coid, event.event_id).replace("-", "")
            outcomes = venue.amend(coid, new_qty, event.new_limit_px_1e9, self.clock.now_ns(),
                                   new_client_order_id=replacement)
            for outcome in outcomes:
                if isinstance(outcome, Amended) and outcome.new_client_order_id == replacement:
                    self.orders[replacement] = _VenueOrder(record.ref, name, new_qty - resting.filled_qty_1e8)
                    self.graph_orders[event.graph_id][replacement] = name
                elif isinstance(outcome, Amended):  # native: the same order, a new size
                    record.remaining_1e8 = new_qty - resting.filled_qty_1e8
            self._deliver_outcomes(outcomes)
            return  # one resting child per node (the router rests one)

    def _deliver_outcomes(self, outcomes: list[Outcome]) -> None:
        # Each venue answer becomes its execution event, delivered at the venue's time: now, or
        # after the order-entry latency (the reply is scheduled and `advance_to` releases it).
        now = self.clock.now_ns()
        # Records looked up first: an order closed by one outcome still owns the rest of the
        # answer (a cancel-replace's Amended follows the Cancelled of the order it replaces).
        records = {o.client_order_id: self.orders.get(o.client_order_id) for o in outcomes}
        for outcome in outcomes:
            coid = outcome.client_order_id
            order = records[coid]
            if order is None:
                continue
            if isinstance(outcome, Acked) and order.acked:
                continue
            if isinstance(outcome, Filled):
                order.remaining_1e8 -= outcome.qty_1e8
            elif isinstance(outcome, (Cancelled, Rejected)):
                order.remaining_1e8 = 0
            due = max(outcome.ts_ns, now)
            event = to_event(outcome, order.ref, event_id=derive_id("sandbox", coid, str(order.replies)), ts_ns=due,
                             correlation_id=order.ref.graph_id)
            order.replies += 1
            if order.remaining_1e8 <= 0:
                self.orders.pop(coid, None)  # closed: its graph's eviction forgets the venue's record
            if due <= now:
                self._emit([event])
            else:
                graph_id = order.ref.graph_id
                self.in_flight[graph_id] = self.in_flight.get(graph_id, 0) + 1
                self._schedule(due, event)

    # --- bounded state ----------------------------------------------------------------------
    def _evict_if_done(self, graph_id: str) -> None:
        state = self.graphs.get(graph_id)
        if state is None or not state.terminal or self.in_flight.get(graph_id):
            return
        coids = self.graph_orders.get(graph_id, {})
        if any(c in self.orders or c in self._restored for c in coids):
            return  # an order still rests at a venue (its cancel is on the way)
        for coid, name in coids.items():
            venue = self.venues.get(name)
            if venue is not None:
                venue.forget(coid)
        self.graph_orders.pop(graph_id, None)
        del self.graphs[graph_id]
        graph = self.submitted.pop(graph_id, None)
        for spec in graph.nodes if graph else ():
            key = (graph_id, spec.node_id)
            self.activations.pop(key, None)
            self.arrivals.pop(key, None)
            self.tca.nodes.pop(key, None)
            self.tca.interval_nodes.pop(key, None)
        self.wakeups.pop(graph_id, None)
        self.ticked.pop(graph_id, None)
        self.accounts.graph_sandbox.pop(graph_id, None)
        self.ended.discard(graph_id)
        self._made.pop(graph_id, None)
