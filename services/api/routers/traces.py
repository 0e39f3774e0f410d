"""GET /v1/traces?node_order_id=...: the nanosecond lifecycle of one order (services/api/traces.py).

A foreign node_order_id answers 404 exactly like an unknown one; a seq_test_ key sees only
sandbox orders (the same `visible` rule as every order read)."""

from __future__ import annotations

from typing import Annotated

import nats.errors
import nats.js.errors
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from services.api.auth import Auth
from services.api.errors import ApiError
from services.api import history
from services.api.access import node_order_ref
from services.api.state import ApiState, get_state
from services.api.traces import fetch, rows
from services.errors import BusError

router = APIRouter(prefix="/v1", tags=["traces"])
State = Annotated[ApiState, Depends(get_state)]
CATCH_UP_S = 5.0  # a read waits this long for the ledger to reach the stream's end, else 503
MAX_LIMIT = 1000


class TraceRow(BaseModel):
    ts_ns: int
    seq: int  # LEDGER stream sequence: the log order the rows are in
    stage: str
    detail: str
    venue: str | None = None
    child_id: str | None = None
    qty_1e8: int | None = None
    px_1e9: int | None = None


class Traces(BaseModel):
    node_order_id: str
    graph_id: str
    node_id: str
    traces: list[TraceRow]
    total: int  # log entries of the order (before dropping redelivered duplicates on the page)
    limit: int
    offset: int
    has_more: bool


@router.get("/traces", response_model=Traces)
async def traces(
    state: State,
    auth: Auth,
    node_order_id: Annotated[str, Query(min_length=1, max_length=512)],
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Traces:
    ref = node_order_ref(node_order_id)
    try:
        # Read-your-writes: everything in the log when the read starts is in the index.
        await state.ledger_follower.wait_caught_up(timeout=CATCH_UP_S)
    except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError) as exc:
        raise ApiError(503, "the ledger is catching up or NATS is unreachable; retry shortly",
                       code="SERVICE_UNAVAILABLE") from exc
    graph = await history.graph(state, ref.graph_id, auth)
    node = graph.nodes.get(ref.node_id) if graph is not None else None
    canonical = f"{ref.graph_id}:{ref.node_id}:{ref.seq}"
    if graph is None or node is None or node.node_order_id != canonical:
        raise ApiError(404, f"unknown order {node_order_id!r}", code="NOT_FOUND")
    if ref.graph_id in state.ledger.graphs:
        seqs = state.traces.seqs(ref.graph_id, ref.node_id)
    else:  # ended and evicted from memory: the durable view has its trace
        seqs = await history.trace_seqs(state, auth, ref.graph_id, ref.node_id)
    page = seqs[offset : offset + limit]
    try:
        events = await fetch(state.bus, state.ledger_follower.stream, page)
    except BusError as exc:
        raise ApiError(503, "the event log is unreachable; retry shortly", code="SERVICE_UNAVAILABLE") from exc
    return Traces(
        node_order_id=canonical,
        graph_id=ref.graph_id,
        node_id=ref.node_id,
        traces=[TraceRow(**r) for r in rows(events)],
        total=len(seqs),
        limit=limit,
        offset=offset,
        has_more=offset + len(page) < len(seqs),
    )
