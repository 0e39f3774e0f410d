"""POST /v1/venue_cancel_all/{venue}: cancel every resting order of the caller on one venue.

An order rests on a venue when one of its open child orders was allocated there (or, before
any allocation, when it is pinned there). Each such order is cancelled with the same command
and events as DELETE /v1/orders/{node_order_id} (services/api/routers/cancel.py), so the graph
engine and the sandbox pull it exactly as they would a single cancel. Cancelling an order
cancels all of it: a node split across venues loses its children on the other venues too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from events.venues import venue_id
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.routers.cancel import command_ids, run_command
from services.api.routers.credentials import known_venues
from services.api.access import visible
from services.api.state import ApiState, get_state
from services.graph import CancelGraph, CancelNode, GraphState

router = APIRouter(prefix="/v1", tags=["cancel"])
State = Annotated[ApiState, Depends(get_state)]
REASON = "venue_cancel_all"


def _rests_on(graph: GraphState, venue: str) -> list[str]:
    """The node ids of `graph` with an order resting on `venue`."""
    # A child's venue is set by its ChildAllocated, which precedes every other event of the child
    # on LEDGER (edges act on it): an open child of the caught-up ledger view always has one.
    out = []
    for node_id, node in graph.nodes.items():
        if node.final or not node.activated:
            continue
        if node.open_children:
            # An old log's perp child names its edge's own id (binance_usdm): its exchange's.
            if any(venue_id(graph.children[c].venue or "") == venue for c in node.open_children):
                out.append(node_id)
        elif venue_id(node.spec.instrument.venue or "") == venue:
            out.append(node_id)
    return out


async def _cancel(state: ApiState, graph_id: str, node_id: str | None) -> None:
    """Cancel one node, or the whole graph (node_id None), exactly as the cancel endpoints do."""
    graph = state.ledger.graphs[graph_id]  # current: a previous cancel may have changed it
    if node_id is None:
        command: CancelGraph | CancelNode = CancelGraph(reason=REASON)
        ids = command_ids("cancel", graph)
    else:
        command, ids = CancelNode(node_id=node_id, reason=REASON), command_ids("cancel", graph, node_id)
    try:
        await run_command(state, graph, command, ids)
    except ApiError as exc:
        if exc.status != 409:
            raise
        # It ended (filled, say) between our read and the command: nothing left to cancel.


@router.post("/venue_cancel_all/{venue}")
async def cancel_all_on_venue(venue: str, state: State, auth: Auth) -> dict[str, Any]:
    if venue not in known_venues():
        raise ApiError(404, f"unknown venue {venue!r}; known: {', '.join(known_venues())}", code="NOT_FOUND")
    await state.ledger_follower.wait_caught_up()
    live = [g for g in state.ledger.working_of(auth.tenant) if visible(g, auth)]
    cancelled: list[str] = []
    for graph in live:
        resting = _rests_on(graph, venue)
        if not resting:
            continue
        open_nodes = [n for n, node in graph.nodes.items() if not node.final]
        # All that is left of the graph rests here: cancel the graph, so it ends CANCELLED (a
        # graph whose nodes were cancelled one by one ends FAILED).
        for node_id in [None] if resting == open_nodes else resting:
            await _cancel(state, graph.graph_id, node_id)
        after = state.ledger.graphs[graph.graph_id]
        cancelled += [after.nodes[n].node_order_id for n in resting if after.nodes[n].status == "CANCELLED"]
    return {"venue": venue, "cancelled": len(cancelled), "node_order_ids": cancelled}
