"""POST /v1/execution/simulate (api_contract.md §4.4): what an order would do now, without sending it.

The order is scheduled exactly as POST /v1/orders would schedule it (its urgency or policy:
`services.graph.schedule`), and each slice is planned by the real SOR planner on the API's current
consolidated books (`intelligence.books_now`), as the forecast does: the books are assumed to
refill between slices and prices not to drift. Nothing is published."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.api.plans import cost_bps_or_none, routing_view
from services.api.routers.intelligence import _symbol, books_now
from services.api.routers.preview import parse_qty_1e8
from services.api.state import ApiState, get_state
from services.graph.schedule import twap_schedule, urgency_pacing

router = APIRouter(prefix="/v1", tags=["intelligence"])
State = Annotated[ApiState, Depends(get_state)]


class SimulateRequest(BaseModel):
    symbol: str = Field(min_length=1, max_length=200)
    side: Literal["buy", "sell"]
    qty: float | str  # human units, like POST /v1/orders' simple form
    urgency: Literal["low", "medium", "high"] = "medium"
    horizon_ms: int | None = Field(default=None, ge=1, le=86_400_000)


class SimulatedLeg(BaseModel):
    venue: str
    qty_1e8: int
    est_price_1e9: int


class SimulatedSlice(BaseModel):
    offset_ms: int
    qty_1e8: int
    filled_qty_1e8: int
    legs: list[SimulatedLeg]
    est_cost_bps: float | None


class Simulation(BaseModel):
    symbol: str
    side: str
    qty_1e8: int
    urgency: str
    policy: str
    horizon_ms: int
    mid_1e9: int | None
    source: str
    slices: list[SimulatedSlice]
    filled_qty_1e8: int
    unfilled_qty_1e8: int
    est_avg_price_1e9: int | None
    est_fee_usd_1e9: int
    est_cost_usd_1e9: int | None  # all-in: notional + fees + the router's latency penalty
    est_cost_bps: float | None


@router.post("/execution/simulate", response_model=Simulation)
async def simulate(body: SimulateRequest, state: State) -> dict[str, Any]:
    symbol = _symbol(state, body.symbol)
    qty_1e8 = parse_qty_1e8(body.qty)
    pacing = urgency_pacing(body.urgency, body.horizon_ms)
    horizon_ms = 0 if pacing is None else pacing.horizon_ms
    schedule = [(0, qty_1e8)] if pacing is None else [
        ((s.due_ns // 1_000_000), s.qty_1e8) for s in twap_schedule(qty_1e8, pacing.horizon_ms, 0,
                                                                       num_slices=pacing.num_slices)]
    out: dict[str, Any] = {"symbol": symbol, "side": body.side, "qty_1e8": qty_1e8, "urgency": body.urgency,
                           "policy": "sor" if pacing is None else "twap", "horizon_ms": horizon_ms}
    books = books_now(state, symbol, body.side)
    if books is None:
        return {**out, "mid_1e9": None, "source": "unavailable", "slices": [], "filled_qty_1e8": 0,
                "unfilled_qty_1e8": qty_1e8, "est_avg_price_1e9": None, "est_fee_usd_1e9": 0,
                "est_cost_usd_1e9": None, "est_cost_bps": None}
    slices, filled, notional, fees, cost = [], 0, 0, 0, 0
    for offset_ms, slice_qty in schedule:
        plan = books.plan(slice_qty)
        view = routing_view(body.side, plan.allocations, books.mid_1e9)
        legs = [a for a in plan.allocations if a.qty_1e8 > 0]
        slices.append({"offset_ms": offset_ms, "qty_1e8": slice_qty, "filled_qty_1e8": plan.filled_qty_1e8,
                       "legs": view["legs"], "est_cost_bps": view["est_cost_bps"]})
        filled += plan.filled_qty_1e8
        notional += sum(a.notional_usd_1e9 for a in legs)
        fees += sum(a.fee_usd_1e9 for a in legs)
        cost += plan.expected_cost_usd_1e9
    return {
        **out,
        "mid_1e9": books.mid_1e9,
        "source": "edge_nbbo",
        "slices": slices,
        "filled_qty_1e8": filled,
        "unfilled_qty_1e8": qty_1e8 - filled,
        "est_avg_price_1e9": notional * 10**8 // filled if filled else None,
        "est_fee_usd_1e9": fees,
        "est_cost_usd_1e9": cost if filled else None,
        "est_cost_bps": cost_bps_or_none(body.side, cost if filled else None, filled, books.mid_1e9),
    }
