"""Execution graphs: parse, fold, react and slice. Pure: no I/O, no clocks, no global state.

Time (`now_ns`), ids (`new_id() -> uuid str`, e.g. `events.ids.derive_id` per cause) and randomness
(`random.Random`) are arguments. The lead's `service.py` owns the consumer loop and publishing.

Submit (POST /v1/orders)
------------------------
    parsed = schema.parse_order_body(body, new_id, force_sandbox=key_is_test)   # ValidationError -> 422
    parsed = schema.resolve_notional(parsed, {"order": mark_px_1e9}, lot_1e8)    # only if parsed.notional_usd_1e9
    if schema.check_idempotency(existing_sha256_or_None, parsed):                 # GraphConflict -> 409
        return state.submit_response(existing_state)                              # same body: replay
    graph_state, events = engine.submit(parsed, tenant=t, now_ns=now, new_id=new_id)
    publish(events)            # GraphSubmitted, then NodeActivated for every root
    return state.submit_response(graph_state)

React (graph engine consumer)
-----------------------------
    graph_state, events = engine.step(graph_state, message, now_ns, new_id)
    publish(events)

`message` is any event the graph owns (`graph_state.owns(event)`: graph events, FillRecorded,
ChildAllocated/ChildSubmitted/ChildRejected/ChildCancelled/ChildAmended, PlanMade,
RiskCheckRejected) or a command: `CancelGraph`, `CancelNode`, `PauseGraph`, `ResumeGraph`,
`AmendNode`, `FinishNode`, `Tick`. `state` is the state *before* the message; `step` returns
the state after it and after the returned events. Those are already folded in; when they come
back on the stream `step` ignores them (every applied event id is remembered), and so it does
any redelivered event. `engine.decide(...)` returns
just the events. Invalid commands raise `UnknownNode` (404), `GraphStateConflict` (409) or
`AmendRejected` (400). After a restart: `graph_state = state.fold(log)` then
`engine.step(graph_state, Tick(), now, new_id)` emits anything missed.
Timers: call `engine.next_wakeup_ns(graph_state)` and send `Tick()` at that time.

Slice (per activated node)
--------------------------
    schedule.slices_for(node.spec, node.remaining_qty_1e8, now_ns, lot_1e8=lot, rng=rng, profile=vols)
        -> [Slice(due_ns, qty_1e8), ...]        # sor/chase/passive: one slice; twap/vwap: sliced
    schedule.Iceberg(total, display, lot).next_display(filled, working) -> qty of next clip
Release nothing while `graph_state.status == "PAUSED"`. Sweeps settle when their children are
done and no re-route is awaited (`NodeState.awaits_reroute`); twap/vwap settle on the `Tick` at
`next_wakeup_ns` (horizon plus grace); `FinishNode` settles any node early once nothing is open.

Views: `state.to_status_json`, `state.order_row(s)`, `state.submit_response`.
Ids: `schema.node_order_id(graph_id, node_id, 1)`, `schema.parse_node_order_id(text)`.
"""

from services.graph.engine import (
    AmendNode,
    CancelGraph,
    CancelNode,
    Command,
    FinishNode,
    PauseGraph,
    ResumeGraph,
    Tick,
    decide,
    next_wakeup_ns,
    step,
    submit,
)
from services.graph.errors import (
    AmendRejected,
    FieldError,
    GraphConflict,
    GraphError,
    GraphStateConflict,
    ScheduleError,
    UnknownNode,
    ValidationError,
)
from services.graph.schedule import Iceberg, Slice, slices_for, twap_schedule, volume_profile, vwap_schedule
from services.graph.schema import (
    ParsedGraph,
    check_idempotency,
    node_order_id,
    parse_node_order_id,
    parse_order_body,
    resolve_notional,
    submitted_event,
)
from services.graph.state import GraphState, NodeState, apply, fold, order_row, order_rows, submit_response, to_status_json

__all__ = [
    "AmendNode",
    "AmendRejected",
    "CancelGraph",
    "CancelNode",
    "Command",
    "FieldError",
    "FinishNode",
    "GraphConflict",
    "GraphError",
    "GraphState",
    "GraphStateConflict",
    "Iceberg",
    "NodeState",
    "ParsedGraph",
    "PauseGraph",
    "ResumeGraph",
    "ScheduleError",
    "Slice",
    "Tick",
    "UnknownNode",
    "ValidationError",
    "apply",
    "check_idempotency",
    "decide",
    "fold",
    "next_wakeup_ns",
    "node_order_id",
    "order_row",
    "order_rows",
    "parse_node_order_id",
    "parse_order_body",
    "resolve_notional",
    "slices_for",
    "step",
    "submit",
    "submit_response",
    "submitted_event",
    "to_status_json",
    "twap_schedule",
    "volume_profile",
    "vwap_schedule",
]
