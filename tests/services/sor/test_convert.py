"""RoutePlan -> events.routing.PlanMade, through the real codec."""

from __future__ import annotations

from events import decode, encode
from events.routing import Allocation as AllocationEvent
from events.routing import PlanMade
from services.sor import VenueBook, plan_made_event, plan_order

U = 10**8
P = 10**9


def test_plan_becomes_a_plan_made_event_that_round_trips() -> None:
    # Arrange
    plan = plan_order(
        "buy",
        2 * U,
        [
            VenueBook(venue="a", levels=[(100 * P, U)], taker_fee_ppm=250),
            VenueBook(venue="b", levels=[(101 * P, 5 * U)], taker_fee_ppm=0),
        ],
        arrival_mid_px_1e9=100 * P,
    )

    # Act
    event = plan_made_event(
        plan, event_id="e1", ts_ns=7, plan_id="p1", graph_id="g1", node_id="order", symbol="BTC-USD", tenant="t1"
    )

    # Assert
    assert event == PlanMade(
        event_id="e1",
        ts_ns=7,
        tenant="t1",
        plan_id="p1",
        graph_id="g1",
        node_id="order",
        symbol="BTC-USD",
        side="buy",
        qty_1e8=2 * U,
        allocations=[
            AllocationEvent(
                venue="a", qty_1e8=U, est_avg_px_1e9=100 * P, worst_px_1e9=100 * P, fee_bps=2.5, est_cost_usd_1e9=100_025_000_000,
                fee_ppm=250,
            ),
            AllocationEvent(
                venue="b", qty_1e8=U, est_avg_px_1e9=101 * P, worst_px_1e9=101 * P, fee_bps=0.0, est_cost_usd_1e9=101 * P,
                fee_ppm=0,
            ),
        ],
        arrival_mid_px_1e9=100 * P,
        expected_avg_px_1e9=100_500_000_000,
        expected_slippage_bps=50.0,
        expected_slippage_ppm=5_000,
        expected_cost_usd_1e9=201_025_000_000,
        best_single_venue="b",
        best_single_venue_cost_usd_1e9=202 * P,
        unroutable_qty_1e8=0,
        best_single_venue_qty_1e8=200_000_000,
    )
    assert decode(encode(event)) == event
