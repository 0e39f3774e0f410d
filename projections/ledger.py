"""The API's hot, in-memory ledger: whole graph states, fills, kill switches, funding, TCA.

Rebuilt from the LEDGER stream on start, like the market books. Commands decide on it (submit
idempotency and kill switch, cancel/amend/resume need the freshest whole `GraphState`), and the
WebSocket and TCA routes read it. REST reads of orders, fills and graph status come from the
durable, tracked `orders` view (projections/orders.py), which folds graphs the same way."""

from __future__ import annotations

from events import AnyEvent
from events.execution import BalanceAdjusted, FillRecorded
from events.graph import GraphSubmitted
from events.risk import KillSwitchCleared, KillSwitchEngaged
from events.tca import TcaReported
from services.graph import GraphState
from services.graph import apply as apply_graph
from services.graph.service import graph_of
from services.graph.state import initial


class LedgerView:
    def __init__(self) -> None:
        self.graphs: dict[str, GraphState] = {}
        self.fills: list[FillRecorded] = []
        self.fill_ids: set[str] = set()
        self.child_graph: dict[str, str] = {}
        self.funded: set[str] = set()  # tenants holding paper balances
        self.kill: dict[str, KillSwitchEngaged] = {}  # tenant -> the engagement in force
        self.tca: dict[str, TcaReported] = {}  # event_id -> report, in log order
        self.position = 0

    def apply(self, event: AnyEvent, seq: int) -> None:
        self.position = max(self.position, seq)
        if isinstance(event, GraphSubmitted):
            self.graphs.setdefault(event.graph_id, initial(event))
            return
        if isinstance(event, TcaReported):
            self.tca.setdefault(event.event_id, event)
            return
        if isinstance(event, KillSwitchEngaged):
            self.kill[event.tenant] = event
            return
        if isinstance(event, KillSwitchCleared):
            self.kill.pop(event.tenant, None)
            return
        if isinstance(event, BalanceAdjusted) and event.reason == "paper_funding":
            self.funded.add(event.tenant)
            return
        if isinstance(event, FillRecorded) and event.fill_id not in self.fill_ids:
            self.fill_ids.add(event.fill_id)
            self.fills.append(event)
        graph_id = graph_of(event, self.child_graph)
        state = self.graphs.get(graph_id) if graph_id else None
        if state is not None and state.owns(event):
            self.graphs[graph_id] = apply_graph(state, event)
