"""Pure reactions of the graph engine: (state, event or command) -> new events.

The engine is level-triggered: after applying the incoming message it looks at the whole state
and emits whatever is due (activations, node and graph completions). Reactions already in the
state are never emitted again, so an edge fires exactly once, a duplicate fill changes nothing,
and after a crash `step(state, Tick(), ...)` on the rebuilt state emits whatever was missed.

Rules
-----
* Roots activate when the graph is submitted; a ``wait`` node activates through the first of
  its incoming edges (in submission order) whose trigger holds. Nothing activates while PAUSED;
  on resume every trigger that held meanwhile fires.
* Triggers, on the from-node F: ``on_fill`` F.filled >= F.target; ``on_fill_ratio``
  F.filled * 10_000 >= bps * F.target; ``on_timeout`` now_ns >= F.activated + after_ms
  (call `next_wakeup_ns` to know when to send a `Tick`); ``on_cancel`` F ended CANCELLED or
  EXPIRED; ``on_reject`` F ended REJECTED or FAILED. Edges out of a never-activated node never
  fire.
* A pending node whose incoming edges can no longer fire ends CANCELLED ("not_triggered").
* A cancelled node that had started (`NodeCancelled`: final, so its edges react and nothing more
  is routed) is completed once none of its children is open: FILLED when fills that raced the
  cancel reached its target, else CANCELLED with its fills so far. That `NodeCompleted` is its
  outcome (TCA reports it), also after the graph has ended.
* A node ends FILLED when filled >= target; REJECTED/FAILED on `RiskCheckRejected`; for the
  sweep policies (``sor``, ``aggressive_chase``) and ``passive`` when the plans' children are all
  done (`NodeState.quiet`) and no re-route is awaited (`NodeState.awaits_reroute`: IOC children
  missed, so the router re-plans the remainder or answers with an empty plan); for ``twap`` and
  ``vwap`` once ``horizon_ms`` plus `HORIZON_GRACE_MS` has passed since activation and nothing is
  open: EXPIRED when short ("horizon elapsed ...", call `next_wakeup_ns` for the `Tick`);
  ``iceberg`` fills, is cancelled, or settles once a clip was rejected and nothing is open.
  `FinishNode` settles any policy early when nothing is open (the schedule is exhausted).
* The graph completes when every node is final: COMPLETED if every activated node FILLED (or its
  failure was handled by a fired on_cancel/on_reject edge), REJECTED if nothing filled and a node
  was REJECTED, else FAILED.

Emitted events carry ``event_id=new_id()``, ``ts_ns=now_ns``, the graph's tenant,
``causation_id`` = the triggering event's id (or the command's ``request_id``) and
``correlation_id`` = graph_id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from events.base import Event
from events.catalog import AnyEvent
from events.graph import (
    GraphCancelled,
    GraphCompleted,
    GraphPaused,
    GraphResumed,
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCancelled,
    NodeCompleted,
    NodeFinalStatus,
)
from services.graph.errors import AmendRejected, GraphError, GraphStateConflict, UnknownNode
from services.graph.schema import ParsedGraph, submitted_event
from services.graph.state import IMMEDIATE_TIFS, SLICED_POLICIES, EdgeState, GraphState, NodeState, apply, initial

NOT_TRIGGERED = "not_triggered"
# A sliced node settles this long after its horizon: its last slice is due before the horizon
# ends, the grace covers the router publishing it late on a loaded host.
HORIZON_GRACE_MS = 1_500
SETTLE_WHEN_QUIET = ("sor", "aggressive_chase", "passive")

# ---------------------------------------------------------------------------------------------
# Commands (imperative; they are not events and are never published)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelGraph:
    reason: str = "user"
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelNode:
    node_id: str
    reason: str = "user"
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PauseGraph:
    reason: str = "user"
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResumeGraph:
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AmendNode:
    """Change a node's total quantity and/or limit price (PATCH /v1/orders/{node_order_id})."""

    node_id: str
    new_qty_1e8: int | None = None  # new total, must exceed what is filled
    new_limit_px_1e9: int | None = None
    mode: Literal["native_atomic", "cancel_replace"] = "cancel_replace"
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FinishNode:
    """The node's policy has released everything and no child is open: settle its outcome."""

    node_id: str
    request_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Tick:
    """Time passed (on_timeout edges); also re-evaluates everything after a restart."""

    request_id: str | None = None


Command = CancelGraph | CancelNode | PauseGraph | ResumeGraph | AmendNode | FinishNode | Tick
_COMMANDS = (CancelGraph, CancelNode, PauseGraph, ResumeGraph, AmendNode, FinishNode, Tick)


# ---------------------------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------------------------


def submit(
    parsed: ParsedGraph, *, tenant: str, now_ns: int, new_id: Callable[[], str]
) -> tuple[GraphState, list[AnyEvent]]:
    """Return the state and events of a new submission: GraphSubmitted, then the root activations."""
    event = submitted_event(parsed, event_id=new_id(), ts_ns=now_ns, tenant=tenant)
    state, out = step(None, event, now_ns, new_id)
    assert state is not None
    return state, [event, *out]


def step(
    state: GraphState | None, message: Event | Command, now_ns: int, new_id: Callable[[], str]
) -> tuple[GraphState, list[AnyEvent]]:
    """Apply `message` to `state` (the state *before* it) and react.

    Return the state after the message and the reactions, and the reactions (publish them in
    order). A second GraphSubmitted for an existing state is a duplicate and changes nothing.
    Raise `UnknownNode`, `GraphStateConflict` or `AmendRejected` for an invalid command.
    """
    if isinstance(message, GraphSubmitted):
        if state is not None:
            return state, []
        out = _Out(initial(message), now_ns, new_id, message.event_id)
    elif state is None:
        raise GraphError(f"no state for this graph: the first message must be GraphSubmitted, was {type(message).__name__}")
    elif isinstance(message, _COMMANDS):
        out = _Out(state, now_ns, new_id, message.request_id)
        _command(out, message)
    else:
        out = _Out(apply(state, message), now_ns, new_id, message.event_id)
    _settle(out)
    return out.state, out.events


def decide(
    state: GraphState | None, message: Event | Command, now_ns: int, new_id: Callable[[], str]
) -> list[AnyEvent]:
    """Return only the events `step` emits for `message` (state is the state before it)."""
    return step(state, message, now_ns, new_id)[1]


def next_wakeup_ns(state: GraphState, after_ns: int | None = None) -> int | None:
    """Return when the next on_timeout edge or sliced node's horizon is due (send a `Tick`
    then), or None; with `after_ns`, only times later than it (those already ticked)."""
    if state.terminal or state.status == "PAUSED":
        return None
    due: list[int] = []
    for node in state.nodes.values():
        if node.final:
            continue
        if node.activated:
            horizon_end = _horizon_end_ns(node)
            if horizon_end is not None:
                due.append(horizon_end)
            continue
        for edge in state.incoming(node.node_id):
            source = state.nodes[edge.spec.from_node]
            if edge.spec.trigger == "on_timeout" and source.activated_ns is not None and edge.spec.after_ms:
                due.append(source.activated_ns + edge.spec.after_ms * 1_000_000)
    due = [t for t in due if after_ns is None or t > after_ns]
    return min(due) if due else None


# ---------------------------------------------------------------------------------------------


class _Out:
    # Collects emitted events and keeps the state folded over them.
    def __init__(self, state: GraphState, now_ns: int, new_id: Callable[[], str], causation_id: str | None) -> None:
        self.state = state
        self.events: list[AnyEvent] = []
        self._now_ns = now_ns
        self._new_id = new_id
        self._causation_id = causation_id

    @property
    def now_ns(self) -> int:
        return self._now_ns

    def emit(self, cls: Callable[..., AnyEvent], **fields: Any) -> None:
        event = cls(
            event_id=self._new_id(),
            ts_ns=self._now_ns,
            tenant=self.state.tenant,
            causation_id=self._causation_id,
            correlation_id=self.state.graph_id,
            graph_id=self.state.graph_id,
            **fields,
        )
        self.state = apply(self.state, event)
        self.events.append(event)


def _command(out: _Out, cmd: Command) -> None:
    state = out.state
    match cmd:
        case CancelGraph(reason=reason):
            if state.terminal:
                return  # idempotent: an ended graph keeps its status
            for node in state.nodes.values():
                if not node.final:
                    out.emit(NodeCancelled, node_id=node.node_id, reason=f"graph cancelled: {reason}")
            out.emit(GraphCancelled, reason=reason)
        case CancelNode(node_id=node_id, reason=reason):
            node = _node(state, node_id)
            if not state.terminal and not node.final:
                out.emit(NodeCancelled, node_id=node_id, reason=reason)
        case PauseGraph(reason=reason):
            if state.terminal:
                raise GraphStateConflict(f"graph {state.graph_id} is {state.status}: cannot pause")
            if state.status != "PAUSED":
                out.emit(GraphPaused, reason=reason)
        case ResumeGraph():
            if state.status != "PAUSED":
                raise GraphStateConflict(f"graph {state.graph_id} must be PAUSED to resume, was {state.status}")
            out.emit(GraphResumed)
        case AmendNode():
            _amend(out, cmd)
        case FinishNode(node_id=node_id):
            node = _node(state, node_id)
            if state.terminal or node.final:
                return
            if not node.activated:
                raise GraphStateConflict(f"node {node_id} is not active: cannot finish")
            if node.open_children:
                raise GraphStateConflict(
                    f"node {node_id} has open children {sorted(node.open_children)}: cannot finish"
                )
            _complete(out, node, *_outcome(node))
        case Tick():
            pass


def _amend(out: _Out, cmd: AmendNode) -> None:
    state = out.state
    node = _node(state, cmd.node_id)
    if state.terminal or node.final:
        raise GraphStateConflict(f"node {cmd.node_id} is {node.status} in a {state.status} graph: cannot amend")
    if cmd.new_qty_1e8 is None and cmd.new_limit_px_1e9 is None:
        raise AmendRejected("amend needs new_qty_1e8 or new_limit_px_1e9, was neither")
    if cmd.new_qty_1e8 is not None and cmd.new_qty_1e8 <= node.filled_qty_1e8:
        raise AmendRejected(
            f"new_qty_1e8 must exceed filled_qty_1e8 {node.filled_qty_1e8}, was {cmd.new_qty_1e8}"
        )
    if cmd.new_limit_px_1e9 is not None:
        if node.limit_px_1e9 is None:
            raise AmendRejected(f"node {cmd.node_id} is a market order: no limit price to amend")
        if cmd.new_limit_px_1e9 <= 0:
            raise AmendRejected(f"new_limit_px_1e9 must be > 0, was {cmd.new_limit_px_1e9}")
    out.emit(
        NodeAmended,
        node_id=cmd.node_id,
        new_qty_1e8=cmd.new_qty_1e8,
        new_limit_px_1e9=cmd.new_limit_px_1e9,
        mode=cmd.mode,
    )


def _node(state: GraphState, node_id: str) -> NodeState:
    node = state.nodes.get(node_id)
    if node is None:
        raise UnknownNode(f"graph {state.graph_id} has no node {node_id!r}")
    return node


# ---------------------------------------------------------------------------------------------
# Level-triggered reactions
# ---------------------------------------------------------------------------------------------


def _settle(out: _Out) -> None:
    _react(out)
    # Last, so every other reaction's id is the same whether or not this view already knows the
    # node's children are done (the API predicts a command's answer on its own view).
    for node in out.state.nodes.values():
        if node.settling and not node.open_children:
            filled = node.target_qty_1e8 > 0 and node.filled_qty_1e8 >= node.target_qty_1e8
            _complete(out, node, "FILLED" if filled else "CANCELLED", None if filled else node.failure_reason)


def _react(out: _Out) -> None:
    # Each pass reacts to one snapshot; loop until a pass emits nothing (every reaction is
    # monotone: nodes only activate or become final, so this ends).
    while not out.state.terminal:
        before = len(out.events)
        snapshot = out.state
        for node in snapshot.nodes.values():
            if node.activated and not node.final:
                outcome = _due_outcome(node, out.now_ns)
                if outcome is not None:
                    _complete(out, node, *outcome)
        if snapshot.status != "PAUSED":
            for node in snapshot.nodes.values():
                if not node.activated and not node.final:
                    _maybe_activate(out, snapshot, node)
        for node in snapshot.nodes.values():
            if not node.activated and not node.final and node.spec.activation == "wait":
                edges = snapshot.incoming(node.node_id)
                if edges and all(_edge_dead(snapshot, e) for e in edges):
                    out.emit(NodeCompleted, node_id=node.node_id, status="CANCELLED", filled_qty_1e8=0,
                             avg_fill_px_1e9=None, reason=NOT_TRIGGERED)
        if len(out.events) == before:
            if all(n.final for n in out.state.nodes.values()):
                status, reason = _graph_outcome(out.state)
                out.emit(GraphCompleted, status=status, reason=reason)
            return


def _maybe_activate(out: _Out, state: GraphState, node: NodeState) -> None:
    if node.spec.activation == "root":
        out.emit(NodeActivated, node_id=node.node_id, node_order_id=node.node_order_id, fired_edge_id=None)
        return
    for edge in state.incoming(node.node_id):
        if _edge_met(state, edge, out.now_ns):
            out.emit(
                NodeActivated, node_id=node.node_id, node_order_id=node.node_order_id, fired_edge_id=edge.spec.edge_id
            )
            return


def _edge_met(state: GraphState, edge: EdgeState, now_ns: int) -> bool:
    source = state.nodes[edge.spec.from_node]
    if source.activated_ns is None:
        return False
    spec = edge.spec
    match spec.trigger:
        case "on_fill":
            return source.target_qty_1e8 > 0 and source.filled_qty_1e8 >= source.target_qty_1e8
        case "on_fill_ratio":
            bps = spec.fill_ratio_gte_bps or 10_000
            return source.filled_qty_1e8 > 0 and source.filled_qty_1e8 * 10_000 >= bps * source.target_qty_1e8
        case "on_timeout":
            return now_ns >= source.activated_ns + (spec.after_ms or 0) * 1_000_000
        case "on_cancel":
            return source.final and source.status in ("CANCELLED", "EXPIRED")
        case "on_reject":
            return source.final and source.status in ("REJECTED", "FAILED")
    return False


def _edge_dead(state: GraphState, edge: EdgeState) -> bool:
    source = state.nodes[edge.spec.from_node]
    if not source.final:
        return False
    if edge.spec.trigger == "on_timeout":
        return source.activated_ns is None
    return not _edge_met(state, edge, 0)


def _due_outcome(node: NodeState, now_ns: int) -> tuple[NodeFinalStatus, str | None] | None:
    if node.target_qty_1e8 > 0 and node.filled_qty_1e8 >= node.target_qty_1e8:
        return "FILLED", None
    if node.risk_reject_code is not None:
        return ("REJECTED" if node.filled_qty_1e8 == 0 else "FAILED"), node.risk_reject_code
    policy = node.spec.execution.policy
    if policy in SETTLE_WHEN_QUIET and node.quiet and not node.awaits_reroute:
        return _outcome(node)
    if policy == "iceberg" and node.quiet and node.last_reject_reason is not None:
        return _outcome(node)  # a refused clip is not replenished (the router agrees)
    horizon_end = _horizon_end_ns(node)
    settled = not node.open_children and node.allocated_qty_1e8 >= node.planned_qty_1e8
    if horizon_end is not None and now_ns >= horizon_end and settled:
        return "EXPIRED", f"horizon elapsed: filled {node.filled_qty_1e8} of {node.target_qty_1e8}"
    return None


def _horizon_end_ns(node: NodeState) -> int | None:
    # When a sliced node settles: its horizon after activation, plus the grace.
    ex = node.spec.execution
    if ex.policy not in SLICED_POLICIES or ex.horizon_ms is None or node.activated_ns is None:
        return None
    return node.activated_ns + (ex.horizon_ms + HORIZON_GRACE_MS) * 1_000_000


def _outcome(node: NodeState) -> tuple[NodeFinalStatus, str | None]:
    # The outcome of a node with nothing more to send and nothing open.
    if node.target_qty_1e8 > 0 and node.filled_qty_1e8 >= node.target_qty_1e8:
        return "FILLED", None
    if node.filled_qty_1e8 == 0 and node.last_reject_reason is not None:
        return "REJECTED", node.last_reject_reason
    if node.spec.execution.tif in IMMEDIATE_TIFS or node.ioc_missed:
        return "EXPIRED", node.last_cancel_reason or f"{node.spec.execution.tif} remainder expired"
    if node.filled_qty_1e8 == 0 and node.last_cancel_reason is not None:
        return "CANCELLED", node.last_cancel_reason
    if node.allocated_qty_1e8 + node.filled_qty_1e8 == 0:
        return "FAILED", "UNROUTABLE"
    reason = node.last_reject_reason or node.last_cancel_reason
    return "FAILED", reason or f"filled {node.filled_qty_1e8} of {node.target_qty_1e8}"


def _complete(out: _Out, node: NodeState, status: NodeFinalStatus, reason: str | None) -> None:
    out.emit(
        NodeCompleted,
        node_id=node.node_id,
        status=status,
        filled_qty_1e8=node.filled_qty_1e8,
        avg_fill_px_1e9=node.avg_fill_px_1e9,
        reason=reason,
    )


def _graph_outcome(state: GraphState) -> tuple[Literal["COMPLETED", "FAILED", "REJECTED"], str | None]:
    activated = [n for n in state.nodes.values() if n.activated]
    handled = {
        e.spec.from_node for e in state.edges.values() if e.fired and e.spec.trigger in ("on_cancel", "on_reject")
    }
    bad = [n for n in activated if n.status != "FILLED" and n.node_id not in handled]
    if activated and not bad:
        return "COMPLETED", None
    if not any(n.filled_qty_1e8 for n in state.nodes.values()):
        rejected = [n for n in activated if n.status == "REJECTED"]
        if rejected:
            return "REJECTED", f"{rejected[0].node_id}: {rejected[0].failure_reason}"
    first = bad[0] if bad else next(iter(state.nodes.values()))
    return "FAILED", f"{first.node_id} {first.status}: {first.failure_reason}"
