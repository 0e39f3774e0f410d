"""Order entry and reads: POST /v1/orders, graph status, orders (list and by id), fills.

Every request acts for the tenant of its API key and sees only that tenant's graphs, orders
and fills (a foreign id answers 404, like an unknown one). A seq_test_ key sees only sandbox
graphs. Every order is sandbox for now (simulated fills against the live books): no live
order transport exists yet.

Reads come from the durable `orders` view (projections/orders.py), which the API's own runner
keeps. Why reads stay consistent with writes: the view trails the in-memory ledger the
commands decide on by a batch, so a read first waits until the view has folded everything the
ledger follower has (`_view_caught_up`; usually no wait at all). Every write answers only after
its events are in the ledger (cancel/amend/resume) or in the view (submit), so a client's next
read sees its own write: the SDK reads graph_status right after buy. One view serves all three
reads, so status, order rows and fills always agree with each other."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request

from events import new_event_id
from events.ids import derive_id
from projections import orders as view
from services.api.access import AuthContext, json_body, node_order_ref
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.api.units import INT64_MAX
from services.edges.sandbox.balances import FundingPlan, tenant_plan
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
)

router = APIRouter(prefix="/v1", tags=["orders"])
State = Annotated[ApiState, Depends(get_state)]
log = logging.getLogger("crossbook.api")
VIEW_WAIT_S = 5.0  # a read waits this long for the orders view before answering 503 (retryable)


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
    except ArithmeticError as exc:  # InvalidOperation, Overflow
        # services/graph/schema.py `_scaled` overflows the decimal context on a finite but huge
        # amount ("1e400"); until it records a field error itself, that is still the client's 422.
        raise ApiError(422, "an amount (qty, notional or price) is out of range", details=[]) from exc
    unknown = sorted({n.instrument.symbol for n in parsed.nodes} - set(state.market.by_symbol))
    if unknown:
        # Orders route only to venues listing the exact symbol: say so now, not as a later REJECTED.
        details = [{"field": "symbol", "message": f"unknown symbol {s!r}: no venue lists it"} for s in unknown]
        raise ApiError(422, "; ".join(d["message"] for d in details), details=details)
    # No catch-up round trip on the hot path: the ledger is at most a few ms behind, and what
    # it would catch is caught anyway. A retry the view does not show yet conflicts on the graph
    # subject below and is replayed; the router refuses a node under a kill switch on its own
    # account fold (and one engaged through this process is already here: engage waits for it).
    await state.ledger_follower.caught_up.wait()  # the first catch-up after start, once
    existing = state.ledger.graphs.get(parsed.graph_id)
    if existing is not None:
        # A retry of a stored graph replays its answer even under the kill switch (no new effect).
        return await _replay(state, existing, parsed, auth)
    engaged = state.ledger.kill.get(tenant)
    if engaged is not None:
        raise ApiError(409, f"kill switch engaged: {engaged.reason or 'no reason given'}", code="KILL_SWITCH")
    await fund_if_new(state, tenant)
    graph_state, events = submit(parsed, tenant=tenant, now_ns=time.time_ns(), new_id=_derived(first_id))
    if _beyond_int64(msgspec.to_builtins(events)):
        # Ledger integers are int64 end to end (msgpack, SQLite, BIGINT): a huge qty, notional or
        # interval that parsed fine must be refused here, before anything is published.
        raise ApiError(422, "an amount or size is out of range: integer units must fit in 64 bits", details=[])
    try:
        # Creating the graph subject: only one writer can append the first event.
        first = await state.bus.publish(events[0], expected_last_subject_seq=0)
    except ConcurrencyConflict:
        await state.ledger_follower.wait_caught_up()
        existing = state.ledger.graphs.get(parsed.graph_id)
        if existing is None:
            raise ApiError(409, f"graph_id {parsed.graph_id} is being created by another request", code="CONFLICT")
        return await _replay(state, existing, parsed, auth)
    acks = await state.bus.publish_many(events[1:])
    await _view_has(state, max(a.seq for a in [first, *acks]))
    return submit_response(graph_state)


def paper_plan(state: ApiState, tenant: str) -> FundingPlan:
    """The paper balances a tenant's funding or sandbox reset grants: its settings, else the defaults."""
    settings = state.ledger.sandbox_settings.get(tenant)
    return tenant_plan([(b.asset, b.qty_1e8) for b in settings.balances] if settings else None)


async def fund_if_new(state: ApiState, tenant: str) -> int | None:
    """Fund a tenant's paper balances once (its first order or sandbox call); the LEDGER
    sequence of the funding, None when it was funded already."""
    if tenant not in state.ledger.funded:
        await state.ledger_follower.wait_caught_up()  # fund only if still unfunded
    if tenant in state.ledger.funded:
        return None
    acks = await state.bus.publish_many(
        funding_events(tenant, state.sandbox_venues, time.time_ns(), paper_plan(state, tenant))
    )
    state.ledger.funded.add(tenant)
    return max((a.seq for a in acks), default=None)


async def _view_has(state: ApiState, seq: int) -> None:
    """Answer a submit once the orders view shows it. The order is placed either way: a view
    that lags only delays this answer, never turns it into an error (a retried 503 after the
    order is persisted is the contract's duplicate-order hazard)."""
    try:
        await state.orders.wait_for(seq, timeout=VIEW_WAIT_S)
    except TimeoutError:
        log.warning("orders view has not reached seq %s after %ss; answering the submit anyway", seq, VIEW_WAIT_S)


async def _view_caught_up(state: ApiState) -> None:
    """Wait until the orders view has folded everything the ledger follower has folded."""
    try:
        await state.orders.wait_for(state.ledger_follower.position, timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the orders view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc


def _beyond_int64(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not -INT64_MAX - 1 <= value <= INT64_MAX
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


async def _replay(state: ApiState, existing: GraphState, parsed, auth: AuthContext) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    if existing.tenant != auth.tenant:
        # graph_ids are client-chosen and global: say it is taken, never show the other tenant's graph.
        raise ApiError(409, f"graph_id {existing.graph_id} is already in use; choose another", code="CONFLICT")
    try:
        check_idempotency(existing.body_sha256, parsed)
    except GraphConflict as exc:
        raise ApiError(409, str(exc), code="CONFLICT") from exc
    # The ledger has this graph: so will the view before the client's next read.
    await _view_has(state, state.ledger_follower.position)
    return submit_response(existing)


@router.get("/execution_graphs/{graph_id}")
async def graph_status(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    await _view_caught_up(state)
    status = await asyncio.to_thread(view.graph_status, state.views, auth.tenant, auth.is_sandbox, graph_id)
    if status is None:
        raise ApiError(404, f"unknown graph {graph_id!r}", code="NOT_FOUND")
    return status


@router.get("/orders")
async def orders(
    state: State,
    auth: Auth,
    limit: int = 50,
    offset: int = 0,
    symbol: str | None = None,
    node_order_id: str | None = None,
) -> dict[str, Any]:
    await _view_caught_up(state)
    return await asyncio.to_thread(
        lambda: view.orders_page(
            state.views, auth.tenant, auth.is_sandbox, limit=limit, offset=offset, symbol=symbol,
            node_order_id=node_order_id,
        )
    )


@router.get("/orders/{node_order_id:path}")
async def order(node_order_id: str, state: State, auth: Auth) -> dict[str, Any]:
    node_order_ref(node_order_id)  # the id arrives percent-decoded (the SDK sends ':' as %3A)
    await _view_caught_up(state)
    row = await asyncio.to_thread(view.order, state.views, auth.tenant, auth.is_sandbox, node_order_id)
    if row is None:
        raise ApiError(404, f"unknown order {node_order_id!r}", code="NOT_FOUND")
    return row


@router.get("/fills")
async def fills(
    state: State, auth: Auth, limit: int = 50, offset: int = 0, symbol: str | None = None
) -> dict[str, Any]:
    await _view_caught_up(state)
    return await asyncio.to_thread(
        lambda: view.fills_page(state.views, auth.tenant, auth.is_sandbox, limit=limit, offset=offset, symbol=symbol)
    )
