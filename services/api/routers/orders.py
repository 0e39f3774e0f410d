"""Order entry and reads: POST /v1/orders, graph status, orders (list and by id), fills.

Every request acts for the tenant of its API key and sees only that tenant's graphs, orders
and fills (a foreign id answers 404, like an unknown one). A seq_test_ key sees only sandbox
graphs. Every order is sandbox for now (simulated fills against the live books): no live
order transport exists yet.

A submit appends one `SubmitGraph` command (services/api/commands.py); the graph engine is the
only writer of the graph. The answer waits until the engine's GraphSubmitted and root
activations are in the API's in-memory ledger view (no database on the order path).

Reads come from the durable `orders` view (projections/orders.py), which the API's own runner
keeps. Why reads stay consistent with writes: the view trails the in-memory ledger the
commands decide on by a batch, so a read first waits until the view has folded everything the
ledger follower has (`_view_caught_up`; usually no wait at all). Every write answers only after
the kernel's events are in the ledger follower, so a client's next read sees its own write: the SDK reads graph_status right after buy. One view serves all three
reads, so status, order rows and fills always agree with each other."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Request

from events import new_event_id
from projections import orders as view
from services.api import history
from services.api.access import AuthContext, json_body, node_order_ref
from services.api.auth import Auth
from services.api.commands import append_command, apply_sandbox_command, await_kernel
from services.api.market_catalog import MarketCatalog
from services.api.errors import ApiError
from services.api.readiness import require_ready
from services.api.state import ApiState, get_state
from services.api.units import INT64_MAX
from events.commands import FundSandbox
from events.sandbox import BalanceDelta
from services.edges.sandbox.accounts import command_id
from services.edges.sandbox.balances import FundingPlan, paper_funding, tenant_plan
from services.edges.live.venues import can_trade as can_trade_live
from services.graph import (
    GraphConflict,
    GraphState,
    ParsedGraph,
    ValidationError,
    check_idempotency,
    parse_order_body,
    resolve_notional,
    submit_response,
)
from services.graph.commands import submit_command
from services.graph.schema import node_order_id

router = APIRouter(prefix="/v1", tags=["orders"])
State = Annotated[ApiState, Depends(get_state)]
log = logging.getLogger("crossbook.api")


@router.post("/orders", dependencies=[Depends(require_ready)])  # 503 + Retry-After until ready
async def submit_order(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    # The order path serves this route in plain ASGI (services/api/order_door.py), with the same
    # steps: this definition documents it in the OpenAPI schema and serves any caller the door passes on.
    return await place_order(state, request.app.state.markets, auth, await json_body(request))


async def place_order(state: ApiState, markets: MarketCatalog, auth: AuthContext, body: Any) -> dict[str, Any]:
    """Submit one order (graph) for an authenticated, ready caller; the submit answer, or ApiError."""
    with state.gate.order():  # the durable views fold once it is answered (services/api/order_gate.py)
        return await _place_order(state, markets, auth, body)


async def _place_order(state: ApiState, markets: MarketCatalog, auth: AuthContext, body: Any) -> dict[str, Any]:
    tenant = auth.tenant
    try:
        # A seq_test_ key forces sandbox by contract; a live key trades live unless the order opts out.
        parsed = markets.canonical_order(parse_order_body(body, new_event_id, force_sandbox=auth.is_sandbox))
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
    # it would catch is caught anyway: a retry the view does not show yet appends the same
    # command id (stored once) and is answered from the graph; the router refuses a node under a
    # kill switch on its own account fold (and one engaged through this process is already here).
    await state.ledger_follower.caught_up.wait()  # the first catch-up after start, once
    if not parsed.is_sandbox:
        await refuse_unless_live_routable(state, tenant, parsed)
    existing = state.ledger.graphs.get(parsed.graph_id)
    if existing is None and not parsed.graph_id_generated:
        # A client-chosen id may name a graph that ended and left the hot ledger (a retry after
        # the dedup window): the durable view answers. A generated id is new: no read on that path.
        existing = await asyncio.to_thread(view.graph_state, state.views, parsed.graph_id)
    if existing is not None:
        # A retry of a stored graph replays its answer even under the kill switch (no new effect).
        return _answer(existing, parsed, auth)
    engaged = state.ledger.kill.get(tenant)
    if engaged is not None:
        raise ApiError(409, f"kill switch engaged: {engaged.reason or 'no reason given'}", code="KILL_SWITCH")
    command, events = submit_command(parsed, tenant, time.time_ns())
    if _beyond_int64(msgspec.to_builtins(command)):
        # Ledger integers are int64 end to end (msgpack, SQLite, BIGINT): a huge qty, notional or
        # interval that parsed fine must be refused here, before anything is appended.
        raise ApiError(422, "an amount or size is out of range: integer units must fit in 64 bits", details=[])
    await fund_if_new(state, tenant)
    await append_command(state, command)
    last_id = events[-1].event_id

    def taken() -> bool:  # the engine made our graph, or the graph_id is someone else's
        graph = state.ledger.graphs.get(parsed.graph_id)
        return graph is not None and (
            last_id in graph.seen_event_ids or graph.tenant != tenant or graph.body_sha256 != parsed.body_sha256
        )

    # A cheap wait: the API's in-memory ledger follower, not the durable view. No wait for the
    # orders view either: every read of it first waits until it has folded what the follower
    # has (`_view_caught_up`), and the follower holds our graph by now.
    try:
        await await_kernel(state, taken, f"order {parsed.graph_id}")
    except ApiError as exc:
        if exc.status != 504:
            raise
        # The command is on the log and the kernel runs it once, when it is back. The contract
        # forbids a 502/503/504 once an order is persisted: the published client retries those
        # verbatim, and a retry of an order without a client graph_id would be a second order.
        log.warning("order %s is recorded; the kernel has not applied it yet: answered ACCEPTED", parsed.graph_id)
        return recorded_response(parsed)
    return _answer(state.ledger.graphs[parsed.graph_id], parsed, auth)


def recorded_response(parsed: ParsedGraph) -> dict[str, Any]:
    """The submit answer for an order whose command is recorded but not applied yet: the same
    shape as from the ledger, status ACCEPTED (graph status tells what became of it)."""
    return {
        "graph_id": parsed.graph_id,
        "status": "ACCEPTED",
        "node_count": len(parsed.nodes),
        "edge_count": len(parsed.edges),
        "node_order_ids": {n.node_id: node_order_id(parsed.graph_id, n.node_id) for n in parsed.nodes},
    }


async def refuse_unless_live_routable(state: ApiState, tenant: str, parsed: ParsedGraph) -> None:
    """A live order needs live trading on, and for each node a venue listing its symbol where
    the tenant has credentials and live order entry exists (the router's own rule)."""
    if not state.settings.live_orders:
        raise ApiError(403, "live trading is not enabled on this server (the operator sets CROSSBOOK_LIVE_ORDERS=1); "
                       "send is_sandbox: true, or use a seq_test_ key, to trade in the sandbox", code="FORBIDDEN",
                       details=[{"field": "is_sandbox", "message": "live trading is disabled"}])
    # Decide on the credentials as they stand now (one stored or revoked a moment ago may still
    # be on its way to this process's fold); the router decides again on its own fold.
    await state.ledger_follower.wait_caught_up()
    missing = _unroutable_live(state, tenant, parsed)
    if missing:
        details = [{"field": "symbol", "message": f"no venue you have credentials for can take live orders for {s!r}"
                    + (f" (connect one of: {', '.join(v)})" if v else "")} for s, v in missing]
        raise ApiError(422, "; ".join(d["message"] for d in details), details=details)


def _unroutable_live(state: ApiState, tenant: str, parsed: ParsedGraph) -> list[tuple[str, list[str]]]:
    """(symbol, venues that could take it with credentials) for each node with no live venue."""
    connected = state.ledger.connected.get(tenant, set())
    missing = []
    for node in parsed.nodes:
        symbol, pinned = node.instrument.symbol, node.instrument.venue
        listing = [v for v in state.market.by_symbol.get(symbol, {}) if pinned in (None, v) and can_trade_live(v, symbol)]
        if not any(v in connected for v in listing):
            missing.append((symbol, sorted(listing)))
    return missing


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
    grants = [
        BalanceDelta(venue=g.venue, asset=g.asset, delta_qty_1e8=g.qty_1e8)
        for g in paper_funding(state.sandbox_venues, paper_plan(state, tenant))
    ]
    # The executor appends the grants; the order waits for them, so risk folds the funding first.
    command = FundSandbox(event_id=command_id("fund", tenant), ts_ns=time.time_ns(), tenant=tenant, grants=grants)
    return await apply_sandbox_command(state, command, "the sandbox funding")


_view_caught_up = history.view_caught_up
VIEW_WAIT_S = history.VIEW_WAIT_S


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


def _answer(existing: GraphState, parsed: ParsedGraph, auth: AuthContext) -> dict[str, Any]:
    """The submit answer from the graph on the ledger (made now, or by an earlier try)."""
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
