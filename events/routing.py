"""Smart order routing: the plan and each child allocation it makes."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    qty_1e8: int
    est_avg_px_1e9: int
    worst_px_1e9: int
    fee_bps: float
    est_cost_usd_1e9: int  # price paid/received + fees + latency penalty


class ChildAllocated(Event, frozen=True, tag="route.child_allocated.v1"):
    plan_id: str
    graph_id: str
    node_id: str
    child_id: str
    client_order_id: str  # derived from this event's id: a retry can never place a second order
    venue: str
    symbol: str
    side: Literal["buy", "sell"]
    qty_1e8: int
    order_type: Literal["market", "limit"]
    limit_px_1e9: int | None
    tif: Literal["gtc", "ioc", "fok", "day"]
    is_sandbox: bool


class PlanMade(Event, frozen=True, tag="route.plan_made.v1"):
    plan_id: str
    graph_id: str
    node_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty_1e8: int
    allocations: list[Allocation]
    arrival_mid_px_1e9: int
    expected_avg_px_1e9: int
    expected_slippage_bps: float
    expected_cost_usd_1e9: int
    best_single_venue: str | None
    best_single_venue_cost_usd_1e9: int | None
    unroutable_qty_1e8: int = 0
    best_single_venue_qty_1e8: int | None = None  # what that venue alone could fill (TCA compares like with like)
    # The child orders this plan allocates, exactly as each is then published on its own: a
    # router killed between the plan and its last child places the missing ones on restart.
    children: tuple[ChildAllocated, ...] = ()


ROUTING_EVENTS = (PlanMade, ChildAllocated)
