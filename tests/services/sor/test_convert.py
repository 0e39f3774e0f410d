"""RoutePlan -> events.routing.PlanMade, through the real codec."""

from __future__ import annotations

from events import decode, encode
from events.routing import Allocation as AllocationEvent
from events.routing import PlanMade
from services.sor import SorParams, VenueBook, plan_made_event, plan_order

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


def test_the_counterfactual_on_the_event_is_price_and_fee_without_the_routers_penalties() -> None:
    # Arrange: 10 ms at 10 ppm/ms = 100 ppm of latency penalty on the only venue.
    book = VenueBook(venue="a", levels=[(100 * P, 5 * U)], taker_fee_ppm=250, latency_ns=10_000_000)
    plan = plan_order("buy", U, [book], arrival_mid_px_1e9=100 * P, params=SorParams(latency_penalty_ppm_per_ms=10))
    # Act
    event = plan_made_event(plan, event_id="e1", ts_ns=7, plan_id="p1", graph_id="g1", node_id="order", symbol="X")
    # Assert: 100 USD + 2.5 bps fee; the router's own comparison keeps its 1 bp penalty.
    assert event.best_single_venue_cost_usd_1e9 == plan.best_single_venue_traded_cost_usd_1e9 == 100_025_000_000
    assert plan.best_single_venue_cost_usd_1e9 == 100_035_000_000 == event.expected_cost_usd_1e9
