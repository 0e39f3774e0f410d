"""The graph engine process: fold each graph's events, run the front doors' commands, react,
append the reactions. It is the only writer of `ord.<tenant>.<graph_id>`: every append names
the graph subject's last sequence it has seen (services/kernel/appender.py).

State is rebuilt from the LEDGER stream on start. Reaction ids are derived from the event that
caused them, so reacting again after a crash republishes the same ids and JetStream keeps one.
Timers (on_timeout edges, sliced nodes' horizons) send a `Tick` when due; its reactions' ids
derive from the graph and the due time, so a restart that ticks again republishes the same ids.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from events import AnyEvent, commands
from events.graph import GRAPH_EVENTS, GraphSubmitted
from events.ids import derive_id
from events.subjects import graph_subject, subject_for
from projections.follower import SharedFollower, follow
from projections.retention import Retention, window_ns
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.writer import as_writer
from services.graph import GraphState, Tick, next_wakeup_ns, step
from services.graph.commands import GraphCommand, command_answer, engine_command, graph_body
from services.graph.errors import GraphError
from services.graph.state import graph_of
from services.kernel.appender import AggregateAppender
from services.kernel.ports import derived_ids

log = logging.getLogger("crossbook.graph")

LEDGER_SUBJECTS = ["cmd.>", "ord.>", "route.>", "exec.>", "risk.>"]


class GraphEngineService:
    def __init__(
        self,
        bus: Bus,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        ledger: SharedFollower | None = None,
        retention_s: float | None = None,
    ) -> None:
        """`retention_s`: how long a finished graph stays after it ended, on the log's clock
        (default: the bus's dedup window, projections/retention.py)."""
        self.bus = bus
        self.clock_ns = clock_ns
        self.graphs: dict[str, GraphState] = {}
        self.child_graph: dict[str, str] = {}  # child_id -> graph_id (child replies carry no graph_id)
        self.wakeups: dict[str, int] = {}  # graph_id -> when its next Tick is due
        self.ticked: dict[str, int] = {}  # graph_id -> the last due time ticked
        self.timers_changed = asyncio.Event()
        self.held: dict[str, AnyEvent] = {}  # reactions made while replaying, not yet seen on the log
        # Commands read while replaying whose effects the log does not show (yet): run once
        # caught up, on the whole state, so an acked command is neither lost nor run twice.
        self.unrun: dict[str, commands.SubmitGraph | GraphCommand] = {}
        self.outbox = AggregateAppender(as_writer(bus, "graph"), "graph")
        self.outbox.on_refused = self._refused
        self.retention: Retention[str] = Retention(window_ns(bus, retention_s))
        self.evicted = 0
        self.refused_repeats = 0  # graphs made anew from a repeated submit and refused by the log
        self.from_log: set[str] = set()  # graphs whose GraphSubmitted this engine has read on the log
        self.unconfirmed: set[str] = set()  # made here, refused as new, not (yet) read on the log
        # A router in this process that appends a new graph with its roots' routing in one
        # round trip (services/runtime.py `hand_over`); else the outbox appends it.
        self.carry_to: Callable[[list[AnyEvent], AggregateAppender], None] | None = None
        self.follower = follow(bus, "LEDGER", LEDGER_SUBJECTS, self.on_event, ledger)
        self._timers: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.outbox.start()
        await self.follower.start()
        self._timers = asyncio.create_task(self._run_timers(), name="graph-timers")

    async def stop(self) -> None:
        if self._timers is not None:
            await cancel_and_wait(self._timers)
        await self.follower.stop()
        await self.outbox.stop()

    def _keep(self, graph_id: str, state: GraphState) -> None:
        before = self.graphs.get(graph_id)
        self.graphs[graph_id] = state
        if state.terminal and (before is None or not before.terminal):
            self.retention.ended(graph_id)
        due = next_wakeup_ns(state, self.ticked.get(graph_id))
        if due == self.wakeups.get(graph_id):
            return
        if due is None:
            self.wakeups.pop(graph_id, None)
        else:
            self.wakeups[graph_id] = due
        self.timers_changed.set()

    async def _run_timers(self) -> None:
        await self.follower.caught_up.wait()  # decide only on a complete view of the log
        self._react([])
        self._run_unrun()
        while True:
            self.timers_changed.clear()
            now = self.clock_ns()
            for graph_id, due in sorted(self.wakeups.items(), key=lambda item: item[1]):
                if due <= now:
                    self._tick(graph_id, due)
            soonest = min(self.wakeups.values(), default=None)
            timeout = None if soonest is None else max(0.0, (soonest - self.clock_ns()) / 1e9)
            try:
                await asyncio.wait_for(self.timers_changed.wait(), timeout)
            except TimeoutError:
                pass

    def _tick(self, graph_id: str, due_ns: int) -> None:
        self.ticked[graph_id] = due_ns
        state = self.graphs[graph_id]
        try:
            new_state, out = step(state, Tick(), self.clock_ns(), derived_ids(derive_id("tick", graph_id, str(due_ns))))
        except GraphError as exc:
            log.error("graph %s: tick failed: %s", graph_id, exc)
            new_state, out = state, []
        self._keep(graph_id, new_state)
        self.outbox.put(out)

    def _react(self, out: list[AnyEvent]) -> None:
        # Replaying after a restart re-makes every past reaction; most are further down the log.
        # Hold them, drop each one the log shows, and publish only the rest once caught up:
        # republished past the dedup window, they would be stored twice.
        if not self.follower.caught_up.is_set():
            self.held.update((e.event_id, e) for e in out)
            return
        if self.held:
            self.outbox.put(list(self.held.values()))
            self.held.clear()
        self.outbox.put(out)

    def _evict_due(self) -> None:
        for graph_id in self.retention.due():
            state = self.graphs.get(graph_id)
            if state is not None and graph_id in self.unconfirmed:
                # Refused as new a window ago and never read on the log since: a copy made from
                # a repeated submit of a graph that had left memory. The log keeps the original.
                self._evict(state)
                self.refused_repeats += 1
            elif state is not None and state.terminal:
                self._evict(state)
                self.evicted += 1

    def _evict(self, state: GraphState) -> None:
        # Its history is in the durable views; a late event for it is ignored here (the graph
        # has ended: nothing it could cause), and a repeated submit is refused by JetStream
        # (`_refused`): the graph's subject is no longer empty.
        self.graphs.pop(state.graph_id, None)
        self.wakeups.pop(state.graph_id, None)
        self.ticked.pop(state.graph_id, None)
        for child_id in state.children:
            self.child_graph.pop(child_id, None)
        self.outbox.last_seq.pop(graph_subject(state.tenant, state.graph_id), None)
        self.from_log.discard(state.graph_id)
        self.unconfirmed.discard(state.graph_id)

    def _refused(self, events: list[AnyEvent], expected_seq: int) -> None:
        # A graph appended as new (expected subject sequence 0) is already on the log: either our
        # own earlier append whose answer was lost (the log will show it to us: keep the state),
        # or a repeated submit of a graph that left memory (the log never will: the copy goes a
        # window later, `_evict_due`). The log keeps the one graph either way.
        if expected_seq != 0:
            return
        for event in events:
            if isinstance(event, GraphSubmitted) and event.graph_id not in self.from_log:
                log.warning("graph %s is already on the log: this submit's copy is not appended", event.graph_id)
                self.unconfirmed.add(event.graph_id)
                self.retention.ended(event.graph_id)

    def on_event(self, event: AnyEvent, seq: int) -> None:
        self.retention.read(event.ts_ns)
        if len(self.retention):
            self._evict_due()
        self.held.pop(event.event_id, None)
        if event.causation_id is not None:
            self.unrun.pop(event.causation_id, None)  # the command it answers has run
        if isinstance(event, GRAPH_EVENTS):
            self.outbox.saw(subject_for(event), seq)
        if isinstance(event, commands.GRAPH_COMMANDS):
            self.unrun[event.event_id] = event
            if self.follower.caught_up.is_set():
                self._run_unrun()
            return
        if isinstance(event, GraphSubmitted):
            self.from_log.add(event.graph_id)
            self.unconfirmed.discard(event.graph_id)
            if event.graph_id in self.graphs:
                return
            # Replaying: the root activations get the ids `_on_command` gave them (from the
            # command), or, on a log older than commands, those the API gave them.
            created, out = step(None, event, self.clock_ns(), derived_ids(event.causation_id or event.event_id, 1))
            self._keep(event.graph_id, created)
            self._react(out)
            return
        graph_id = graph_of(event, self.child_graph)
        state = self.graphs.get(graph_id) if graph_id else None
        if graph_id is None or state is None or not state.owns(event):
            return
        try:
            new_state, out = step(state, event, self.clock_ns(), derived_ids(event.event_id))
        except GraphError as exc:
            log.error("graph %s: cannot apply %s: %s", graph_id, type(event).__name__, exc)
            return
        self._keep(graph_id, new_state)
        self._react(out)

    def _run_unrun(self) -> None:
        pending, self.unrun = self.unrun, {}
        for command in pending.values():  # in log order
            self._on_command(command)

    def _on_command(self, command: commands.SubmitGraph | GraphCommand) -> None:
        # The reactions' ids derive from the command's id: re-running it after a crash makes
        # the same events, and those already on the log are dropped (`_react`).
        new_id = derived_ids(command.event_id)
        now = self.clock_ns()
        if isinstance(command, commands.SubmitGraph):
            if command.graph_id in self.graphs:
                return  # a retry or a clash: the API answers it from the graph on the log
            submitted = GraphSubmitted(
                event_id=new_id(), ts_ns=now, tenant=command.tenant, causation_id=command.event_id,
                correlation_id=command.graph_id, **graph_body(command),
            )
            state, out = step(None, submitted, now, new_id)
            self._keep(command.graph_id, state)
            if self.carry_to is not None and self.follower.caught_up.is_set() and not self.held:
                self.carry_to([submitted, *out], self.outbox)  # appended with the roots' routing
            else:
                self._react([submitted, *out])
            return
        current = self.graphs.get(command.graph_id)
        if current is None or current.tenant != command.tenant:
            log.warning("%s %s: no graph %s for tenant %s", type(command).__name__, command.event_id,
                        command.graph_id, command.tenant)
            return
        try:
            new_state, out = command_answer(current, engine_command(command), now, command.event_id)
        except GraphError as exc:  # the graph moved on since the front door checked it
            log.warning("graph %s: %s %s not applied: %s", command.graph_id, type(command).__name__, command.event_id, exc)
            return
        self._keep(command.graph_id, new_state)
        self._react(out)

