"""Order entry and reads: POST /v1/orders, graph status, orders, fills.

Every request acts for the tenant of its API key and sees only that tenant's graphs, orders
and fills (a foreign id answers 404, like an unknown one). A seq_test_ key sees only sandbox
graphs. Every order is sandbox for now (simulated fills against the live books): no live
order transport exists yet."""

from __future__ import annotations

import itertools
import json
import time
from decimal import InvalidOperation
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request

from events import new_event_id
from events.ids import derive_id
from services.api.auth import Auth, AuthContext
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.edges.sandbox.service import funding_events
from services.errors import ConcurrencyConflict
from services.graph import (
    GraphConflict,
    GraphState,
    ParsedGraph,
    ValidationError,
    check_idempotency,
    parse_order_body,
    resolve_notional,
    submit,
    submit_response,
    to_status_json,
)
from services.graph.state import order_rows

router = APIRouter(prefix="/v1", tags=["orders"])
State = Annotated[ApiState, Depends(get_state)]


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}  # the SDK sends no body for an empty dict
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="BAD_REQUEST") from exc


def visible(graph: GraphState | None, auth: AuthContext) -> bool:
    """Whether the caller may see this graph: its own tenant, and the sandbox book for a test key."""
    return graph is not None and graph.tenant == auth.tenant and (graph.is_sandbox or not auth.is_sandbox)


@router.post("/orders")
async def submit_order(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    tenant = auth.tenant
    body = await json_body(request)
    first_id = new_event_id()
    try:
        # A seq_test_ key forces sandbox by contract; live keys too until a live order transport exists.
        parsed = parse_order_body(body, new_event_id, force_sandbox=True)
        # A notional-sized order (simple form `notional`) is sized at the NBBO mid when it
        # arrives; without a mark (or below one unit) resolve_notional answers a 422, not a 500.
        parsed = resolve_notional(parsed, _marks(state, parsed))
    except ValidationError as exc:
        details = [{"field": e.field, "message": e.message} for e in exc.errors]
        raise ApiError(422, "; ".join(f"{d['field']}: {d['message']}" for d in details), details=details) from exc
    except InvalidOperation as exc:
        # services/graph/schema.py `_scaled` overflows the decimal context on a finite but huge
        # amount ("1e400"); until it records a field error itself, that is still the client's 422.
        raise ApiError(422, "an amount (qty, notional or price) is out of range", details=[]) from exc
    unknown = sorted({n.instrument.symbol for n in parsed.nodes} - set(state.market.by_symbol))
    if unknown:
        # Orders route only to venues listing the exact symbol: say so now, not as a later REJECTED.
        details = [{"field": "symbol", "message": f"unknown symbol {s!r}: no venue lists it"} for s in unknown]
        raise ApiError(422, "; ".join(d["message"] for d in details), details=details)
    await state.ledger_follower.wait_caught_up()
    existing = state.ledger.graphs.get(parsed.graph_id)
    if existing is not None:
        # A retry of a stored graph replays its answer even under the kill switch (no new effect).
        return _replay(existing, parsed, auth)
    engaged = state.ledger.kill.get(tenant)
    if engaged is not None:
        raise ApiError(409, f"kill switch engaged: {engaged.reason or 'no reason given'}", code="KILL_SWITCH")
    if tenant not in state.ledger.funded:
        await state.bus.publish_many(funding_events(tenant, state.sandbox_venues, time.time_ns()))
        state.ledger.funded.add(tenant)
    graph_state, events = submit(parsed, tenant=tenant, now_ns=time.time_ns(), new_id=_derived(first_id))
    if _beyond_int64(msgspec.to_builtins(events)):
        # Ledger integers are int64 end to end (msgpack, SQLite, BIGINT): a huge qty, notional or
        # interval that parsed fine must be refused here, before anything is published.
        raise ApiError(422, "an amount or size is out of range: integer units must fit in 64 bits", details=[])
    try:
        # Creating the graph subject: only one writer can append the first event.
        await state.bus.publish(events[0], expected_last_subject_seq=0)
    except ConcurrencyConflict:
        await state.ledger_follower.wait_caught_up()
        existing = state.ledger.graphs.get(parsed.graph_id)
        if existing is None:
            raise ApiError(409, f"graph_id {parsed.graph_id} is being created by another request", code="CONFLICT")
        return _replay(existing, parsed, auth)
    await state.bus.publish_many(events[1:])
    return submit_response(graph_state)


_INT64_MAX = 2**63 - 1


def _beyond_int64(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -_INT64_MAX - 1 <= value <= _INT64_MAX
    if isinstance(value, dict):
        return any(_beyond_int64(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_beyond_int64(v) for v in value)
    return False


def _marks(state: ApiState, parsed: ParsedGraph) -> dict[str, int]:
    marks: dict[str, int] = {}
    for node in parsed.nodes:
        if node.node_id in parsed.notional_usd_1e9:
            nbbo = state.market.nbbo(node.instrument.symbol)
            if nbbo is not None and nbbo.bid_px_1e9 and nbbo.ask_px_1e9:
                marks[node.node_id] = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
    return marks


def _derived(first_id: str):  # type: ignore[no-untyped-def]
    # The first id is the GraphSubmitted's; the rest derive from it exactly as the graph
    # engine derives its reactions, so both publish the same ids and JetStream keeps one.
    counter = itertools.count()

    def new_id() -> str:
        n = next(counter)
        return first_id if n == 0 else derive_id("react", first_id, str(n))

    return new_id


def _replay(existing: GraphState, parsed, auth: AuthContext) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if existing.tenant != auth.tenant:
        # graph_ids are client-chosen and global: say it is taken, never show the other tenant's graph.
        raise ApiError(409, f"graph_id {existing.graph_id} is already in use; choose another", code="CONFLICT")
    try:
        check_idempotency(existing.body_sha256, parsed)
    except GraphConflict as exc:
        raise ApiError(409, str(exc), code="CONFLICT") from exc
    return submit_response(existing)


@router.get("/execution_graphs/{graph_id}")
async def graph_status(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    graph = state.ledger.graphs.get(graph_id)
    if graph is None or not visible(graph, auth):
        raise ApiError(404, f"unknown graph {graph_id!r}", code="NOT_FOUND")
    return to_status_json(graph)


@router.get("/orders")
async def orders(
    state: State,
    auth: Auth,
    limit: int = 50,
    offset: int = 0,
    symbol: str | None = None,
    node_order_id: str | None = None,
) -> dict[str, Any]:
    rows = [row for g in state.ledger.graphs.values() if visible(g, auth) for row in order_rows(g)]
    if symbol:
        rows = [r for r in rows if r.get("symbol") == symbol]
    if node_order_id:
        wanted = node_order_id.removeprefix("graph:")
        rows = [r for r in rows if r.get("node_order_id") == wanted]
    rows.sort(key=lambda r: r.get("created_ns", 0), reverse=True)
    page = rows[offset : offset + limit]
    return {"orders": page, "total": len(rows), "limit": limit, "offset": offset, "has_more": offset + limit < len(rows)}


@router.get("/fills")
async def fills(
    state: State, auth: Auth, limit: int = 50, offset: int = 0, symbol: str | None = None
) -> dict[str, Any]:
    rows = [
        {
            "fill_id": f.fill_id,
            "node_order_id": f"{f.graph_id}:{f.node_id}:1",
            "graph_id": f.graph_id,
            "symbol": f.symbol,
            "side": f.side,
            "venue": f.venue,
            "qty_1e8": f.qty_1e8,
            "price_1e9": f.px_1e9,
            "fee_usd_1e9": f.fee_usd_1e9,
            "liquidity": f.liquidity,
            "is_sandbox": f.is_sandbox,
            "ts_ns": f.ts_event_ns or f.ts_ns,
        }
        for f in reversed(state.ledger.fills)
        if f.tenant == auth.tenant
        and (f.is_sandbox or not auth.is_sandbox)
        and (symbol is None or f.symbol == symbol)
    ]
    page = rows[offset : offset + limit]
    return {"fills": page, "total": len(rows), "limit": limit, "offset": offset, "has_more": offset + limit < len(rows)}
