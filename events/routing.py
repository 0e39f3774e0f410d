"""Smart order routing: the plan and each child allocation it makes."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event, Side


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    qty_1e8: int
    est_avg_px_1e9: int
    worst_px_1e9: int
    fee_bps: float = 0.0  # written for older readers; read `fee_ppm`
    est_cost_usd_1e9: int  # price paid/received + fees + latency penalty
    fee_ppm: int = 0  # the venue's fee rate for this allocation (100 ppm = 1 bp)


class ChildAllocated(Event, frozen=True, kw_only=True, tag="route.child_allocated.v1"):
    plan_id: str
    graph_id: str
    node_id: str
    child_id: str
    client_order_id: str  # derived from this event's id: a retry can never place a second order
    venue: str
    symbol: str
    side: Side
    qty_1e8: int
    order_type: Literal["market", "limit"]
    limit_px_1e9: int | None
    tif: Literal["gtc", "ioc", "fok", "day"]
    is_sandbox: bool
    # Post-only (the `passive` policy): the venue rests it or rejects it, it never takes liquidity.
    post_only: bool = False


class PlanMade(Event, frozen=True, kw_only=True, tag="route.plan_made.v1"):
    plan_id: str
    graph_id: str
    node_id: str
    symbol: str
    side: Side
    qty_1e8: int
    allocations: list[Allocation]
    arrival_mid_px_1e9: int
    expected_avg_px_1e9: int
    expected_slippage_bps: float = 0.0  # written for older readers; read `expected_slippage_ppm`
    expected_cost_usd_1e9: int
    best_single_venue: str | None
    best_single_venue_cost_usd_1e9: int | None
    unroutable_qty_1e8: int = 0
    best_single_venue_qty_1e8: int | None = None  # what that venue alone could fill (TCA compares like with like)
    # The child orders this plan allocates, exactly as each is then published on its own: a
    # router killed between the plan and its last child places the missing ones on restart.
    children: tuple[ChildAllocated, ...] = ()
    expected_slippage_ppm: int = 0  # price only, signed worse-for-us > 0 (100 ppm = 1 bp)


ROUTING_EVENTS = (PlanMade, ChildAllocated)
