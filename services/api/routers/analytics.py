"""GET /v1/analytics/{venues,time_of_day,assets} (api_contract.md §4.4): the caller's own execution
broken down by venue, by UTC hour of day and by asset, from the fills and TCA reports in the
API's ledger view (the same rows GET /v1/fills and /v1/tca show this key).

* notional: price x quantity of each fill, in the quote currency taken as dollars (USDT/USDC at
  par; prediction contracts pay $1).
* `avg_implementation_shortfall_bps`: the notional-weighted mean of the TCA reports in the row
  (`tca.weighted_mean`); a report belongs to the hour it completed in and to its symbol's asset;
  per venue, its shortfall is weighted by the notional that venue filled for it. None without one.
* shares are whole bps of the caller's total fill notional (they may not sum to exactly 10_000).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.api.history import FillFacts
from events.tca import TcaReported
from services.api.auth import Auth
from services.api.routers.intelligence import _own_fills
from services.api.routers.tca import visible_reports, weighted_mean
from services.tca.report import ppm_as_bps
from services.api.state import ApiState, get_state
from services.refdata.symbols import split_symbol

router = APIRouter(prefix="/v1/analytics", tags=["analytics"])
State = Annotated[ApiState, Depends(get_state)]

_HOUR_NS = 3_600 * 10**9


class Breakdown(BaseModel):
    fill_count: int
    order_count: int
    buy_qty_1e8: int
    sell_qty_1e8: int
    notional_usd_1e9: int
    fees_usd_1e9: int
    maker_fill_count: int
    share_of_notional_bps: int
    avg_implementation_shortfall_bps: float | None


class VenueRow(Breakdown):
    venue: str


class HourRow(Breakdown):
    hour_utc: int


class AssetRow(Breakdown):
    asset: str
    symbols: list[str]


class ByVenue(BaseModel):
    total_notional_usd_1e9: int
    venues: list[VenueRow]


class ByHour(BaseModel):
    total_notional_usd_1e9: int
    hours: list[HourRow]


class ByAsset(BaseModel):
    total_notional_usd_1e9: int
    assets: list[AssetRow]


def _notional(fill: FillFacts) -> int:
    return fill.px_1e9 * fill.qty_1e8 // 10**8


def _shortfall(reports: list[TcaReported]) -> float | None:
    return weighted_mean(reports, lambda r: ppm_as_bps(r.implementation_shortfall_ppm))


def _breakdown(fills: list[FillFacts], total: int, shortfall: float | None) -> dict[str, Any]:
    notional = sum(_notional(f) for f in fills)
    return {
        "fill_count": len(fills),
        "order_count": len({f.graph_id for f in fills}),
        "buy_qty_1e8": sum(f.qty_1e8 for f in fills if f.side == "buy"),
        "sell_qty_1e8": sum(f.qty_1e8 for f in fills if f.side == "sell"),
        "notional_usd_1e9": notional,
        "fees_usd_1e9": sum(f.fee_usd_1e9 for f in fills),
        "maker_fill_count": sum(f.liquidity == "maker" for f in fills),
        "share_of_notional_bps": notional * 10_000 // total if total else 0,
        "avg_implementation_shortfall_bps": shortfall,
    }


def _group(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[Any]]:
    out: dict[Any, list[Any]] = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return out


def _asset(symbol: str) -> str:
    return split_symbol(symbol)[0]


@router.get("/venues", response_model=ByVenue)
async def by_venue(state: State, auth: Auth) -> dict[str, Any]:
    fills = await _own_fills(state, auth)
    total = sum(_notional(f) for f in fills)
    reports = await visible_reports(state, auth)
    rows = []
    for venue, venue_fills in sorted(_group(fills, lambda f: f.venue).items()):
        # each report's shortfall weighted by what this venue filled of it
        pairs = [(r.implementation_shortfall_ppm / 100, m.notional_usd_1e9)
                 for r in reports for m in r.venue_mix if m.venue == venue and m.notional_usd_1e9 > 0]
        weight = sum(w for _, w in pairs)
        shortfall = sum(v * w for v, w in pairs) / weight if weight else None
        rows.append({"venue": venue, **_breakdown(venue_fills, total, shortfall)})
    return {"total_notional_usd_1e9": total, "venues": rows}


@router.get("/time_of_day", response_model=ByHour)
async def by_time_of_day(state: State, auth: Auth) -> dict[str, Any]:
    fills = await _own_fills(state, auth)
    total = sum(_notional(f) for f in fills)
    by_hour = _group(fills, lambda f: (f.ts_event_ns or f.ts_ns) // _HOUR_NS % 24)
    reports = _group(await visible_reports(state, auth), lambda r: r.ts_ns // _HOUR_NS % 24)
    hours = [{"hour_utc": h, **_breakdown(by_hour.get(h, []), total, _shortfall(reports.get(h, [])))}
             for h in range(24)]
    return {"total_notional_usd_1e9": total, "hours": hours}


@router.get("/assets", response_model=ByAsset)
async def by_asset(state: State, auth: Auth) -> dict[str, Any]:
    fills = await _own_fills(state, auth)
    total = sum(_notional(f) for f in fills)
    reports = _group(await visible_reports(state, auth), lambda r: _asset(r.symbol))
    rows = []
    for asset, asset_fills in sorted(_group(fills, lambda f: _asset(f.symbol)).items()):
        rows.append({"asset": asset, "symbols": sorted({f.symbol for f in asset_fills}),
                     **_breakdown(asset_fills, total, _shortfall(reports.get(asset, [])))})
    return {"total_notional_usd_1e9": total, "assets": rows}
