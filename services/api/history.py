"""Reads of a tenant's history from the durable `orders` view (projections/orders.py), for what
the API's hot ledger no longer holds: a graph leaves it a dedup window after it ended
(projections/ledger.py). Each read first waits until the view has folded everything the ledger
follower has, so it is never older than an answer the API already gave; the store is read on a
thread (SQLite and psycopg block)."""

from __future__ import annotations

import asyncio

import msgspec

from events.routing import PlanMade
from events.tca import TcaReported
from projections import orders as view
from projections.store import Doc
from services.api.access import AuthContext, visible
from services.api.errors import ApiError
from services.api.state import ApiState
from services.graph import GraphState

VIEW_WAIT_S = 5.0  # a read waits this long for the orders view before answering 503 (retryable)


class FillFacts(msgspec.Struct, frozen=True, kw_only=True):
    """A fill as the durable view keeps it, under FillRecorded's field names."""

    fill_id: str
    graph_id: str
    node_id: str
    symbol: str
    side: str
    venue: str
    qty_1e8: int
    px_1e9: int
    fee_usd_1e9: int
    liquidity: str | None
    is_sandbox: bool
    ts_ns: int
    ts_event_ns: int


def fill_facts(doc: Doc) -> FillFacts:
    node_id = doc["node_order_id"][len(doc["graph_id"]) + 1 :].rsplit(":", 1)[0]
    return FillFacts(
        fill_id=doc["fill_id"], graph_id=doc["graph_id"], node_id=node_id, symbol=doc["symbol"], side=doc["side"],
        venue=doc["venue"], qty_1e8=doc["qty_1e8"], px_1e9=doc["price_1e9"], fee_usd_1e9=doc["fee_usd_1e9"],
        liquidity=doc["liquidity"], is_sandbox=doc["is_sandbox"], ts_ns=doc["ts_ns"], ts_event_ns=doc["ts_ns"],
    )


async def view_caught_up(state: ApiState) -> None:
    """Wait until the orders view has folded everything the ledger follower has folded."""
    try:
        await state.orders.wait_for(state.ledger_follower.position, timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the orders view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc


async def graph(state: ApiState, graph_id: str, auth: AuthContext) -> GraphState | None:
    """The caller's graph: from the hot ledger, else (ended and evicted) from the durable view."""
    hot = state.ledger.graphs.get(graph_id)
    if hot is None:
        hot = await asyncio.to_thread(view.graph_state, state.views, graph_id)
    return hot if visible(hot, auth) else None


async def fills(state: ApiState, auth: AuthContext, graph_id: str | None = None) -> list[FillFacts]:
    """The caller's fills (of one graph, or all), in log order."""
    await view_caught_up(state)
    docs = await asyncio.to_thread(view.fills_of, state.views, auth.tenant, auth.is_sandbox, graph_id)
    return [fill_facts(d) for d in docs]


async def reports(
    state: ApiState, auth: AuthContext, graph_id: str | None = None
) -> tuple[list[TcaReported], set[str]]:
    """The caller's TCA reports (of one graph, or all), oldest first, and the ids of those on a
    prediction market."""
    await view_caught_up(state)
    found = await asyncio.to_thread(view.tca_reports, state.views, auth.tenant, auth.is_sandbox, graph_id)
    return [r for r, _ in found], {r.event_id for r, prediction in found if prediction}


async def plans(state: ApiState, auth: AuthContext, graph_id: str) -> list[PlanMade]:
    """The SOR's plans for the caller's graph, oldest first."""
    await view_caught_up(state)
    return await asyncio.to_thread(view.plans, state.views, auth.tenant, auth.is_sandbox, graph_id)


async def trace_seqs(state: ApiState, auth: AuthContext, graph_id: str, node_id: str) -> list[int]:
    """A node's trace (graph-wide events included) as LEDGER sequences, in log order."""
    await view_caught_up(state)
    return await asyncio.to_thread(view.trace_seqs, state.views, auth.tenant, auth.is_sandbox, graph_id, node_id)
