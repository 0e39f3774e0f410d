"""Graph and node state as a fold over the graph's events (and the fills and child outcomes).

`initial(GraphSubmitted)` starts a state; `apply(state, event)` returns the next one and never
mutates its input. Events that do not belong to the graph (another graph_id, an unknown child)
return the same state, so the lead can feed every event of a stream through `apply`.

Folded event types: every `events.graph` event; `execution.FillRecorded` (deduplicated by
fill_id), `ChildSubmitted`, `ChildRejected`, `ChildCancelled`, `ChildAmended`;
`routing.PlanMade` and `ChildAllocated` (which children a node has and how much was planned);
`risk.RiskCheckRejected`. Child events without graph_id are matched through the child_id learnt
from `ChildAllocated`/`ChildSubmitted`/`FillRecorded`.

Average fill price is the fills' VWAP, ``sum(px_1e9 * qty_1e8) / sum(qty_1e8)`` kept exact and
rounded half up only when read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from events.base import Event
from events.execution import ChildAmended, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded
from events.graph import (
    EdgeSpec,
    GraphCancelled,
    GraphCompleted,
    GraphPaused,
    GraphResumed,
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCancelled,
    NodeCompleted,
    NodeSpec,
)
from events.risk import RiskCheckRejected
from events.routing import ChildAllocated, PlanMade
from services.graph.errors import GraphError
from services.graph.schema import node_order_id

# The cancel half of a cancel_replace amend (the executor's ChildCancelled reason): the venue
# order is gone, but the child is not; its replacement follows as ChildAmended.
REPLACED = "replaced"


NodeStatus = Literal[
    "PENDING", "ACCEPTED", "WORKING", "PARTIALLY_FILLED", "FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED"
]
GraphStatus = Literal["ACCEPTED", "RUNNING", "PAUSED", "COMPLETED", "CANCELLED", "REJECTED", "FAILED"]
TERMINAL_GRAPH_STATUSES: frozenset[str] = frozenset({"COMPLETED", "CANCELLED", "REJECTED", "FAILED"})
SWEEP_POLICIES = ("sor", "aggressive_chase")  # one plan swept at once, re-routed on a miss
SLICED_POLICIES = ("twap", "vwap")  # released in slices over the horizon
IMMEDIATE_TIFS = ("ioc", "fok")  # a child that fills at once or not at all: what it leaves is a miss
MAX_REROUTES = 3  # re-plans of a sweep's missed remainder before the node settles short


def graph_of(event: Event, child_graph: dict[str, str] | None = None) -> str | None:
    """The graph an event belongs to: every graph, routing and child event names its own.

    `child_graph` (child_id -> graph_id, kept by the caller) only matters for child replies in
    logs written before they carried `graph_id`; new code passes none."""
    graph_id = getattr(event, "graph_id", None) or None
    child_id = getattr(event, "child_id", None)
    if child_graph is None or not child_id:
        return graph_id
    if graph_id:
        child_graph[child_id] = graph_id
        return graph_id
    return child_graph.get(child_id)


@dataclass(frozen=True, slots=True)
class ChildState:
    """One child order of a node as far as the graph needs it."""

    child_id: str
    node_id: str
    qty_1e8: int | None = None  # None until its allocation is seen (a fill may arrive first)
    filled_qty_1e8: int = 0
    closed: bool = False  # rejected or cancelled at the venue
    venue: str | None = None  # known from the allocation
    tif: str | None = None

    @property
    def open(self) -> bool:
        return not self.closed and (self.qty_1e8 is None or self.filled_qty_1e8 < self.qty_1e8)

    @property
    def missed(self) -> bool:
        """Closed at the venue with part of it unfilled."""
        return self.closed and self.qty_1e8 is not None and self.filled_qty_1e8 < self.qty_1e8

    @property
    def working_qty_1e8(self) -> int:
        """What is shown at the venue and not yet filled."""
        return (self.qty_1e8 or 0) - self.filled_qty_1e8 if self.open else 0


@dataclass(frozen=True, slots=True)
class EdgeState:
    spec: EdgeSpec
    fired: bool = False
    fired_ns: int | None = None


@dataclass(frozen=True, slots=True)
class NodeState:
    """One node: its spec, lifecycle, fills and children.

    `final` is set only by NodeCompleted/NodeCancelled; `status` may read FILLED before that.
    A cancelled node that had started is `final` at once (nothing more is routed, its edges
    react) but its outcome is `settling` until its open children have ended: fills racing the
    cancel still count, and the engine then completes it FILLED or CANCELLED (engine `_settle`).
    """

    spec: NodeSpec
    node_order_id: str
    target_qty_1e8: int
    limit_px_1e9: int | None
    status: NodeStatus = "PENDING"
    final: bool = False
    filled_qty_1e8: int = 0
    fill_px_qty_sum: int = 0  # sum(px_1e9 * qty_1e8), exact
    fill_count: int = 0
    fees_usd_1e9: int = 0
    open_children: frozenset[str] = frozenset()
    children_seen: int = 0
    plan_count: int = 0
    planned_qty_1e8: int = 0
    allocated_qty_1e8: int = 0
    last_plan_routed_qty_1e8: int = 0  # what the latest plan allocated (0: it gave up)
    ioc_missed: bool = False  # an IOC/FOK child closed with part unfilled
    last_reject_reason: str | None = None
    last_cancel_reason: str | None = None
    risk_reject_code: str | None = None
    failure_reason: str | None = None
    settling: bool = False  # cancelled, its NodeCompleted awaits its open children
    activated_ns: int | None = None
    fired_edge_id: str | None = None
    created_ns: int = 0
    updated_ns: int = 0

    @property
    def node_id(self) -> str:
        return self.spec.node_id

    @property
    def activated(self) -> bool:
        return self.activated_ns is not None

    @property
    def avg_fill_px_1e9(self) -> int | None:
        if self.filled_qty_1e8 <= 0:
            return None
        return (2 * self.fill_px_qty_sum + self.filled_qty_1e8) // (2 * self.filled_qty_1e8)

    @property
    def remaining_qty_1e8(self) -> int:
        return max(0, self.target_qty_1e8 - self.filled_qty_1e8)

    @property
    def quiet(self) -> bool:
        """The node's routed plans are fully allocated and none of its children is open."""
        return self.plan_count > 0 and not self.open_children and self.allocated_qty_1e8 >= self.planned_qty_1e8

    @property
    def awaits_reroute(self) -> bool:
        """A sweep whose IOC children missed waits for the router (it and the engine both read
        this): the router answers with a plan for the remainder, or with an empty plan when it
        gives up; after `MAX_REROUTES` re-plans, or once a plan routed nothing, the node settles."""
        return (
            self.spec.execution.policy in SWEEP_POLICIES
            and self.activated
            and not self.final
            and self.quiet
            and self.remaining_qty_1e8 > 0
            and self.ioc_missed
            and self.last_plan_routed_qty_1e8 > 0
            and self.plan_count <= MAX_REROUTES
            and self.risk_reject_code is None
        )


@dataclass(frozen=True, slots=True)
class GraphState:
    """The whole graph; `nodes` and `edges` keep submission order and are never mutated."""

    graph_id: str
    tenant: str
    is_sandbox: bool
    body_sha256: str
    submitted_event_id: str
    status: GraphStatus
    nodes: Mapping[str, NodeState]
    edges: Mapping[str, EdgeState]
    created_ns: int
    updated_ns: int
    children: Mapping[str, ChildState] = field(default_factory=dict)
    fill_ids: frozenset[str] = frozenset()
    seen_event_ids: frozenset[str] = frozenset()  # an event delivered twice (or echoed back) is applied once
    max_notional_usd_1e9: int | None = None
    max_loss_usd_1e9: int | None = None
    reason: str | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_GRAPH_STATUSES

    def incoming(self, node_id: str) -> list[EdgeState]:
        """Return the edges into a node in submission order."""
        return [e for e in self.edges.values() if e.spec.to_node == node_id]

    def owns(self, event: Event) -> bool:
        """Tell whether `apply` would attribute this event to the graph."""
        graph_id = getattr(event, "graph_id", None)
        if graph_id:
            return bool(graph_id == self.graph_id)
        child_id = getattr(event, "child_id", None)
        return child_id is not None and child_id in self.children


def initial(event: GraphSubmitted) -> GraphState:
    """Start a graph's state from its submission; every node waits (PENDING) for activation."""
    nodes = {
        n.node_id: NodeState(
            spec=n,
            node_order_id=node_order_id(event.graph_id, n.node_id, 1),
            target_qty_1e8=n.qty_1e8,
            limit_px_1e9=n.limit_px_1e9,
            created_ns=event.ts_ns,
            updated_ns=event.ts_ns,
        )
        for n in event.nodes
    }
    return GraphState(
        graph_id=event.graph_id,
        tenant=event.tenant,
        is_sandbox=event.is_sandbox,
        body_sha256=event.body_sha256,
        submitted_event_id=event.event_id,
        status="ACCEPTED",
        nodes=nodes,
        edges={e.edge_id: EdgeState(spec=e) for e in event.edges},
        created_ns=event.ts_ns,
        updated_ns=event.ts_ns,
        seen_event_ids=frozenset({event.event_id}),
        max_notional_usd_1e9=event.max_notional_usd_1e9,
        max_loss_usd_1e9=event.max_loss_usd_1e9,
    )


def fold(events: Iterable[Event]) -> GraphState:
    """Rebuild a state from a graph's events; the first must be its GraphSubmitted."""
    state: GraphState | None = None
    for event in events:
        if state is None:
            if not isinstance(event, GraphSubmitted):
                raise GraphError(f"a graph's first event must be GraphSubmitted, was {type(event).__name__}")
            state = initial(event)
        else:
            state = apply(state, event)
    if state is None:
        raise GraphError("cannot fold an empty event list")
    return state


def apply(state: GraphState, event: Event) -> GraphState:
    """Return the state after one event (the same object when the event changes nothing).

    An event id already applied is ignored, so redelivery and the engine's own events coming
    back on the stream are harmless; a fill_id already counted is ignored too (venue replays).
    """
    if event.event_id in state.seen_event_ids:
        return state
    after = _apply(state, event)
    if after is state:
        return state
    return replace(after, seen_event_ids=state.seen_event_ids | {event.event_id})


def _apply(state: GraphState, event: Event) -> GraphState:
    match event:
        case FillRecorded():
            return _on_fill(state, event)
        case NodeActivated():
            return _on_activated(state, event)
        case NodeCompleted(node_id=node_id, status=status, reason=reason) if _mine(state, event, node_id):
            return _set_node(state, node_id, event.ts_ns, status=status, final=True, settling=False,
                             failure_reason=None if status == "FILLED" else reason)
        case NodeCancelled(node_id=node_id, reason=reason) if _mine(state, event, node_id):
            node = state.nodes[node_id]
            return _set_node(state, node_id, event.ts_ns, status="CANCELLED", final=True, failure_reason=reason,
                             settling=node.activated and not node.final)
        case NodeAmended(node_id=node_id) if _mine(state, event, node_id):
            node = state.nodes[node_id]
            changes: dict[str, Any] = {}
            if event.new_qty_1e8 is not None:
                changes["target_qty_1e8"] = event.new_qty_1e8
            if event.new_limit_px_1e9 is not None:
                changes["limit_px_1e9"] = event.new_limit_px_1e9
            node = replace(node, **changes, updated_ns=max(node.updated_ns, event.ts_ns))
            return _put_node(state, _refresh(node), event.ts_ns)
        case GraphCompleted(status=status, reason=reason) if _mine(state, event):
            return replace(state, status=status, reason=reason, updated_ns=max(state.updated_ns, event.ts_ns))
        case GraphCancelled(reason=reason) if _mine(state, event):
            return replace(state, status="CANCELLED", reason=reason, updated_ns=max(state.updated_ns, event.ts_ns))
        case GraphPaused(reason=reason) if _mine(state, event) and not state.terminal:
            return replace(state, status="PAUSED", reason=reason, updated_ns=max(state.updated_ns, event.ts_ns))
        case GraphResumed() if _mine(state, event) and state.status == "PAUSED":
            resumed: GraphStatus = "RUNNING" if any(n.activated for n in state.nodes.values()) else "ACCEPTED"
            return replace(state, status=resumed, reason=None, updated_ns=max(state.updated_ns, event.ts_ns))
        case RiskCheckRejected(node_id=node_id) if _mine(state, event, node_id):
            return _set_node(state, node_id, event.ts_ns, risk_reject_code=event.code,
                             last_reject_reason=f"{event.code}: {event.message}")
        case PlanMade(node_id=node_id) if _mine(state, event, node_id):
            node = state.nodes[node_id]
            planned = sum(a.qty_1e8 for a in event.allocations)
            return _set_node(state, node_id, event.ts_ns, plan_count=node.plan_count + 1,
                             planned_qty_1e8=node.planned_qty_1e8 + planned, last_plan_routed_qty_1e8=planned)
        case ChildAllocated() | ChildSubmitted() if _mine(state, event, event.node_id):
            state = _on_child_known(state, event.child_id, event.node_id, event.qty_1e8, event.ts_ns)
            child = state.children[event.child_id]
            if child.venue is None or (child.tif is None and isinstance(event, ChildAllocated)):
                tif = event.tif if isinstance(event, ChildAllocated) else child.tif
                state = _put_child(state, replace(child, venue=event.venue, tif=tif), event.ts_ns)
            return state
        case ChildAmended(child_id=child_id) if child_id in state.children:
            child = replace(state.children[child_id], qty_1e8=event.new_qty_1e8)
            return _put_child(state, child, event.ts_ns)
        case ChildRejected(child_id=child_id) if child_id in state.children:
            state = _put_child(state, replace(state.children[child_id], closed=True), event.ts_ns)
            node_id = state.children[child_id].node_id
            return _set_node(state, node_id, event.ts_ns, last_reject_reason=f"{event.code}: {event.message}")
        case ChildCancelled(child_id=child_id) if child_id in state.children and event.reason == REPLACED:
            return state  # the child lives on under its replacement's client order id (ChildAmended)
        case ChildCancelled(child_id=child_id) if child_id in state.children:
            child = state.children[child_id]
            state = _put_child(state, replace(child, closed=True), event.ts_ns)
            node = state.nodes[child.node_id]
            missed = child.tif in IMMEDIATE_TIFS and event.cancelled_qty_1e8 > 0
            return _set_node(state, child.node_id, event.ts_ns, last_cancel_reason=event.reason,
                             ioc_missed=node.ioc_missed or missed)
    return state


# ---------------------------------------------------------------------------------------------


def _mine(state: GraphState, event: Event, node_id: str | None = None) -> bool:
    if getattr(event, "graph_id", None) != state.graph_id:
        return False
    return node_id is None or node_id in state.nodes


def _live_status(node: NodeState) -> NodeStatus:
    if node.target_qty_1e8 > 0 and node.filled_qty_1e8 >= node.target_qty_1e8:
        return "FILLED"
    if node.filled_qty_1e8 > 0:
        return "PARTIALLY_FILLED"
    if not node.activated:
        return "PENDING"
    if node.children_seen > 0:
        return "WORKING"
    return "ACCEPTED"


def _refresh(node: NodeState) -> NodeState:
    # A final node keeps the outcome it was completed with.
    if node.final:
        return node
    status = _live_status(node)
    return node if status == node.status else replace(node, status=status)


def _put_node(state: GraphState, node: NodeState, ts_ns: int) -> GraphState:
    nodes = dict(state.nodes)
    nodes[node.node_id] = node
    return replace(state, nodes=nodes, updated_ns=max(state.updated_ns, ts_ns))


def _set_node(state: GraphState, node_id: str, ts_ns: int, **changes: Any) -> GraphState:
    node = state.nodes[node_id]
    node = replace(node, **changes, updated_ns=max(node.updated_ns, ts_ns))
    return _put_node(state, _refresh(node), ts_ns)


def _put_child(state: GraphState, child: ChildState, ts_ns: int) -> GraphState:
    children = dict(state.children)
    children[child.child_id] = child
    state = replace(state, children=children)
    node = state.nodes[child.node_id]
    open_children = node.open_children | {child.child_id} if child.open else node.open_children - {child.child_id}
    if open_children != node.open_children:
        node = replace(node, open_children=open_children)
    return _put_node(state, _refresh(node), ts_ns)


def _on_child_known(state: GraphState, child_id: str, node_id: str, qty_1e8: int, ts_ns: int) -> GraphState:
    existing = state.children.get(child_id)
    if existing is not None and existing.qty_1e8 is not None:
        return state  # the allocation and the submission both announce a child: count it once
    node = state.nodes[node_id]
    state = _put_node(
        state,
        replace(
            node,
            children_seen=node.children_seen + (existing is None),
            allocated_qty_1e8=node.allocated_qty_1e8 + qty_1e8,
            updated_ns=max(node.updated_ns, ts_ns),
        ),
        ts_ns,
    )
    child = ChildState(child_id, node_id) if existing is None else existing
    return _put_child(state, replace(child, qty_1e8=qty_1e8), ts_ns)


def _on_fill(state: GraphState, event: FillRecorded) -> GraphState:
    if not _mine(state, event, event.node_id) or event.fill_id in state.fill_ids:
        return state
    node = state.nodes[event.node_id]
    node = replace(
        node,
        filled_qty_1e8=node.filled_qty_1e8 + event.qty_1e8,
        fill_px_qty_sum=node.fill_px_qty_sum + event.px_1e9 * event.qty_1e8,
        fill_count=node.fill_count + 1,
        fees_usd_1e9=node.fees_usd_1e9 + event.fee_usd_1e9,
        children_seen=node.children_seen + (event.child_id not in state.children),
        updated_ns=max(node.updated_ns, event.ts_ns),
    )
    state = replace(state, fill_ids=state.fill_ids | {event.fill_id})
    state = _put_node(state, node, event.ts_ns)
    child = state.children.get(event.child_id) or ChildState(event.child_id, event.node_id)
    child = replace(child, filled_qty_1e8=child.filled_qty_1e8 + event.qty_1e8)
    return _put_child(state, child, event.ts_ns)


def _on_activated(state: GraphState, event: NodeActivated) -> GraphState:
    if not _mine(state, event, event.node_id):
        return state
    node = state.nodes[event.node_id]
    if node.activated:
        return state  # a node is activated once
    state = _set_node(
        state,
        event.node_id,
        event.ts_ns,
        activated_ns=event.ts_ns,
        node_order_id=event.node_order_id,
        fired_edge_id=event.fired_edge_id,
    )
    if event.fired_edge_id is not None and event.fired_edge_id in state.edges:
        edges = dict(state.edges)
        edges[event.fired_edge_id] = replace(edges[event.fired_edge_id], fired=True, fired_ns=event.ts_ns)
        state = replace(state, edges=edges)
    if state.status == "ACCEPTED":
        state = replace(state, status="RUNNING")
    return state


# ---------------------------------------------------------------------------------------------
# API views (api_contract.md §3): integers, snake_case keys
# ---------------------------------------------------------------------------------------------


def submit_response(state: GraphState) -> dict[str, Any]:
    """Return the SubmitResponse: ``{graph_id, status, node_count, edge_count, node_order_ids}``."""
    return {
        "graph_id": state.graph_id,
        "status": state.status,
        "node_count": len(state.nodes),
        "edge_count": len(state.edges),
        "node_order_ids": {n.node_id: n.node_order_id for n in state.nodes.values()},
    }


def edge_condition(spec: EdgeSpec) -> dict[str, Any] | None:
    """Return an edge's condition as the client wrote it (the ratio back as a 0-1 number)."""
    if spec.trigger == "on_fill_ratio" and spec.fill_ratio_gte_bps is not None:
        return {"fill_ratio_gte": spec.fill_ratio_gte_bps / 10_000}
    if spec.trigger == "on_timeout" and spec.after_ms is not None:
        return {"after_ms": spec.after_ms}
    return None


def to_status_json(state: GraphState) -> dict[str, Any]:
    """Return the Graph status object of GET /v1/execution_graphs/{graph_id}."""
    return {
        "graph_id": state.graph_id,
        "status": state.status,
        "is_sandbox": state.is_sandbox,
        "node_count": len(state.nodes),
        "edge_count": len(state.edges),
        "created_ns": state.created_ns,
        "updated_ns": state.updated_ns,
        # Keyed by node id (each value still carries it): the documented quick start reads
        # `status["nodes"]["order"]`.
        "nodes": {
            n.node_id: {
                "node_id": n.node_id,
                "node_order_id": n.node_order_id,
                "activation": n.spec.activation,
                "status": n.status,
                "symbol": n.spec.instrument.symbol,
                "instrument_type": n.spec.instrument.type,
                "side": n.spec.side,
                "qty_1e8": n.target_qty_1e8,
                "filled_qty_1e8": n.filled_qty_1e8,
                "avg_fill_price_1e9": n.avg_fill_px_1e9 or 0,
                "fill_count": n.fill_count,
                "venue": n.spec.instrument.venue,
                "failure_reason": n.failure_reason,
            }
            for n in state.nodes.values()
        },
        "edges": [
            {
                "edge_id": e.spec.edge_id,
                "from_node": e.spec.from_node,
                "to_node": e.spec.to_node,
                "trigger": e.spec.trigger,
                "condition": edge_condition(e.spec),
                "fired": e.fired,
                "fired_ns": e.fired_ns,
            }
            for e in state.edges.values()
        ],
    }


def order_row(state: GraphState, node_id: str) -> dict[str, Any]:
    """Return the Order row of one node (GET /v1/orders, WS `orders`); qty_1e8 is the current total."""
    n = state.nodes[node_id]
    ex = n.spec.execution
    return {
        "node_order_id": n.node_order_id,
        "graph_id": state.graph_id,
        "node_id": n.node_id,
        "symbol": n.spec.instrument.symbol,
        "instrument_type": n.spec.instrument.type,
        "side": n.spec.side,
        "order_type": "market" if n.limit_px_1e9 is None else "limit",
        "status": n.status,
        "qty_1e8": n.target_qty_1e8,
        "filled_qty_1e8": n.filled_qty_1e8,
        "avg_fill_price_1e9": n.avg_fill_px_1e9 or 0,  # an integer field: 0 until the first fill
        "limit_price_1e9": n.limit_px_1e9,
        "venue": n.spec.instrument.venue,
        "policy": ex.policy,
        "urgency": ex.urgency,
        "tif": ex.tif,
        "is_sandbox": state.is_sandbox,
        "failure_reason": n.failure_reason,
        "constraints": {
            "max_price_1e9": n.limit_px_1e9,
            "urgency": ex.urgency,
            "horizon_ms": ex.horizon_ms,
            "participation_limit_bps": None,
        },
        "created_ns": n.created_ns,
        "updated_ns": n.updated_ns,
    }


def order_rows(state: GraphState) -> list[dict[str, Any]]:
    """Return the Order rows of every node in submission order."""
    return [order_row(state, node_id) for node_id in state.nodes]
