"""The graph engine process: fold each graph's events, react, publish the reactions.

State is rebuilt from the LEDGER stream on start. Reaction ids are derived from the event that
caused them, so reacting again after a crash republishes the same ids and JetStream keeps one.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable

from events import AnyEvent
from events.graph import GraphSubmitted
from events.ids import derive_id
from projections.follower import StreamFollower
from services.bus import Bus
from services.bus.outbox import Outbox
from services.graph import GraphState, step
from services.graph.errors import GraphError

log = logging.getLogger("crossbook.graph")

LEDGER_SUBJECTS = ["ord.>", "route.>", "exec.>", "risk.>"]


def graph_of(event: AnyEvent, child_graph: dict[str, str]) -> str | None:
    """The graph an event belongs to; child replies are matched through their allocation."""
    graph_id = getattr(event, "graph_id", None)
    child_id = getattr(event, "child_id", None)
    if graph_id and child_id:
        child_graph[child_id] = graph_id
    return graph_id or (child_graph.get(child_id) if child_id else None)


def derived_ids(cause_id: str, start: int = 0) -> Callable[[], str]:
    """Ids for the reactions to one event: the same cause always yields the same ids."""
    counter = itertools.count(start)
    return lambda: derive_id("react", cause_id, str(next(counter)))


class GraphEngineService:
    def __init__(self, bus: Bus, *, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.bus = bus
        self.clock_ns = clock_ns
        self.graphs: dict[str, GraphState] = {}
        self.child_graph: dict[str, str] = {}  # child_id -> graph_id (child replies carry no graph_id)
        self.outbox = Outbox(bus, "graph")
        self.follower = StreamFollower(bus, "LEDGER", LEDGER_SUBJECTS, self.on_event)

    async def start(self) -> None:
        await self.outbox.start()
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()
        await self.outbox.stop()

    def on_event(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, GraphSubmitted):
            if event.graph_id in self.graphs:
                return
            # The API already published the root activations with these same derived ids.
            state, out = step(None, event, self.clock_ns(), derived_ids(event.event_id, 1))
            self.graphs[event.graph_id] = state
            self.outbox.put(out)
            return
        graph_id = graph_of(event, self.child_graph)
        state = self.graphs.get(graph_id) if graph_id else None
        if state is None or not state.owns(event):
            return
        try:
            new_state, out = step(state, event, self.clock_ns(), derived_ids(event.event_id))
        except GraphError as exc:
            log.error("graph %s: cannot apply %s: %s", graph_id, type(event).__name__, exc)
            return
        self.graphs[graph_id] = new_state
        self.outbox.put(out)
