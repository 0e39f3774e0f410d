"""The SOR's plans as the API shows them: GET /v1/intelligence/routing, /v1/execution/live and the
WS `routing` channel share one shape, {legs:[{venue, qty_1e8, est_price_1e9}], est_cost_bps, chosen}.

`chosen` is the venue when the plan takes everything from one venue, "split" when it uses
several, null when nothing is routable. `est_cost_bps` is the all-in cost (price + fee + the
router's latency penalty) of the routed quantity against the arrival mid, worse > 0.

`RoutingPlans` keeps every `PlanMade` of the LEDGER stream; `follow_plans` is the lifespan (of
the intelligence router, nested in the app's) that runs its follower. It follows the whole stream,
like the API's ledger follower, so the two positions compare: `plans_as_of_ledger` answers with
every plan up to what the ledger view has folded (a read never older than the ledger's answers).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from events import AnyEvent
from events.routing import PlanMade
from projections.follower import StreamFollower
from services.api.auth import AuthContext
from services.api.routers.orders import visible
from services.api.state import ApiState
from services.graph.schema import node_order_id
from services.sor.cost import cost_bps


@dataclass
class RoutingPlans:
    """Every `PlanMade` on the LEDGER stream, in log order and per graph."""

    made: list[PlanMade] = field(default_factory=list)
    by_graph: dict[str, list[PlanMade]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def apply(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, PlanMade) and event.event_id not in self.seen:
            self.seen.add(event.event_id)
            self.made.append(event)
            self.by_graph.setdefault(event.graph_id, []).append(event)


@contextlib.asynccontextmanager
async def follow_plans(app: Any) -> AsyncIterator[None]:
    # FastAPI enters a router's lifespan inside the app's, so `app.state.api` exists here.
    state: ApiState = app.state.api
    plans = RoutingPlans()
    follower = StreamFollower(state.bus, "LEDGER", [">"], plans.apply)
    await follower.start()
    app.state.plans, app.state.plans_follower = plans, follower
    try:
        yield
    finally:
        await follower.stop()


def plans_of(app: Any) -> RoutingPlans | None:
    return getattr(app.state, "plans", None)


async def plans_as_of_ledger(app: Any, timeout: float = 5.0) -> RoutingPlans | None:
    """The plans once they include everything the ledger view has folded (or after `timeout`)."""
    plans, follower = plans_of(app), getattr(app.state, "plans_follower", None)
    if follower is not None:
        with contextlib.suppress(TimeoutError):
            await follower.wait_for(app.state.api.ledger_follower.position, timeout)
    return plans


def cost_bps_or_none(side: str, cost_usd_1e9: int | None, qty_1e8: int, mid_1e9: int) -> float | None:
    if cost_usd_1e9 is None or qty_1e8 <= 0 or mid_1e9 <= 0:
        return None
    return cost_bps(side, cost_usd_1e9, qty_1e8, mid_1e9)  # type: ignore[arg-type]


def routing_view(side: str, allocations: Sequence[Any], mid_1e9: int) -> dict[str, Any]:
    """legs / est_cost_bps / chosen of a `RoutePlan`'s or a `PlanMade`'s allocations."""
    legs = [a for a in allocations if a.qty_1e8 > 0]
    venues = sorted({a.venue for a in legs})
    cost = sum(a.est_cost_usd_1e9 for a in legs)
    return {
        "legs": [{"venue": a.venue, "qty_1e8": a.qty_1e8, "est_price_1e9": a.est_avg_px_1e9} for a in legs],
        "est_cost_bps": cost_bps_or_none(side, cost, sum(a.qty_1e8 for a in legs), mid_1e9),
        "chosen": None if not venues else venues[0] if len(venues) == 1 else "split",
    }


def routing_frame(made: PlanMade) -> dict[str, Any]:
    """The WS `routing` frame (and /execution/live plan row) of one plan."""
    return {
        "node_order_id": node_order_id(made.graph_id, made.node_id),
        "graph_id": made.graph_id,
        "plan_id": made.plan_id,
        "symbol": made.symbol,
        "side": made.side,
        **routing_view(made.side, made.allocations, made.arrival_mid_px_1e9),
        "unroutable_qty_1e8": made.unroutable_qty_1e8,
        "ts_ns": made.ts_ns,
    }


def plan_visible(state: ApiState, made: PlanMade, auth: AuthContext) -> bool | None:
    """Whether the caller may see a plan; None while its graph is not in the ledger view yet."""
    if made.tenant != auth.tenant:
        return False
    graph = state.ledger.graphs.get(made.graph_id)
    return None if graph is None else visible(graph, auth)
