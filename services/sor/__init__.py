"""Smart order router: the cheapest split of one order over venue books, after fees and latency.

Pure logic: no I/O, no clock. The service feeding it reads books, fees, balances and RTTs from
projections and publishes `events.routing` facts.

What to call:

    plan = plan_order(
        "buy", qty_1e8, [VenueBook(venue=..., levels=asks_best_first, taker_fee_ppm=...,
                                   latency_ns=rtt_estimate, min_qty_1e8=..., lot_1e8=...,
                                   tick_1e9=..., max_qty_1e8=balance_in_base_or_None), ...],
        arrival_mid_px_1e9=mid, params=SorParams(latency_penalty_ppm_per_ms=...),
        limit_px_1e9=None, scores={venue: VenueScore(latency_ns=, fill_rate_ppm=,
                                                    realised_slippage_ppm=)} or None,
    ) -> RoutePlan
        .allocations: tuple[Allocation(venue, qty_1e8, est_avg_px_1e9, worst_px_1e9, fee_ppm,
                      notional_usd_1e9, fee_usd_1e9, latency_penalty_usd_1e9,
                      est_cost_usd_1e9, gross_1e17)]   (in input venue order)
        .filled_qty_1e8, .unroutable_qty_1e8, .expected_avg_px_1e9, .expected_cost_usd_1e9,
        .expected_slippage_bps (price only), .expected_cost_bps (all-in),
        .best_single_venue, .best_single_venue_qty_1e8, .best_single_venue_cost_usd_1e9,
        .best_single_venue_traded_cost_usd_1e9 (price and fee only: the TCA counterfactual)

    plan_made_event(plan, event_id=, ts_ns=, plan_id=, graph_id=, node_id=, symbol=) -> PlanMade
    marketable_limit_px(side, alloc.worst_px_1e9, book.tick_1e9, collar_ppm=0,
                        limit_px_1e9=plan.limit_px_1e9) -> the child's IOC limit price

Costs are signed "cost to us" in USD_1e9: a buy's cost is positive, a sell's is minus its net
proceeds. Fees and latency penalty round up, the price part rounds against us (`cost.py`).
The optimum is exact without lots/minimums and a documented heuristic with them
(`optimizer.py`), never worse than the best single venue. Errors: InvalidBook, InvalidOrder
(both SorError, a CrossbookError).
"""

from services.sor.children import marketable_limit_px
from services.sor.config import SorParams
from services.sor.convert import allocation_event, plan_made_event
from services.sor.errors import InvalidBook, InvalidOrder, SorError
from services.sor.model import Allocation, RoutePlan, Side, VenueBook, VenueScore
from services.sor.optimizer import plan_order

__all__ = [
    "Allocation",
    "InvalidBook",
    "InvalidOrder",
    "RoutePlan",
    "Side",
    "SorError",
    "SorParams",
    "VenueBook",
    "VenueScore",
    "allocation_event",
    "marketable_limit_px",
    "plan_made_event",
    "plan_order",
]
