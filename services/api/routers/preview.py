"""POST /v1/orders/preview: the SOR plan for an order, without trading (same code as the router)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.api.errors import ApiError
from services.api.access import json_body
from services.api.state import ApiState, get_state
from services.api.units import INT64_MAX
from services.refdata import instrument_rules
from services.risk import RulesBook, rules_book
from services.sor import Side, plan_order
from services.sor.config import ROUTER_PARAMS
from services.sor.books import venue_books

router = APIRouter(prefix="/v1", tags=["orders"])
State = Annotated[ApiState, Depends(get_state)]


@cache
def sor_rules() -> RulesBook:
    return rules_book(instrument_rules())


_SIDES: dict[str, Side] = {"buy": "buy", "sell": "sell"}


def side_of(raw: object) -> Side | None:
    """`raw` as an order side (any case), or None."""
    return _SIDES.get(str(raw).lower())


def parse_qty_1e8(raw: object) -> int:
    try:
        qty = Decimal(str(raw))
    except (InvalidOperation, ValueError) as exc:
        raise ApiError(422, f"qty must be a number, was {raw!r}", details=[{"field": "qty", "message": "not a number"}]) from exc
    if not qty.is_finite():  # "NaN" / "Infinity" parse as Decimals but have no integer size
        raise ApiError(422, f"qty must be a finite number, was {raw!r}", details=[{"field": "qty", "message": "not finite"}])
    try:
        qty_1e8 = int(qty * 100_000_000)
    except ArithmeticError:  # decimal.Overflow: "1e999999" parses but cannot be scaled
        qty_1e8 = INT64_MAX + 1
    if qty_1e8 > INT64_MAX:
        raise ApiError(422, f"qty is out of range, was {raw!r}", details=[{"field": "qty", "message": "out of range"}])
    if qty_1e8 <= 0:
        raise ApiError(422, f"qty must be > 0, was {raw!r}", details=[{"field": "qty", "message": "must be > 0"}])
    return qty_1e8


@router.post("/orders/preview")
async def preview(request: Request, state: State) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", code="BAD_REQUEST")
    symbol = body.get("symbol")
    side = side_of(body.get("side", ""))
    if not isinstance(symbol, str) or not symbol:
        raise ApiError(422, "symbol is required", details=[{"field": "symbol", "message": "required"}])
    if side is None:
        raise ApiError(422, f"side must be buy or sell, was {body.get('side')!r}", details=[{"field": "side", "message": "buy|sell"}])
    qty_1e8 = parse_qty_1e8(body.get("qty"))
    if symbol not in state.market.by_symbol:
        raise ApiError(404, f"unknown symbol {symbol!r}: no venue streams it", code="NOT_FOUND")
    nbbo = state.market.nbbo(symbol)
    books = venue_books(state.market, sor_rules(), symbol, side, body.get("venue"), qty_1e8)
    if nbbo is None or not books or not nbbo.bid_px_1e9 or not nbbo.ask_px_1e9:
        return {"symbol": symbol, "side": side, "qty_1e8": qty_1e8, "source": "unavailable", "candidate_venues": []}
    mid = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
    plan = plan_order(side, qty_1e8, books, arrival_mid_px_1e9=mid, params=ROUTER_PARAMS)
    allocated = {a.venue: a for a in plan.allocations}
    fees = sum(a.fee_usd_1e9 for a in plan.allocations)
    notional = sum(a.notional_usd_1e9 for a in plan.allocations)
    return {
        "symbol": symbol,
        "side": side,
        "qty_1e8": qty_1e8,
        "mid_1e9": mid,
        "est_avg_price_1e9": plan.expected_avg_px_1e9,
        "est_slippage_bps": plan.expected_slippage_bps,
        "est_fee_bps": fees * 10_000 / notional if notional else 0.0,
        "est_fee_usd_1e9": fees,
        "est_notional_usd_1e9": notional,
        "est_total_cost_usd_1e9": plan.expected_cost_usd_1e9,
        "unroutable_qty_1e8": plan.unroutable_qty_1e8,
        "best_single_venue": plan.best_single_venue,
        "best_single_venue_cost_usd_1e9": plan.best_single_venue_cost_usd_1e9,
        "source": "edge_nbbo",
        "candidate_venues": [
            {
                "venue": b.venue,
                "est_price_1e9": allocated[b.venue].est_avg_px_1e9 if b.venue in allocated else b.levels[0][0],
                "alloc_qty_1e8": allocated[b.venue].qty_1e8 if b.venue in allocated else 0,
                "fee_bps": b.taker_fee_ppm / 100,
                "available_qty_1e8": sum(q for _, q in b.levels),
            }
            for b in books
        ],
    }
