"""The router process: for each activated node, check risk, plan the split, reserve, allocate.

Inputs are folds of the log: the MD stream (books, NBBO) and the LEDGER stream (graphs, the
account: balances, reservations, kill switch). A node is routed once: nodes that already have
a plan or a risk verdict on the log are skipped, so a restart never routes twice; ids of the
events a node produces are derived from its activation event. A plan carries its children:
a router killed after the plan but before its last child places exactly the missing children
(same ids, same fields) when it starts again, before it decides anything new. A routing that
hits a bus error (no answer) is tried again on the log as it then stands, up to ROUTE_RETRIES.

Policies: sor/aggressive_chase sweep at once (IOC); an IOC miss is re-planned over the current
books without the venues that missed, up to `MAX_REROUTES` times and within the slippage collar
from the arrival mid, then the router answers with an empty plan and the node settles. twap/vwap
release IOC slices on schedule. passive rests the whole node GTC at the touch (the best bid for a
buy, never past its limit) on the pinned venue or the one quoting that touch. iceberg rests one
clip of at most `display_qty_1e8` GTC at its limit (at the touch for a market iceberg) and shows
the next only once the clip is filled or gone. Follow-ups (re-routes, clips) are decided on the
router's fold of each graph (`services.graph.state`) once the log is caught up; their ids derive
from the activation and the node's plan count, so a restart republishes the same ids.

Kill switch: the risk decider runs the front doors' EngageKillSwitch/ClearKillSwitch commands;
it is the only writer of `risk.<tenant>.acct` and `risk.<tenant>.kill`, each append under the
subject's expected last sequence. The router's plans and children go out as the `router` writer.

Reservations: the router reserves the whole node before its first child and, when the node or
its graph ends (filled, cancelled, expired, rejected), releases what fills did not consume.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import msgspec

from events import AnyEvent, commands
from events.graph import (
    GraphCancelled,
    GraphCompleted,
    GraphSubmitted,
    NodeActivated,
    NodeCancelled,
    NodeCompleted,
    NodeSpec,
)
from events.risk import FactRefused, KillSwitchCleared, KillSwitchEngaged, RiskCheckRejected
from events.routing import ChildAllocated, PlanMade
from events.ids import derive_id
from events.subjects import VENUE_SCORES, account_subject, subject_for
from events.tca import VenueScored
from events.vault import CredentialRevoked, CredentialStored
from projections.follower import SharedFollower, SharedView, StreamFollower, follow
from projections.market import MarketBooks
from projections.market_follower import MarketFollower
from projections.retention import Retention, window_ns
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.live.venues import can_trade as can_trade_live
from services.refdata import instrument_rules
from services.errors import BusError, ConcurrencyConflict
from services.kernel.appender import AggregateAppender, append_chain
from services.graph.state import graph_of
from services.graph.state import SLICED_POLICIES, GraphState, NodeState
from services.graph.state import apply as apply_to_graph
from services.graph.state import initial as initial_graph
from services.risk import (
    AccountState,
    RiskLimits,
    releases_for,
    rules_book,
)
from services.graph.schedule import Iceberg, slices_for
from services.sor import RoutePlan, SorParams, VenueBook
from services.risk.account import CHILD_FACTS, ChildFact, refusal_event
from services.risk.books import AccountBooks
from services.sor.config import ROUTER_PARAMS
from services.sor.policy import RESTING, RoutingPolicy
from services.sor.scores import VenueScoreBook

log = logging.getLogger("crossbook.sor")

FollowUp = tuple[str, str]  # (graph_id, node_id) to re-check: a re-route or the next clip
KillCommand = commands.EngageKillSwitch | commands.ClearKillSwitch
# Ends that may leave a reservation behind: what the node did not spend is released then.
ENDS = (NodeCompleted, NodeCancelled, GraphCompleted, GraphCancelled, RiskCheckRejected)


@dataclass(frozen=True)
class ReleaseDue:
    """A node or graph ended while holding reservations: release what is left."""

    cause: AnyEvent


@dataclass(frozen=True)
class FactDue:
    """An execution fact the account fold refused: record it once as a `FactRefused`."""

    fact: ChildFact
    reason: str
    child_venue: str


@dataclass(frozen=True)
class Carried:
    """A graph made by the engine of this process, not yet appended; `outbox` is the engine's."""

    events: tuple[AnyEvent, ...]
    outbox: AggregateAppender


class GraphExists(Exception):
    """A graph the engine carried here was refused as new: the log already holds it (a repeated
    submit of a graph that left hot state). Nothing of the decision was stored."""


ACCOUNT_RETRIES = 5  # decisions re-made when another writer appends to the account first
ROUTE_RETRIES = 3  # a node whose routing hit a bus error (no answer, refused) is tried again
ROUTE_RETRY_S = 0.5  # backoff before the first retry, doubled for each next one


class RouterService:
    def __init__(
        self,
        bus: Bus,
        *,
        limits: RiskLimits | None = None,
        params: SorParams | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        ledger: SharedFollower | None = None,
        md: Callable[[Callable[[AnyEvent, int], object]], StreamFollower | SharedView] | None = None,
        retention_s: float | None = None,
        live_entry: Callable[[str, str], bool] | None = can_trade_live,
    ) -> None:
        """`ledger`: the process's shared read of LEDGER; `md`: makes the follower of market
        data for a fold (default: its own MarketFollower; in the trader, a view of the process's
        one read of market data); `retention_s`: how long an ended graph stays in the router's
        folds (default: the bus's dedup window); `live_entry`: whether a live child of a symbol
        can be placed at a venue (live graphs route only there, and only with credentials)."""
        self.bus = bus
        self.route_bus = as_writer(bus, "router")
        self.risk_bus = as_writer(bus, "risk")
        self.decision_bus = as_writer(bus, "risk", "router")  # a node's verdict, plan and children: one append
        self.carry_bus = as_writer(bus, "graph", "risk", "router")  # ... after the graph the engine carried here
        self._carrying: Carried | None = None  # the engine's graph being routed (`carry`)
        self._carry: list[AnyEvent] = []  # what of it is not appended yet
        self._carry_task: asyncio.Task[Any] | None = None  # the task routing it: only it appends the carry
        self.limits = limits or RiskLimits()
        self.params = params or ROUTER_PARAMS
        self.clock_ns = clock_ns
        self.rules_list = instrument_rules()
        self.rules = rules_book(self.rules_list)
        self.market = MarketBooks()
        self.graphs: dict[str, GraphSubmitted] = {}
        self.routed: set[tuple[str, str]] = set()
        self.plan_ids: dict[str, set[str]] = {}  # graph_id -> its plans on the log: a sliced node resumes after its last
        self.finished: set[tuple[str, str]] = set()
        self.slicing: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.pending: asyncio.Queue[NodeActivated | FollowUp | ReleaseDue | KillCommand | Carried | FactDue] = (
            asyncio.Queue()
        )
        self.facts_reported: set[str] = set()  # fact event ids a FactRefused on the log already records
        self.states: dict[str, GraphState] = {}  # the engine's fold, for re-routes and clips
        self.child_graph: dict[str, str] = {}
        self.retention: Retention[str] = Retention(window_ns(bus, retention_s))  # ended graphs
        self.evicted = 0
        self.unconfirmed: set[str] = set()  # carried graphs refused as new and not (yet) read on the log
        self.books = AccountBooks(self.rules, window_ns=self.retention.window_ns)  # sandbox and live accounts, apart
        self.activations: dict[tuple[str, str], NodeActivated] = {}
        self.arrivals: dict[tuple[str, str], int] = {}  # the first plan's arrival mid
        self.queued: set[FollowUp] = set()
        self.unplaced: dict[str, dict[str, ChildAllocated]] = {}  # plan id -> its children not yet on the log
        self.failures: dict[tuple[str, str], int] = {}  # routing attempts that hit a bus error, per node
        self.retries: set[asyncio.Task[None]] = set()
        # Per tenant, the account subject's sequence our fold has reached: the expected sequence
        # of the next append, so a decision made on a stale account can never be appended.
        self.account_seq: dict[str, int] = {}
        self._own_last_seq = 0  # our newest account append: folded before the next decision
        self.kill_seq: dict[str, int] = {}  # tenant -> last sequence of its kill switch subject
        self.kill_seen: set[str] = set()  # kill switch events on the log (a command is run once)
        self.md = md(self.market.apply) if md else MarketFollower(bus, self.market.apply)
        self.scores = VenueScoreBook()  # the TCA's venue scores feed the cost model
        # The decisions (risk check, plans, children, re-routes, clips): the kernel's own code.
        self.policy = RoutingPolicy(
            self.market, self.rules, self.params, self.scores, live_entry=live_entry, region=bus.settings.region
        )
        subjects = ["cmd.>", "ord.>", "risk.>", "route.>", "exec.>", "vault.>", VENUE_SCORES]
        self.ledger = follow(bus, "LEDGER", subjects, self.on_ledger, ledger)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.md.start()
        await self.ledger.start()
        self._task = asyncio.create_task(self._work(), name="router")

    async def stop(self) -> None:
        for task in [*self.slicing.values(), *self.retries]:
            await cancel_and_wait(task)
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self.ledger.stop()
        await self.md.stop()

    def _is_sliced(self, key: tuple[str, str]) -> bool:
        graph = self.graphs.get(key[0])
        node = next((n for n in graph.nodes if n.node_id == key[1]), None) if graph else None
        return node is not None and node.execution.policy in SLICED_POLICIES

    def account(self, tenant: str, is_sandbox: bool) -> AccountState:
        return self.books.account(tenant, is_sandbox)

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.retention.read(event.ts_ns)
        if len(self.retention):
            for graph_id in self.retention.due():
                state = self.states.get(graph_id)
                if graph_id in self.unconfirmed or (state is not None and state.terminal):
                    self._evict(graph_id)
        match event:
            case GraphSubmitted():
                self.graphs[event.graph_id] = event
                self.unconfirmed.discard(event.graph_id)
            case NodeActivated():
                self._activated(event)
            case PlanMade():
                if event.children:
                    self.unplaced[event.plan_id] = {c.child_id: c for c in event.children}
                key = (event.graph_id, event.node_id)
                self.arrivals.setdefault(key, event.arrival_mid_px_1e9)
                self.plan_ids.setdefault(event.graph_id, set()).add(event.plan_id)
                self.routed.add(key)
            case ChildAllocated():
                children = self.unplaced.get(event.plan_id)
                if children is not None:
                    children.pop(event.child_id, None)
                    if not children:
                        del self.unplaced[event.plan_id]
            case VenueScored():
                self.scores.apply(event)
            case RiskCheckRejected():
                # A pass without a plan (crash between the two) is routed again: the risk
                # decision then reports already_passed and the plan is made.
                self.routed.add((event.graph_id, event.node_id))
            case NodeCompleted() | NodeCancelled():
                self.finished.add((event.graph_id, event.node_id))
            case GraphCompleted() | GraphCancelled():
                self.retention.ended(event.graph_id)
            case commands.EngageKillSwitch() | commands.ClearKillSwitch():
                self.pending.put_nowait(event)
            case KillSwitchEngaged() | KillSwitchCleared():
                self.kill_seq[event.tenant] = seq
                self.kill_seen.add(event.event_id)
            case FactRefused():
                self.facts_reported.add(event.fact_event_id)
            case CredentialStored() | CredentialRevoked():
                self.policy.fold_credentials(event)
        self._fold_graph(event)
        if event.tenant:
            if subject_for(event) == account_subject(event.tenant):
                self.account_seq[event.tenant] = seq
            try:
                self.books.fold(event)
            except Exception as exc:  # a fold bug must not stop routing for every tenant
                log.error("account fold of %s failed: %s", type(event).__name__, exc)
            # Facts must make sense: one the fold refused is recorded once, after catching up
            # (a restart sees its FactRefused on the log and records nothing twice).
            refusal = self.books.refusal(event) if isinstance(event, CHILD_FACTS) else None
            if refusal is not None and isinstance(event, CHILD_FACTS):
                self.pending.put_nowait(FactDue(event, *refusal))
            # Decided later on the then-current account: a release already on the log (seen
            # while catching up) leaves nothing to release, so a restart releases nothing twice.
            if isinstance(event, ENDS) and any(releases_for(a, event, now_ns=0) for a in self.books.accounts_for(event)):
                self.pending.put_nowait(ReleaseDue(event))

    def _evict(self, graph_id: str) -> None:
        # The graph ended a dedup window ago (on the log's clock): nothing of it is routed again.
        # A late event for it finds no state and is ignored (a late fill still reaches the
        # account through `books`, which keeps no graph state).
        graph = self.graphs.get(graph_id)
        if graph is not None and any(
            (graph_id, n.node_id) in self.slicing for n in graph.nodes
        ):  # a slicer still winding down: try again a window later
            self.retention.ended(graph_id)
            return
        self.graphs.pop(graph_id, None)
        self.unconfirmed.discard(graph_id)
        state = self.states.pop(graph_id, None)
        self.plan_ids.pop(graph_id, None)
        for child_id in state.children if state is not None else ():
            self.child_graph.pop(child_id, None)
        for node in graph.nodes if graph is not None else ():
            key = (graph_id, node.node_id)
            self.routed.discard(key)
            self.finished.discard(key)
            self.queued.discard(key)
            self.activations.pop(key, None)
            self.arrivals.pop(key, None)
            self.failures.pop(key, None)
        self.evicted += 1

    def _activated(self, event: NodeActivated) -> None:
        key = (event.graph_id, event.node_id)
        if key not in self.activations:  # once, whether it came from the log or from the engine
            self.activations[key] = event
            self.pending.put_nowait(event)

    def take(self, event: AnyEvent) -> None:
        """The graph engine of this process appended `event` (acked, so durable): start routing
        now instead of when the event comes back from the log (one delivery less on the order
        path). Everything before the command that caused it is already in this process's folds."""
        if isinstance(event, GraphSubmitted):
            self.graphs.setdefault(event.graph_id, event)
        elif isinstance(event, NodeActivated) and event.graph_id in self.graphs:
            self._activated(event)

    def _fold_graph(self, event: AnyEvent) -> None:
        if isinstance(event, GraphSubmitted):
            self.states.setdefault(event.graph_id, initial_graph(event))
            return
        graph_id = graph_of(event, self.child_graph)
        state = self.states.get(graph_id) if graph_id else None
        if state is None or state.terminal or not state.owns(event):
            return
        state = self.states[state.graph_id] = apply_to_graph(state, event)
        if state.status == "PAUSED":
            return  # nothing is released while paused; GraphResumed re-checks every node
        for node in state.nodes.values():
            key = (state.graph_id, node.node_id)
            if key not in self.queued and (node.awaits_reroute or self._next_clip_qty(state, node) > 0):
                self.queued.add(key)
                self.pending.put_nowait(key)

    async def _work(self) -> None:
        await self.ledger.caught_up.wait()  # decide only on a complete view of the log
        await self.md.caught_up.wait()
        await self._place_missing_children()
        while True:
            activation = await self.pending.get()
            if isinstance(activation, ReleaseDue):
                await self._release(activation.cause)
                continue
            if isinstance(activation, FactDue):
                await self._report_fact(activation)
                continue
            if isinstance(activation, (commands.EngageKillSwitch, commands.ClearKillSwitch)):
                await self._kill_switch(activation)
                continue
            if isinstance(activation, tuple):
                self.queued.discard(activation)
                await self.ledger.wait_caught_up()  # decide on the graph's whole story so far
                try:
                    await self._follow_up(activation)
                except Exception as exc:  # the outermost loop: log and go on
                    log.exception("follow-up of %s failed: %s", activation, exc)
                continue
            if isinstance(activation, Carried):
                await self._route_carried(activation)
                continue
            await self._route_node(activation)

    async def _route_node(self, activation: NodeActivated) -> None:
        # Everything before the activation is folded (one stream, in order); our own newest
        # account append may still be on its way back: wait for it rather than conflict.
        if self.ledger.position < self._own_last_seq:
            await self.ledger.wait_for(self._own_last_seq)
        key = (activation.graph_id, activation.node_id)
        if key in self.finished or key in self.slicing:
            return
        if key in self.routed and not self._is_sliced(key):
            return
        for attempt in range(ACCOUNT_RETRIES):
            try:
                await self.route(activation)
            except GraphExists as exc:
                log.warning("%s", exc)
            except ConcurrencyConflict:
                # Another writer appended to the account since our fold: decide again on
                # the fresh view (the ids are derived, so nothing is appended twice).
                log.info("account moved under %s (attempt %s); deciding again", key, attempt + 1)
                await self.ledger.wait_caught_up()
                continue
            except BusError as exc:  # no answer or refused: what was stored is unknown
                self._retry_later(activation, exc)
            except Exception as exc:  # the outermost loop: log and go on with the next node
                log.exception("routing %s failed: %s", key, exc)
            break
        else:
            log.error("routing %s gave up after %s account conflicts", key, ACCOUNT_RETRIES)

    def carry(self, events: Sequence[AnyEvent], outbox: AggregateAppender) -> None:
        """The graph engine of this process made a graph (`events`: GraphSubmitted and its root
        activations) and has not appended it: route its roots now, and append the graph with the
        first root's verdict, plan and children in one round trip (the 5 ms order path)."""
        self.pending.put_nowait(Carried(tuple(events), outbox))

    async def _route_carried(self, carried: Carried) -> None:
        activations = []
        for event in carried.events:
            if isinstance(event, GraphSubmitted):
                self.graphs.setdefault(event.graph_id, event)
            elif isinstance(event, NodeActivated):
                key = (event.graph_id, event.node_id)
                if key not in self.activations:  # routed here, not again when the log shows it
                    self.activations[key] = event
                    activations.append(event)
        self._carrying = carried
        self._carry = list(carried.events)
        self._carry_task = asyncio.current_task()
        try:
            for activation in activations:
                await self._route_node(activation)
                if self._carrying is None:  # refused as already on the log: route nothing of it
                    break
        finally:
            rest, self._carry, self._carrying = self._carry, [], None
            if rest:  # not appended with a decision (none was appended, or it failed): the engine's
                carried.outbox.put(rest)

    def _retry_later(self, activation: NodeActivated, exc: BusError) -> None:
        key = (activation.graph_id, activation.node_id)
        failures = self.failures[key] = self.failures.get(key, 0) + 1
        if failures > ROUTE_RETRIES:
            log.error("routing %s failed %d times; giving up: %s", key, failures, exc)
            return
        delay_s = ROUTE_RETRY_S * 2 ** (failures - 1)
        log.warning("routing %s failed (%s); trying again in %.1f s", key, exc, delay_s)
        task = asyncio.create_task(self._retry(activation, delay_s), name=f"retry {key}")
        self.retries.add(task)
        task.add_done_callback(self.retries.discard)

    async def _retry(self, activation: NodeActivated, delay_s: float) -> None:
        # Decide again on the log as it now stands: a plan that was stored after all marks the
        # node routed (and its missing children are placed), one that was not is planned anew.
        await asyncio.sleep(delay_s)  # backoff: the bus was failing a moment ago
        try:
            await self.ledger.wait_caught_up()
            await self._place_missing_children()
        except BusError as exc:
            log.warning("retry of %s/%s: bus still failing (%s)", activation.graph_id, activation.node_id, exc)
        self.pending.put_nowait(activation)

    async def _kill_switch(self, command: KillCommand) -> None:
        """Record an engage or clear; one already on the log (a restart) is not recorded again."""
        event_id = derive_id("react", command.event_id, "0")
        if event_id in self.kill_seen:
            return
        now, tenant, cause = self.clock_ns(), command.tenant, command.event_id
        fact: KillSwitchEngaged | KillSwitchCleared = (
            KillSwitchEngaged(event_id=event_id, ts_ns=now, tenant=tenant, causation_id=cause, reason=command.reason)
            if isinstance(command, commands.EngageKillSwitch)
            else KillSwitchCleared(event_id=event_id, ts_ns=now, tenant=tenant, causation_id=cause)
        )
        try:
            ack = await self.risk_bus.publish(fact, expected_last_subject_seq=self.kill_seq.get(command.tenant, 0))
        except BusError as exc:  # no answer, or another writer: the front door answers on its timeout
            log.error("kill switch %s for %s not recorded: %s", command.event_id, command.tenant, exc)
            return
        self.kill_seq[command.tenant] = max(self.kill_seq.get(command.tenant, 0), ack.seq)
        self.kill_seen.add(event_id)

    async def _report_fact(self, due: FactDue) -> None:
        fact = due.fact
        if fact.event_id in self.facts_reported:
            return
        log.warning("refused %s %s for child %r on %s: %s", type(fact).__name__, fact.event_id, fact.child_id,
                    fact.venue, due.reason)
        event = refusal_event(fact, due.reason, due.child_venue, derive_id("fact_refused", fact.event_id),
                              self.clock_ns())
        try:
            await self.decision_bus.publish(event)
            self.facts_reported.add(fact.event_id)
        except BusError as exc:  # logged; the fold has already left the money untouched
            log.error("recording the refused fact %s failed: %s", fact.event_id, exc)

    async def _release(self, cause: AnyEvent) -> None:
        """Return what an ended node or graph still holds to the available balance."""
        for attempt in range(ACCOUNT_RETRIES):
            if self.ledger.position < self._own_last_seq:
                await self.ledger.wait_for(self._own_last_seq)
            now = self.clock_ns()
            released = [r for account in self.books.accounts_for(cause) for r in releases_for(account, cause, now_ns=now)]
            if not released:
                return
            try:
                await self._publish_account(cause.tenant, list(released))
                return
            except ConcurrencyConflict:
                log.info("account moved while releasing for %s (attempt %s)", cause.event_id, attempt + 1)
                await self.ledger.wait_caught_up()
            except Exception as exc:  # the outermost loop: log and go on
                log.exception("release for %s failed: %s", cause.event_id, exc)
                return
        log.error("release for %s gave up after %s account conflicts", cause.event_id, ACCOUNT_RETRIES)

    async def route(self, activation: NodeActivated) -> None:
        graph = self.graphs.get(activation.graph_id)
        if graph is None:
            log.error("activation for unknown graph %s", activation.graph_id)
            return
        node = next(n for n in graph.nodes if n.node_id == activation.node_id)
        if node.execution.policy in RESTING:
            await self._route_resting(activation, graph, node)
            return
        books, plan, mark = self._plan(node, node.qty_1e8, graph)
        resting = self._resting_part(node, books, plan)
        passed = await self._risk(activation, node, plan, mark, resting)
        if passed is None:
            return
        if node.execution.policy in SLICED_POLICIES:
            # TWAP/VWAP: risk reserved the whole node above; slices are released on schedule.
            await self._publish_account(activation.tenant, passed)
            key = (activation.graph_id, activation.node_id)
            self.slicing[key] = asyncio.create_task(self._release_slices(activation, graph, node))
            return
        assert plan is not None
        if resting is not None:
            # What rests is routed (to the book), not unroutable.
            plan = msgspec.structs.replace(plan, unroutable_qty_1e8=plan.unroutable_qty_1e8 - resting[1])
        await self._publish_plan(activation, graph, node, books, plan, tag=None, resting=resting, account=passed)

    def _quote(self, node: NodeSpec, limit_px_1e9: int | None, graph: GraphSubmitted) -> tuple[str, int] | None:
        return self.policy.quote(node, limit_px_1e9, graph)

    async def _route_resting(self, activation: NodeActivated, graph: GraphSubmitted, node: NodeSpec) -> None:
        quote = self._quote(node, node.limit_px_1e9, graph)
        mark = self._mark(node.instrument.symbol)
        # Risk reserves the whole node on the venue of its first clip (or its whole quantity).
        passed = await self._risk(activation, node, None, mark, (quote[0], node.qty_1e8) if quote else None)
        if passed is None:
            return
        assert quote is not None
        qty = node.qty_1e8
        if node.execution.policy == "iceberg":
            qty = self._iceberg(node, node.qty_1e8).next_display(0, 0)
        await self._publish_resting(activation, graph, node, 0, *quote, qty, account=passed)

    def _iceberg(self, node: NodeSpec, total_qty_1e8: int) -> Iceberg:
        return self.policy.iceberg(node, total_qty_1e8)

    def _next_clip_qty(self, state: GraphState, node: NodeState) -> int:
        return self.policy.next_clip_qty(state, node)

    def _lot(self, symbol: str) -> int:
        return self.policy.lot(symbol)

    async def _follow_up(self, key: FollowUp) -> None:
        state = self.states.get(key[0])
        activation = self.activations.get(key)
        graph = self.graphs.get(key[0])
        if state is None or activation is None or graph is None or key in self.finished or state.status == "PAUSED":
            return
        node = state.nodes[key[1]]
        if node.awaits_reroute:
            await self._reroute(activation, graph, state, node)
            return
        clip = self._next_clip_qty(state, node)
        quote = self._quote(node.spec, node.limit_px_1e9, graph) if clip > 0 else None  # an amended limit counts
        if quote is not None:
            await self._publish_resting(activation, graph, node.spec, node.plan_count, *quote, clip)

    async def _reroute(self, activation: NodeActivated, graph: GraphSubmitted, state: GraphState, node: NodeState) -> None:
        """Plan what IOC children missed again (`RoutingPolicy.reroute_events`)."""
        key = (activation.graph_id, activation.node_id)
        events = self.policy.reroute_events(activation, graph, state, node, arrival_mid_px_1e9=self.arrivals.get(key) or 0,
                                            now_ns=self.clock_ns())
        log.info("re-route %s attempt %d: %d left", key, node.plan_count, node.remaining_qty_1e8)
        await self._commit_events(events)

    async def _publish_resting(
        self, activation: NodeActivated, graph: GraphSubmitted, node: NodeSpec, index: int, venue: str, px: int, qty: int,
        account: Sequence[AnyEvent] = (),
    ) -> None:
        # One resting child (a passive order or iceberg clip `index`) as its own one-line plan.
        events = self.policy.resting_events(
            activation, graph, node, index, venue, px, qty,
            arrival_mid_px_1e9=self.arrivals.get((graph.graph_id, node.node_id)), now_ns=self.clock_ns(),
        )
        await self._commit_events(events, account)

    def _resting_part(
        self, node: NodeSpec, books: list[VenueBook], plan: RoutePlan | None
    ) -> tuple[str, int] | None:
        return self.policy.resting_part(node, books, plan)

    def _mark(self, symbol: str) -> int | None:
        return self.policy.mark(symbol)

    def _plan(
        self, node: NodeSpec, qty_1e8: int, graph: GraphSubmitted, exclude: Collection[str] = ()
    ) -> tuple[list[VenueBook], RoutePlan | None, int | None]:
        return self.policy.plan(node, qty_1e8, graph, exclude)

    async def _risk(
        self,
        activation: NodeActivated,
        node: NodeSpec,
        plan: RoutePlan | None,
        mark: int | None,
        resting: tuple[str, int] | None = None,
    ) -> list[AnyEvent] | None:
        """Check and reserve for the whole node. A refusal is appended here (None); a pass
        returns its account events, to be appended with the plan in one round trip."""
        is_sandbox = self.graphs[activation.graph_id].is_sandbox
        account = self.account(activation.tenant, is_sandbox)
        events, passed = self.policy.risk(account, activation, node, plan, mark, resting, limits=self.limits,
                                          now_ns=self.clock_ns(), live=not is_sandbox)
        if not passed:
            await self._publish_account(activation.tenant, events)
            return None
        return events

    async def _release_slices(self, activation: NodeActivated, graph: GraphSubmitted, node: NodeSpec) -> None:
        key = (activation.graph_id, activation.node_id)
        slices = slices_for(
            node,
            node.qty_1e8,
            activation.ts_ns,  # from the log: a restart recomputes the same schedule
            lot_1e8=self._lot(node.instrument.symbol),
            rng=random.Random(activation.event_id),
            profile=[1] * max(2, node.execution.num_slices or 2) if node.execution.policy == "vwap" else None,
        )
        # After a restart, resume after the last slice on the log (by its id, not by counting
        # plans: a slice skipped for want of a book leaves no plan, and must stay skipped).
        plans = self.plan_ids.get(activation.graph_id, set())
        released = [i for i in range(len(slices)) if derive_id("plan", activation.event_id, str(i)) in plans]
        resume_at = max(released) + 1 if released else 0
        try:
            for index, piece in enumerate(slices):
                if key in self.finished:
                    break  # cancelled, or settled by the engine after its horizon
                if index < resume_at:
                    continue  # released (or skipped) before a restart
                delay_s = (piece.due_ns - self.clock_ns()) / 1e9
                if delay_s > 0:
                    await asyncio.sleep(delay_s)  # the schedule's own clock: slices are due at set times
                books, plan, _ = self._plan(node, piece.qty_1e8, graph)
                if plan is None or not any(a.qty_1e8 for a in plan.allocations):
                    log.warning("slice %s of %s: no live book; skipped", index, key)
                    continue
                await self._publish_plan(activation, graph, node, books, plan, tag=str(index))
        except Exception as exc:  # the task's outermost frame: nobody awaits it, so say it here
            log.exception("slicing %s stopped: %s", key, exc)
        finally:
            self.slicing.pop(key, None)  # else the ended graph could never leave the router's state

    async def _publish_plan(
        self,
        activation: NodeActivated,
        graph: GraphSubmitted,
        node: NodeSpec,
        books: list[VenueBook],
        plan: RoutePlan,
        tag: str | None,
        resting: tuple[str, int] | None = None,
        account: Sequence[AnyEvent] = (),
    ) -> None:
        # Stable ids (not counter-derived): a re-route after a crash republishes the same ids.
        events = self.policy.plan_events(activation, graph, node, books, plan, tag=tag, now_ns=self.clock_ns(),
                                         resting=resting)
        await self._commit_events(events, account)

    async def _commit_events(self, events: list[AnyEvent], account: Sequence[AnyEvent] = ()) -> None:
        # A plan carrying its children, then the children (as `RoutingPolicy` makes them).
        made, children = events[0], [c for c in events[1:] if isinstance(c, ChildAllocated)]
        assert isinstance(made, PlanMade) and len(children) == len(events) - 1
        await self._commit_plan(made, children, account)

    async def _commit_plan(self, made: PlanMade, children: list[ChildAllocated], account: Sequence[AnyEvent] = ()) -> None:
        # The plan marks its node routed: stored without all its children, it would strand the
        # node, and re-planning could pick other venues and place the quantity twice. So the
        # plan carries its children, and `_place_missing_children` completes it after a crash.
        # (A JetStream atomic batch would also do, but costs ~10 ms per plan on a file stream.)
        # The risk verdict and reservation go first in the same pipelined append: the account's
        # first append is checked against our fold (services/kernel/appender.py says why that
        # suffices for one writer); a crash part-way re-decides from the activation, same ids.
        plan: list[AnyEvent] = [msgspec.structs.replace(made, children=tuple(children)), *children]
        if account or self._carrying_here():
            await self._append_checked(made.tenant, [*account, *plan], self.decision_bus)
        else:
            await self.route_bus.publish_many(plan)

    async def _place_missing_children(self) -> None:
        """Publish the children of plans whose own children are not all on the log."""
        missing = [c for children in self.unplaced.values() for c in children.values()]
        if missing:
            log.warning("placing %d child orders a crash left out of their plans", len(missing))
            await self.route_bus.publish_many(missing)

    def _carrying_here(self) -> bool:
        # A slicer, retry or follow-up task may append while the router's loop is routing a carried
        # graph: the carry goes only with that loop's own decision, never in front of another's.
        return bool(self._carry) and asyncio.current_task() is self._carry_task

    async def _publish_account(self, tenant: str, events: Sequence[AnyEvent]) -> None:
        await self._append_checked(tenant, events, self.risk_bus)

    async def _append_checked(self, tenant: str, events: Sequence[AnyEvent], bus: Bus) -> None:
        # One pipelined append, stored as a prefix (services/kernel/appender.py): the first account
        # event names the account sequence the decision was made on (ConcurrencyConflict if
        # anything was appended since, and nothing after it is stored). Our newest account append
        # is then folded before the next decision (`_own_last_seq`).
        # A graph the engine carried here goes first, its subject checked as the engine would.
        subject = account_subject(tenant)
        expected = {subject: self.account_seq.get(tenant, 0)}
        carried = self._carrying if self._carrying_here() else None
        if carried is not None and self._carry:
            events, bus = [*self._carry, *events], self.carry_bus
            expected.update((s, carried.outbox.last_seq.get(s, 0)) for s in {subject_for(e) for e in self._carry})
        stored, failure, _ = await append_chain(bus, events, expected)
        if carried is not None and self._carry:
            for event, ack in stored[: len(self._carry)]:
                carried.outbox.saw(subject_for(event), ack.seq)
                carried.outbox.published += 1
            self._carry = self._carry[len(stored):]
        if any(subject_for(event) == subject for event, _ in stored):
            self._own_last_seq = max(self._own_last_seq, expected[subject])
        if (
            isinstance(failure, ConcurrencyConflict) and failure.expected_seq == 0 and carried is not None
            and self._carry and failure.subject == subject_for(self._carry[0])
        ):
            refused, self._carry, self._carrying = self._carry, [], None
            if carried.outbox.on_refused is not None:
                carried.outbox.on_refused(refused, 0)
            for event in refused:
                if isinstance(event, GraphSubmitted):
                    # Our own earlier append whose answer was lost, or a repeat of a graph that left
                    # memory: its activations are routed if and when the log shows them; a copy
                    # the log never confirms goes a window later.
                    for node in event.nodes:
                        self.activations.pop((event.graph_id, node.node_id), None)
                    if event.graph_id not in self.states:
                        self.unconfirmed.add(event.graph_id)
                        self.retention.ended(event.graph_id)
                    raise GraphExists(f"graph {event.graph_id} is already on the log; the repeated submit is not applied")
        if failure is not None:
            raise failure
