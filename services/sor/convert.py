"""Turn a RoutePlan into the `events.routing` vocabulary (ids and time come from the caller)."""

from __future__ import annotations

from events.routing import Allocation as AllocationEvent
from events.routing import PlanMade
from services.sor.model import Allocation, RoutePlan


def allocation_event(a: Allocation) -> AllocationEvent:
    """Return the event form (fee in ppm, and in float bps for older readers); est cost is signed cost to us."""
    return AllocationEvent(
        venue=a.venue,
        qty_1e8=a.qty_1e8,
        est_avg_px_1e9=a.est_avg_px_1e9,
        worst_px_1e9=a.worst_px_1e9,
        fee_bps=a.fee_ppm / 100,  # for older readers
        est_cost_usd_1e9=a.est_cost_usd_1e9,
        fee_ppm=a.fee_ppm,
    )


def plan_made_event(
    plan: RoutePlan,
    *,
    event_id: str,
    ts_ns: int,
    plan_id: str,
    graph_id: str,
    node_id: str,
    symbol: str,
    tenant: str = "",
    causation_id: str | None = None,
    correlation_id: str | None = None,
) -> PlanMade:
    """Return the PlanMade fact for `plan`."""
    return PlanMade(
        event_id=event_id,
        ts_ns=ts_ns,
        tenant=tenant,
        causation_id=causation_id,
        correlation_id=correlation_id,
        plan_id=plan_id,
        graph_id=graph_id,
        node_id=node_id,
        symbol=symbol,
        side=plan.side,
        qty_1e8=plan.qty_1e8,
        allocations=[allocation_event(a) for a in plan.allocations],
        arrival_mid_px_1e9=plan.arrival_mid_px_1e9,
        expected_avg_px_1e9=plan.expected_avg_px_1e9,
        expected_slippage_bps=plan.expected_slippage_bps,  # for older readers
        expected_slippage_ppm=plan.expected_slippage_ppm,
        expected_cost_usd_1e9=plan.expected_cost_usd_1e9,
        best_single_venue=plan.best_single_venue,
        # The TCA counterfactual: on the fills' cost model (price and fee), not the router's
        # (which adds latency and score penalties that an actual fill never carries).
        best_single_venue_cost_usd_1e9=plan.best_single_venue_traded_cost_usd_1e9,
        best_single_venue_qty_1e8=plan.best_single_venue_qty_1e8,
        unroutable_qty_1e8=plan.unroutable_qty_1e8,
    )
