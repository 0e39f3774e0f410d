"""Execution intelligence (api_contract.md §4.2/§4.3): venue stats, slippage curve, routing, depth,
forecast, execution summary and live view, fees, risk limits and the portfolio summary.

Every estimate runs the real SOR planner (`services.sor.plan_order`) on the API's consolidated
books, through the same inputs as POST /v1/orders/preview (`venue_books`, the instrument rules,
the NBBO mid, the router's latency penalty): what these endpoints show is what an order sent
now would be planned as. Nothing here trades or publishes.

Definitions (bps: signed so that worse for us is positive, one float of an exact integer ratio):
* market share (`/intelligence/venues`): a venue's share of the public traded notional printed
  for the symbol on the MD stream (`TradePrinted`, everything the API has folded), in whole bps
  summing to 10_000 (`services.tca.intel.shares_bps`). Before any trade has printed, the share
  of displayed depth (notional of the top `SOR_DEPTH` levels, both sides, usable books) is used
  instead; `share_basis` says which. `toxicity` and `quote_to_trade` are null: the API folds no
  post-trade markouts and no per-venue quote counts, and they are not invented.
* `chosen` (routing, WS `routing` frames): the venue when the plan takes everything from one
  venue, "split" when it uses several, null when nothing is routable.
* forecast: `expected_cost_bps` is the plan's all-in cost (price + taker fee + latency penalty)
  for the order on the current books. `p90_cost_bps` adds how far the caller's realised
  implementation shortfall on this symbol and side (up to `RECENT_REPORTS` newest TCA reports)
  spreads above its median (p90 - p50); without reports it is the cost of the same order if half
  the displayed depth were gone when it arrives, i.e. the all-in cost of twice the size. The
  urgency tradeoff schedules the order as an order of that urgency would be (one immediate sweep,
  or TWAP slices over a horizon: `services.graph.schedule.urgency_pacing`; `horizon_ms` as the
  order would give it) and assumes the books refill between slices and prices do not drift (no
  volatility is modelled): it is the liquidity saving of slicing, not a timing-risk forecast.

The plans of the caller's orders (`PlanMade`, for /execution/live and the WS `routing` channel)
come from a LEDGER follower that this router's lifespan runs next to the API's own followers
(services/api/plans.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, DecimalException
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from events.execution import FillRecorded
from projections import orders as view
from services.api import history
from services.api.access import AuthContext
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.plans import cost_bps_or_none, routing_frame, routing_view
from services.api.routers.account import account
from services.api.routers.positions import unified, view_scope
from services.api.routers.preview import parse_qty_1e8, side_of, sor_rules
from services.api.routers.stream import fill_row
from services.api.routers.tca import notional, visible_reports, weighted_mean
from services.api.state import ApiState, get_state
from services.api.units import INT64_MAX, px, qty
from services.graph import to_status_json
from services.graph.schedule import urgency_pacing
from services.graph.schema import notional_to_qty_1e8
from services.risk import RiskLimits
from services.sor import RoutePlan, Side, VenueBook, plan_order
from services.sor.books import SOR_DEPTH, venue_books
from services.sor.config import ROUTER_PARAMS
from services.tca import intel
from services.tca.report import ppm_as_bps
from services.refdata import fee_schedule

State = Annotated[ApiState, Depends(get_state)]

DEFAULT_SIZES = "1000,10000,100000,1000000"  # the SDK's slippage sizes (USD)
MAX_SIZES = 32
RECENT_REPORTS = 50
CAPACITY_QUARTERS = (1, 2, 4, 8, 16)  # 0.25x .. 4x the order
URGENCIES = ("high", "medium", "low")
MAX_DEPTH = 100


router = APIRouter(prefix="/v1", tags=["intelligence"])


# --- input checks: 404 names an unknown symbol, 422 names the bad field -------------------------


def _field_error(name: str, message: str) -> ApiError:
    return ApiError(422, f"{name}: {message}", details=[{"field": name, "message": message}])


def _symbol(state: ApiState, symbol: str) -> str:
    if symbol not in state.market.by_symbol:
        raise ApiError(404, f"unknown symbol {symbol!r}: no venue streams it", code="NOT_FOUND",
                       details=[{"field": "symbol", "message": f"unknown symbol {symbol!r}"}])
    return symbol


def _side(raw: str) -> Side:
    side = side_of(raw)
    if side is None:
        raise _field_error("side", f"must be buy or sell, was {raw!r}")
    return side


def _usd_sizes(raw: str) -> list[tuple[Decimal, int]]:
    """(as asked, usd_1e9) per comma-separated positive USD notional."""
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if not parts or len(parts) > MAX_SIZES:
        raise _field_error("sizes", f"give 1 to {MAX_SIZES} comma-separated USD notionals, was {raw!r}")
    out = []
    for part in parts:
        try:
            usd = Decimal(part)
            usd_1e9 = int(usd * 10**9) if usd.is_finite() else 0
        except DecimalException:  # not a number, or beyond the decimal context when scaled
            raise _field_error("sizes", f"{part!r} is not a USD amount") from None
        if not 0 < usd_1e9 <= INT64_MAX:
            raise _field_error("sizes", f"{part!r} must be a finite USD amount > 0 and < 9.2e9")
        out.append((usd, usd_1e9))
    return out


# --- the planner on the current books ---------------------------------------------------------


@dataclass(frozen=True)
class Books:
    """What an order on `side` would be planned against now: the NBBO mid and the venue books."""

    side: Side
    mid_1e9: int
    venues: list[VenueBook]

    def plan(self, qty_1e8: int, venues: Sequence[VenueBook] | None = None) -> RoutePlan:
        return plan_order(self.side, qty_1e8, self.venues if venues is None else venues,
                          arrival_mid_px_1e9=self.mid_1e9, params=ROUTER_PARAMS)


def books_now(state: ApiState, symbol: str, side: Side) -> Books | None:
    """None when no usable book has both a bid and an ask (no mid) or none has our side."""
    nbbo = state.market.nbbo(symbol)
    if nbbo is None or not nbbo.bid_px_1e9 or not nbbo.ask_px_1e9:
        return None
    venues = venue_books(state.market, sor_rules(), symbol, side)
    return Books(side, (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2, venues) if venues else None


# --- endpoints --------------------------------------------------------------------------------


@router.get("/intelligence/venues")
async def venues(symbol: str, state: State) -> dict[str, Any]:
    books = state.market.by_symbol.get(_symbol(state, symbol), {})
    prints = {v: state.market.trades.get((v, symbol)) for v in books}
    weights, basis = {v: t.notional_1e17 if t else 0 for v, t in prints.items()}, "trades"
    if not any(weights.values()):
        weights, basis = {
            v: intel.levels_notional_usd_1e9([lv for side in b.top(SOR_DEPTH) for lv in side]) if b.usable else 0
            for v, b in books.items()
        }, "depth"
    shares = intel.shares_bps(weights)
    rows = []
    for venue, book in sorted(books.items()):
        b, a, trades = book.best_bid(), book.best_ask(), prints[venue]
        rows.append({
            "venue": venue,
            "market_share_bps": shares[venue],
            "spread_bps": intel.spread_bps(b[0], a[0]) if book.usable and b and a else None,
            "toxicity": None,
            "quote_to_trade": None,
            "status": "live" if book.usable else "stale",
            "trade_count": trades.count if trades else 0,
            "traded_notional_usd_1e9": trades.notional_1e17 // 10**8 if trades else 0,
        })
    return {"symbol": symbol, "share_basis": basis, "venues": rows}


@router.get("/intelligence/slippage")
async def slippage(symbol: str, side: str, state: State, sizes: str = DEFAULT_SIZES) -> dict[str, Any]:
    _symbol(state, symbol)
    side = _side(side)
    asked = _usd_sizes(sizes)
    books = books_now(state, symbol, side)
    curve = []
    for usd, usd_1e9 in asked:
        qty_1e8 = notional_to_qty_1e8(usd_1e9, books.mid_1e9) if books else 0
        plan = books.plan(qty_1e8) if books and qty_1e8 > 0 else None
        curve.append({
            "notional_usd": float(usd),
            "qty_1e8": qty_1e8,
            "slippage_bps": plan.expected_slippage_bps if plan and plan.filled_qty_1e8 else None,
            "est_cost_bps": plan.expected_cost_bps if plan and plan.filled_qty_1e8 else None,
            "filled_qty_1e8": plan.filled_qty_1e8 if plan else 0,
            "unroutable_qty_1e8": plan.unroutable_qty_1e8 if plan else qty_1e8,
            "venues_used": sorted(a.venue for a in plan.allocations if a.qty_1e8 > 0) if plan else [],
        })
    return {"symbol": symbol, "side": side, "mid_1e9": books.mid_1e9 if books else None,
            "source": "edge_nbbo" if books else "unavailable", "curve": curve}


@router.get("/intelligence/routing")
async def routing(symbol: str, side: str, qty: str, state: State) -> dict[str, Any]:
    _symbol(state, symbol)
    side, qty_1e8 = _side(side), parse_qty_1e8(qty)
    books = books_now(state, symbol, side)
    if books is None:
        return {"symbol": symbol, "side": side, "qty_1e8": qty_1e8, "mid_1e9": None, "source": "unavailable",
                **routing_view(side, [], 0), "unroutable_qty_1e8": qty_1e8, "best_single_venue": None,
                "best_single_venue_cost_bps": None}
    plan = books.plan(qty_1e8)
    return {
        "symbol": symbol,
        "side": side,
        "qty_1e8": qty_1e8,
        "mid_1e9": books.mid_1e9,
        "source": "edge_nbbo",
        **routing_view(side, plan.allocations, books.mid_1e9),
        "unroutable_qty_1e8": plan.unroutable_qty_1e8,
        "best_single_venue": plan.best_single_venue,
        "best_single_venue_cost_bps": cost_bps_or_none(
            side, plan.best_single_venue_cost_usd_1e9, plan.best_single_venue_qty_1e8, books.mid_1e9
        ),
    }


@router.get("/intelligence/depth")
async def depth(symbol: str, state: State, levels: int = 20) -> dict[str, Any]:
    """Every usable venue's levels merged best first (a price shown by two venues is two rows)."""
    _symbol(state, symbol)
    if not 1 <= levels <= MAX_DEPTH:
        raise _field_error("levels", f"must be 1..{MAX_DEPTH}, was {levels}")
    bids, asks = state.market.consolidated(symbol, levels)
    usable = [b for b in state.market.by_symbol[symbol].values() if b.usable]
    return {
        "symbol": symbol,
        "bids": [[px(p), qty(q), v] for p, q, v in bids[:levels]],
        "asks": [[px(p), qty(q), v] for p, q, v in asks[:levels]],
        "ts_ns": max((b.last_update_ns for b in usable), default=0),
    }


@router.get("/execution/forecast")
async def forecast(symbol: str, side: str, qty: str, state: State, auth: Auth,
                   horizon_ms: Annotated[int | None, Query(ge=1, le=86_400_000)] = None) -> dict[str, Any]:
    _symbol(state, symbol)
    side, qty_1e8 = _side(side), parse_qty_1e8(qty)
    books = books_now(state, symbol, side)
    if books is None:
        return {"symbol": symbol, "side": side, "qty_1e8": qty_1e8, "mid_1e9": None, "source": "unavailable",
                "expected_cost_bps": None, "p90_cost_bps": None, "p90_basis": None,
                "venue_ranking": [], "capacity_curve": [], "urgency_tradeoff": []}
    plan = books.plan(qty_1e8)
    expected = plan.expected_cost_bps if plan.filled_qty_1e8 else None
    realised = [r.implementation_shortfall_ppm / 100 for r in await visible_reports(state, auth)
                if r.symbol == symbol and r.side == side][-RECENT_REPORTS:]
    p90, basis = None, None
    if expected is not None and realised:
        p90, basis = intel.p90_cost_bps(expected, realised), "tca_reports"
    elif expected is not None and qty_1e8 <= INT64_MAX // 2:
        doubled = books.plan(2 * qty_1e8)
        p90, basis = max(expected, doubled.expected_cost_bps), "book_half_depth"
    return {
        "symbol": symbol,
        "side": side,
        "qty_1e8": qty_1e8,
        "mid_1e9": books.mid_1e9,
        "source": "edge_nbbo",
        "expected_cost_bps": expected,
        "expected_slippage_bps": plan.expected_slippage_bps if plan.filled_qty_1e8 else None,
        "p90_cost_bps": p90,
        "p90_basis": basis,
        "realised_report_count": len(realised),
        "fillable_qty_1e8": plan.filled_qty_1e8,
        "venue_ranking": _venue_ranking(books, qty_1e8),
        "capacity_curve": [_capacity_point(books, qty_1e8 * k // 4) for k in CAPACITY_QUARTERS
                           if 0 < qty_1e8 * k // 4 <= INT64_MAX],
        "urgency_tradeoff": _urgency_tradeoff(books, qty_1e8, expected, horizon_ms),
    }


def _venue_ranking(books: Books, qty_1e8: int) -> list[dict[str, Any]]:
    """Each venue alone for the whole order (landed: book + taker fee + latency): fills most first,
    then cheapest."""
    rows: list[dict[str, Any]] = []
    for venue in books.venues:
        alone = books.plan(qty_1e8, [venue])
        rows.append({
            "venue": venue.venue,
            "fillable_qty_1e8": alone.filled_qty_1e8,
            "est_price_1e9": alone.expected_avg_px_1e9 or None,
            "landed_cost_bps": alone.expected_cost_bps if alone.filled_qty_1e8 else None,
            "fee_bps": venue.taker_fee_ppm / 100,
        })
    rows.sort(key=lambda r: (-r["fillable_qty_1e8"], r["landed_cost_bps"] if r["landed_cost_bps"] is not None else 0))
    return [{"rank": i + 1, **r} for i, r in enumerate(rows)]


def _capacity_point(books: Books, qty_1e8: int) -> dict[str, Any]:
    plan = books.plan(qty_1e8)
    filled = plan.filled_qty_1e8
    return {
        "qty_1e8": qty_1e8,
        "notional_usd_1e9": books.mid_1e9 * qty_1e8 // 10**8,
        "expected_cost_bps": plan.expected_cost_bps if filled else None,
        "slippage_bps": plan.expected_slippage_bps if filled else None,
        "filled_qty_1e8": filled,
        "venues_used": sorted(a.venue for a in plan.allocations if a.qty_1e8 > 0),
    }


def _urgency_tradeoff(books: Books, qty_1e8: int, now_bps: float | None, horizon_ms: int | None) -> list[dict[str, Any]]:
    """Per urgency, its schedule's n equal slices (the last takes the remainder), each planned on
    today's full books; `horizon_ms` is how long the order takes (0 = one immediate sweep)."""
    rows = []
    for urgency in URGENCIES:
        pacing = urgency_pacing(urgency, horizon_ms)
        n, horizon = (1, 0) if pacing is None else (pacing.num_slices, pacing.horizon_ms)
        size = qty_1e8 // n
        if size <= 0:
            continue
        first, last = books.plan(size), books.plan(qty_1e8 - size * (n - 1))
        filled = first.filled_qty_1e8 * (n - 1) + last.filled_qty_1e8
        cost = first.expected_cost_usd_1e9 * (n - 1) + last.expected_cost_usd_1e9
        bps = cost_bps_or_none(books.side, cost, filled, books.mid_1e9) if filled else None
        rows.append({
            "urgency": urgency,
            "slices": n,
            "horizon_ms": horizon,
            "policy": "sor" if pacing is None else "twap",
            "slice_qty_1e8": size,
            "est_cost_bps": bps,
            "savings_vs_immediate_bps": now_bps - bps if now_bps is not None and bps is not None else None,
            "filled_qty_1e8": filled,
        })
    return rows


async def _own_fills(state: ApiState, auth: AuthContext) -> list[history.FillFacts]:
    # The same fills GET /v1/fills shows this key (the durable view: finished graphs included).
    return await history.fills(state, auth)


@router.get("/execution/summary")
async def execution_summary(state: State, auth: Auth) -> dict[str, Any]:
    """Orders (all the caller's order rows; completed = with a TCA report), filled notional, fees and
    venue mix over the caller's fills, and the notional-weighted IS/slippage over its reports."""
    reports = await visible_reports(state, auth)
    await history.view_caught_up(state)
    order_count = await asyncio.to_thread(view.order_count, state.views, auth.tenant, auth.is_sandbox)
    mix = intel.venue_mix((f.venue, f.qty_1e8, f.px_1e9, f.fee_usd_1e9) for f in await _own_fills(state, auth))
    return {
        "order_count": order_count,
        "completed_order_count": len(reports),
        "fill_count": sum(v["fill_count"] for v in mix),
        "notional_usd_1e9": sum(v["notional_usd_1e9"] for v in mix),
        "fees_usd_1e9": sum(v["fees_usd_1e9"] for v in mix),
        "reported_notional_usd_1e9": sum(notional(r) for r in reports),
        "avg_implementation_shortfall_bps": weighted_mean(reports, lambda r: ppm_as_bps(r.implementation_shortfall_ppm)),
        "avg_slippage_bps": weighted_mean(reports, lambda r: ppm_as_bps(r.slippage_ppm)),
        "savings_usd_1e9": sum(r.savings_usd_1e9 or 0 for r in reports),
        "venue_mix": mix,
        "as_of_ns": time.time_ns(),
    }


@router.get("/execution/live/{graph_id}")
async def execution_live(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    """A graph's status, its fills so far and its plans. Takes a graph id or a node_order_id
    (`<graph_id>:<node_id>:<seq>`, what the SDK passes), which narrows fills and plans to the node."""
    raw = graph_id.removeprefix("graph:")
    gid, _, rest = raw.partition(":")
    node_id = rest.split(":")[0] if rest else None
    graph = await history.graph(state, gid, auth)
    if graph is None or (node_id is not None and node_id not in graph.nodes):
        raise ApiError(404, f"unknown graph or order {graph_id!r}", code="NOT_FOUND")
    hot = gid in state.ledger.graphs  # live: from memory; ended and evicted: from the durable view
    fills: Sequence[FillRecorded | history.FillFacts] = (
        state.ledger.graph_fills.get(gid, []) if hot else await history.fills(state, auth, gid)
    )
    fills = [f for f in fills if node_id is None or f.node_id == node_id]
    plans = [
        p for p in (state.plans.by_graph.get(gid, []) if hot else await history.plans(state, auth, gid))
        if p.tenant == graph.tenant and (node_id is None or p.node_id == node_id)
    ]
    filled = sum(f.qty_1e8 for f in fills)
    return {
        "graph_id": gid,
        "node_id": node_id,
        "status": graph.status,
        "terminal": graph.terminal,
        "graph": to_status_json(graph),
        "filled_qty_1e8": filled,
        "avg_fill_price_1e9": intel.vwap_1e9(sum(f.px_1e9 * f.qty_1e8 for f in fills), filled),
        "fills": [fill_row(f) for f in fills],
        "plans": [routing_frame(p) for p in plans],
        "as_of_ns": time.time_ns(),
    }


@router.get("/fees")
async def fees(ticker: str, state: State, venues: str | None = None) -> dict[str, Any]:
    """The taker/maker rates the SOR and the sandbox charge (the venue's reference data), in bps
    rounded up (a fee is a cost; exact ppm alongside). A venue with no schedule, or not listing
    the ticker, answers null: do not route there. Kalshi-style P*(1-P) fees are quoted at p=0.5."""
    listing = set(state.market.venues_for(ticker))
    if not listing:
        raise ApiError(404, f"unknown ticker {ticker!r}: no venue lists it", code="NOT_FOUND",
                       details=[{"field": "ticker", "message": f"unknown ticker {ticker!r}"}])
    wanted = sorted({v.strip() for v in venues.split(",") if v.strip()}) if venues else sorted(listing)
    rows = []
    for venue in wanted:
        schedule = fee_schedule(venue, ticker) if venue in listing else None  # a perp ticker: its perp fees
        # bps = ppm / 100; at p=0.5 a P*(1-P) fee is half its rate as a share of cost.
        per_bp = 100 if schedule is None or schedule.model == "notional" else 200
        rows.append({
            "venue": venue,
            "maker_bps": -(-schedule.maker_ppm // per_bp) if schedule else None,
            "taker_bps": -(-schedule.taker_ppm // per_bp) if schedule else None,
            "maker_ppm": schedule.maker_ppm if schedule else None,
            "taker_ppm": schedule.taker_ppm if schedule else None,
        })
    return {"ticker": ticker, "fees": rows}


@router.get("/risk_limits")
async def risk_limits(state: State, auth: Auth) -> dict[str, Any]:
    """The pre-trade limits the router enforces (runtime starts it with the `RiskLimits` defaults;
    no per-tenant override exists yet). `max_order_rate` is the API's per-account request rate
    (orders included), the only rate limit in force; null when unlimited."""
    limits = RiskLimits()
    return {
        "max_order_notional_usd_1e9": limits.max_order_notional_usd_1e9,
        "max_position_usd_1e9": limits.max_position_usd_1e9,
        "daily_loss_limit_usd_1e9": limits.daily_loss_limit_usd_1e9,
        "max_order_rate": state.limiter.qps or None,
        "max_open_orders": limits.max_open_orders,
        "market_collar_ppm": limits.market_collar_ppm,
        "kill_switch": (await account(state, auth))["kill_switch"],
    }


@router.get("/portfolio/summary")
async def portfolio_summary(state: State, auth: Auth) -> dict[str, Any]:
    return (await unified(state, view_scope(auth), None, None, False))["totals"]
