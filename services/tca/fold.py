"""The TCA fold, pure: each node's facts from the ledger, and one report per completed node.

The live TCA service and the synchronous kernel both fold through `TcaFold`. The report's id
derives from the NodeCompleted event id and its time is the completion's, so whoever builds it
builds the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from events import AnyEvent
from events.execution import ChildAcked, ChildSubmitted, FillRecorded
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted, NodeActivated, NodeCompleted
from events.ids import derive_id
from events.routing import ChildAllocated, PlanMade
from events.tca import TcaReported
from projections.retention import DEFAULT_WINDOW_S, Retention
from services.graph.state import SLICED_POLICIES
from services.tca.errors import TcaInputError
from services.tca.report import build_report

log = logging.getLogger("crossbook.tca")

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
