"""Cancel, amend and resume: DELETE /v1/execution_graphs/{id}, DELETE /v1/orders/{node_order_id},
PATCH /v1/orders/{node_order_id} (alias PATCH /v1/execution_graphs/{id}/nodes/{node_id}),
POST /v1/execution_graphs/{id}/resume.

Each checks the graph engine's command on the API's ledger view of the graph (404/409/400 from
there), appends it as ONE command event, and answers once the engine's reaction is in the
ledger view, so the caller's next read already sees the new status. The graph engine is the
only writer of the graph. A command's id derives from the graph, the command and how many
events the graph had seen: two concurrent identical requests append the same id and JetStream
keeps one copy, while a later pause/resume cycle gets a fresh id."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from events.graph import NodeCancelled, NodeCompleted
from events.ids import derive_id
from services.api import history
from services.api.access import AuthContext, json_body, node_order_ref
from services.api.auth import Auth
from services.api.commands import append_command, await_kernel
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.graph import AmendNode, AmendRejected, CancelGraph, CancelNode, GraphError, GraphState, ResumeGraph
from services.graph.commands import command_answer, command_event
from services.graph.engine import Command
from services.graph.errors import GraphStateConflict, UnknownNode

router = APIRouter(prefix="/v1", tags=["cancel"])
State = Annotated[ApiState, Depends(get_state)]


def command_ids(kind: str, graph: GraphState, *parts: str) -> Callable[[], str]:
    version = str(len(graph.seen_event_ids))
    counter = itertools.count()
    return lambda: derive_id(kind, graph.graph_id, *parts, version, str(next(counter)))


async def _graph(state: ApiState, graph_id: str, auth: AuthContext) -> GraphState:
    await state.ledger_follower.wait_caught_up()
    graph = await history.graph(state, graph_id, auth)  # an evicted graph has ended: a command on it is a 409
    if graph is None:
        # Another tenant's graph answers exactly like an unknown one.
        raise ApiError(404, f"unknown graph {graph_id!r}", code="NOT_FOUND")
    return graph


async def run_command(state: ApiState, graph: GraphState, cmd: Command, new_id: Callable[[], str]) -> GraphState:
    """Check `cmd` on the API's view of `graph`, append it, answer with the graph once the engine
    has applied it (or it became moot: e.g. the graph ended meanwhile)."""
    now_ns = time.time_ns()
    command_id = new_id()
    try:  # the engine's answer, with the engine's ids
        _, answer = command_answer(graph, cmd, now_ns, command_id)
    except GraphStateConflict as exc:
        raise ApiError(409, str(exc), code="CONFLICT") from exc
    except UnknownNode as exc:
        raise ApiError(404, str(exc), code="NOT_FOUND") from exc
    if not answer:
        return graph  # nothing to do (e.g. cancelling an ended graph): idempotent, nothing appended
    command = command_event(cmd, graph_id=graph.graph_id, tenant=graph.tenant, event_id=command_id, ts_ns=now_ns)
    await append_command(state, command)
    # A cancelled node's completion once its children are done is not part of the answer: whether
    # it comes now depends on which children each view has seen (services/graph/engine.py).
    cancelled = {e.node_id for e in answer if isinstance(e, NodeCancelled)}
    answer_ids = {e.event_id for e in answer if not (isinstance(e, NodeCompleted) and e.node_id in cancelled)}

    def applied() -> bool:
        current = state.ledger.graphs[graph.graph_id]
        arrived = answer_ids & current.seen_event_ids
        if arrived:  # the engine's answer is coming in: all of it, so the status is final
            return arrived == answer_ids
        try:  # moot: the graph moved on so that the command has nothing left to do
            return not command_answer(current, cmd, now_ns, command_id)[1]
        except GraphError:
            return True

    await await_kernel(state, applied, f"{type(command).__name__} of graph {graph.graph_id}")
    return state.ledger.graphs[graph.graph_id]


@router.delete("/execution_graphs/{graph_id}")
async def cancel_graph(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    graph = await _graph(state, graph_id, auth)
    # A terminal graph is left as it is (idempotent): `step` emits nothing for it.
    after = await run_command(state, graph, CancelGraph(reason="user"), command_ids("cancel", graph))
    return {"graph_id": graph_id, "status": after.status}


@router.delete("/orders/{node_order_id:path}")
async def cancel_order(node_order_id: str, state: State, auth: Auth) -> dict[str, Any]:
    # The SDK percent-encodes the id (':' -> %3A); the router hands it over decoded.
    text = node_order_id.removeprefix("graph:")
    ref = node_order_ref(text)
    graph_id, node_id = ref.graph_id, ref.node_id
    graph = await _graph(state, graph_id, auth)
    if node_id not in graph.nodes:
        raise ApiError(404, f"unknown order {text!r}", code="NOT_FOUND")
    after = await run_command(state, graph, CancelNode(node_id=node_id, reason="user"), command_ids("cancel", graph, node_id))
    node = after.nodes[node_id]
    return {"node_order_id": text, "graph_id": graph_id, "status": node.status, "graph_status": after.status}


async def _amend_body(request: Request) -> tuple[int | None, int | None]:
    """`new_qty_1e8` and `new_constraints.max_price_1e9` of an amend request, checked."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", code="BAD_REQUEST")
    new_qty = body.get("new_qty_1e8")
    constraints = body.get("new_constraints") or {}
    new_px = constraints.get("max_price_1e9") if isinstance(constraints, dict) else None
    for name, value in (("new_qty_1e8", new_qty), ("new_constraints.max_price_1e9", new_px)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value <= 0):
            raise ApiError(400, f"{name} must be a positive integer, was {value!r}", code="INVALID_PARAMS")
    if new_qty is None and new_px is None:
        raise ApiError(400, "nothing to amend: send new_qty_1e8 and/or new_constraints.max_price_1e9", code="INVALID_PARAMS")
    return new_qty, new_px


async def _amend(
    request: Request, state: ApiState, auth: AuthContext, graph_id: str, node_id: str, shown_id: str | None
) -> dict[str, Any]:
    """Amend a node; answers with `shown_id` (the id the caller used), else the node's order id."""
    new_qty, new_px = await _amend_body(request)
    graph = await _graph(state, graph_id, auth)
    if node_id not in graph.nodes:
        raise ApiError(404, f"unknown order {shown_id or f'{graph_id}/nodes/{node_id}'!r}", code="NOT_FOUND")
    try:
        after = await run_command(
            state, graph, AmendNode(node_id=node_id, new_qty_1e8=new_qty, new_limit_px_1e9=new_px),
            command_ids("amend", graph, node_id),
        )
    except AmendRejected as exc:
        raise ApiError(400, str(exc), code="INVALID_PARAMS") from exc
    node = after.nodes[node_id]
    return {"node_order_id": shown_id or node.node_order_id, "status": node.status, "qty_1e8": node.target_qty_1e8, "mode": "cancel_replace"}


@router.patch("/orders/{node_order_id:path}")
async def amend_order(node_order_id: str, request: Request, state: State, auth: Auth) -> dict[str, Any]:
    """Change a resting order's total quantity (`new_qty_1e8`) and/or limit (`new_constraints.max_price_1e9`)."""
    text = node_order_id.removeprefix("graph:")
    try:
        ref = node_order_ref(text, expected="")
    except ApiError:
        await _amend_body(request)  # a bad body answers first, as it always has
        raise
    return await _amend(request, state, auth, ref.graph_id, ref.node_id, text)


@router.patch("/execution_graphs/{graph_id}/nodes/{node_id}")
async def amend_node(graph_id: str, node_id: str, request: Request, state: State, auth: Auth) -> dict[str, Any]:
    """PATCH /v1/orders/{node_order_id} addressed by graph and node (contract 4.4): same body and answer."""
    return await _amend(request, state, auth, graph_id, node_id, None)


@router.post("/execution_graphs/{graph_id}/resume")
async def resume_graph(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    graph = await _graph(state, graph_id, auth)
    after = await run_command(state, graph, ResumeGraph(), command_ids("resume", graph))
    return {"graph_id": graph_id, "status": after.status}
