"""The SOR's plans as the API shows them: GET /v1/intelligence/routing, /v1/execution/live and the
WS `routing` channel share one shape, {legs:[{venue, qty_1e8, est_price_1e9}], est_cost_bps, chosen}.

`chosen` is the venue when the plan takes everything from one venue, "split" when it uses
several, null when nothing is routable. `est_cost_bps` is the all-in cost (price + fee + the
router's latency penalty) of the routed quantity against the arrival mid, worse > 0.

`RoutingPlans` keeps the `PlanMade` events of the graphs in the ledger view: a graph's plans leave
with the graph (`forget`, a `LedgerView.on_evict` hook); the durable `orders` view keeps them all
(projections/orders.py `plans`). The app folds it in the same pass as
the ledger view (services/api/app.py `fold_ledger`), so the plans are never behind the ledger's
answers and a plan's graph is always in the ledger view once the plan is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from events import AnyEvent
from events.routing import PlanMade
from services.api.access import AuthContext, visible
from services.api.state import ApiState
from services.graph import GraphState
from services.graph.schema import node_order_id
from services.sor import Side
from services.sor.cost import cost_bps


@dataclass
class RoutingPlans:
    """The `PlanMade` events of the graphs not yet evicted, in log order, per graph and per tenant
    (with its LEDGER sequence, so a reader asks for what followed a sequence without scanning
    other tenants)."""

    by_graph: dict[str, list[PlanMade]] = field(default_factory=dict)
    by_tenant: dict[str, list[tuple[int, PlanMade]]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def apply(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, PlanMade) and event.event_id not in self.seen:
            self.seen.add(event.event_id)
            self.by_graph.setdefault(event.graph_id, []).append(event)
            self.by_tenant.setdefault(event.tenant, []).append((seq, event))

    def forget(self, graph: GraphState) -> None:
        """The graph left the ledger view: drop its plans (they are older than the window)."""
        gone = {p.event_id for p in self.by_graph.pop(graph.graph_id, [])}
        self.seen -= gone
        entries = self.by_tenant.get(graph.tenant)
        if gone and entries:
            entries[:] = [(seq, p) for seq, p in entries if p.event_id not in gone]


def cost_bps_or_none(side: Side, cost_usd_1e9: int | None, qty_1e8: int, mid_1e9: int) -> float | None:
    if cost_usd_1e9 is None or qty_1e8 <= 0 or mid_1e9 <= 0:
        return None
    return cost_bps(side, cost_usd_1e9, qty_1e8, mid_1e9)


def routing_view(side: Side, allocations: Sequence[Any], mid_1e9: int) -> dict[str, Any]:
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


def plan_visible(state: ApiState, made: PlanMade, auth: AuthContext) -> bool:
    """Whether the caller may see a plan (its graph is in the ledger view: both fold together)."""
    return made.tenant == auth.tenant and visible(state.ledger.graphs.get(made.graph_id), auth)
