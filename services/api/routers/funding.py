"""Perp funding (api_contract.md §4.3, §5): GET /v1/market/funding-rates, GET
/v1/funding_history/{symbol} and the rows of the `funding` WebSocket channel.

Names as the client uses them: the exchange's venue id (`binance`, `bybit`, `okx`,
`hyperliquid`) and the canonical symbol without the perp suffix (`BTC-USDT`); the perp is implied
by the endpoint. The edges publish perps under the same venue id as spot, with the perp symbol
(`BTC-USDT-PERP`); logs written before that carry the perp edges' own ids (`binance_usdm`,
`bybit_linear`), which `public_venue` maps to their exchange, and `public_symbol` drops the suffix.

* rates: `rate_bps_per_hour` = the rate per interval in bps, spread over the venue's interval
  (8 h Binance/OKX/Bybit, 1 h Hyperliquid); `predicted_rate_bps_per_hour` is the venue's forecast
  for the next interval when it publishes one, else the current rate (Binance's and Bybit's
  current rate is itself the estimate for the coming settlement). `snapshot_age_ms` is the time
  since the edge received the update.
* history: every change of the published rate (or of the settlement it applies to) the MD stream
  still holds in the window, oldest first: `rate_1e9` is the signed fraction per interval x 1e9.
  MD is age-bounded (CROSSBOOK_MD_MAX_AGE_S): older windows are simply empty.
"""

from __future__ import annotations

import functools

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from events.market import FundingRateUpdated
from events.subjects import token
from events.venues import PERP_SUFFIX, venue_id
from services.api.errors import ApiError
from services.api.routers.history import SEEK_SLACK_NS, first_seq_stored_from, window_ns
from services.api.state import ApiState, get_state
from services.edges import registry

router = APIRouter(prefix="/v1", tags=["market"])
State = Annotated[ApiState, Depends(get_state)]

_HOUR_NS = 3_600 * 10**9


class FundingRate(BaseModel):
    venue: str
    symbol: str
    instrument_type: str
    rate_bps_per_hour: float
    predicted_rate_bps_per_hour: float
    rate_1e9: int
    funding_interval_ns: int
    mark_price_1e9: int | None
    index_price_1e9: int | None
    open_interest_1e8: int | None
    next_settlement_ns: int
    snapshot_age_ms: int


class FundingRates(BaseModel):
    unit: str
    rates: list[FundingRate]


class FundingPoint(BaseModel):
    ts_ns: int
    rate_1e9: int
    next_settlement_ns: int
    mark_price_1e9: int | None = None


class FundingHistory(BaseModel):
    symbol: str
    venue: str
    count: int
    points: list[FundingPoint]


def public_venue(venue: str) -> str:
    return venue_id(venue)


def public_symbol(perp_symbol: str) -> str:
    return perp_symbol.removesuffix(PERP_SUFFIX)


@functools.cache  # the venues' instrument lists are fixed; a stream tick asks for this each time
def perp_venues() -> dict[str, list[str]]:
    """Venue id -> perp symbols, for every venue whose instruments include perps (read-only)."""
    out: dict[str, list[str]] = {}
    for venue, instruments in registry.sim_instruments_by_venue().items():
        perps = [i.symbol for i in instruments if i.symbol.endswith(PERP_SUFFIX)]
        if perps:
            out[venue] = perps
    return out


def bps_per_hour(rate_1e9: int, interval_ns: int) -> float:
    # fraction x 1e9 per interval -> bps per hour: x 1e4 / 1e9, x (1 h / interval)
    return rate_1e9 * _HOUR_NS / interval_ns / 100_000


def rate_row(event: FundingRateUpdated, now_ns: int) -> dict[str, Any]:
    predicted = event.rate_1e9 if event.predicted_rate_1e9 is None else event.predicted_rate_1e9
    return {
        "venue": public_venue(event.venue),
        "symbol": public_symbol(event.symbol),
        "instrument_type": "perp",
        "rate_bps_per_hour": bps_per_hour(event.rate_1e9, event.interval_ns),
        "predicted_rate_bps_per_hour": bps_per_hour(predicted, event.interval_ns),
        "rate_1e9": event.rate_1e9,
        "funding_interval_ns": event.interval_ns,
        "mark_price_1e9": event.mark_px_1e9 or None,
        "index_price_1e9": event.index_px_1e9 or None,
        "open_interest_1e8": event.open_interest_1e8,
        "next_settlement_ns": event.next_funding_ns,
        "snapshot_age_ms": max(0, now_ns - (event.ts_recv_ns or event.ts_ns)) // 1_000_000,
    }


def matches(event: FundingRateUpdated, venue: str | None, symbol: str | None) -> bool:
    if venue is not None and venue not in (event.venue, public_venue(event.venue)):
        return False
    return symbol is None or symbol in (event.symbol, public_symbol(event.symbol))


@router.get("/market/funding-rates", response_model=FundingRates)
async def funding_rates(state: State, venue: str | None = None, symbol: str | None = None) -> dict[str, Any]:
    now_ns = time.time_ns()
    rates = [rate_row(e, now_ns) for _, e in sorted(state.funding.latest.items()) if matches(e, venue, symbol)]
    return {"unit": "bps_per_hour", "rates": rates}


def _perp(venue: str, symbol: str) -> tuple[str, str]:
    """(venue id, perp symbol) for the client's names; 400 for a venue without perps."""
    perps = perp_venues()
    edge = venue_id(venue)
    if edge not in perps:
        raise ApiError(400, f"venue {venue!r} has no perpetuals, so no funding (perp venues: "
                            f"{', '.join(sorted(public_venue(v) for v in perps))})", code="INVALID_PARAMS",
                       details=[{"field": "venue", "message": "not a perp venue"}])
    perp = symbol if symbol.endswith(PERP_SUFFIX) else symbol + PERP_SUFFIX
    if perp not in perps[edge]:
        raise ApiError(404, f"{venue} lists no perpetual {public_symbol(perp)!r}", code="NOT_FOUND",
                       details=[{"field": "symbol", "message": "no such perpetual on this venue"}])
    return edge, perp


@router.get("/funding_history/{symbol:path}", response_model=FundingHistory, response_model_exclude_none=True)
async def funding_history(
    symbol: str,
    state: State,
    venue: str,
    range_: Annotated[str, Query(alias="range")] = "1m",
    start_ts: Annotated[int | None, Query(ge=0, le=2**33)] = None,
    end_ts: Annotated[int | None, Query(ge=0, le=2**33)] = None,
) -> dict[str, Any]:
    start, end = window_ns(range_, start_ts, end_ts, time.time_ns())
    edge, perp = _perp(venue, symbol)
    points: list[dict[str, Any]] = []
    last: tuple[int, int] | None = None
    first = await first_seq_stored_from(state.bus, "MD", start - SEEK_SLACK_NS) if start > 0 else 1
    # Every venue's subject of this perp: older logs hold it under the perp edge's own id.
    async for delivered in state.bus.replay("MD", f"md.*.{token(perp)}.funding", start_seq=first):
        event: object = delivered.event  # object: isinstance narrows it (AnyEvent is an untyped union)
        if not isinstance(event, FundingRateUpdated) or not start <= event.ts_ns <= end:
            continue
        if venue_id(event.venue) != edge:
            continue
        if (event.rate_1e9, event.next_funding_ns) == last:
            continue  # the venue repeats its rate every second: keep the changes
        last = (event.rate_1e9, event.next_funding_ns)
        point: dict[str, Any] = {"ts_ns": event.ts_event_ns or event.ts_ns, "rate_1e9": event.rate_1e9,
                                 "next_settlement_ns": event.next_funding_ns}
        if event.mark_px_1e9:
            point["mark_price_1e9"] = event.mark_px_1e9
        points.append(point)
    return {"symbol": public_symbol(perp), "venue": public_venue(edge), "count": len(points), "points": points}


# --- the `funding` WebSocket channel (services/api/routers/stream.py) --------------------------


def channel_filter(channel: str) -> tuple[str | None, str | None] | None:
    """(venue, symbol) filter of `funding`, `funding:{venue}` or `funding:{venue}:{symbol}`;
    None when the channel names no perp venue or perpetual."""
    kind, _, rest = channel.partition(":")
    if kind != "funding":
        return None
    if not rest:
        return None, None
    venue, _, symbol = rest.partition(":")
    try:
        _perp(venue, symbol or perp_venues().get(venue_id(venue), [""])[0])
    except ApiError:
        return None
    return venue, symbol or None


def channel_rows(state: ApiState, channel: str, sent: dict[tuple[str, str], FundingRateUpdated]) -> list[dict[str, Any]]:
    """A rates[] row for each matching perp whose funding changed since `sent` (updated here)."""
    wanted = channel_filter(channel)
    if wanted is None:
        return []
    now_ns = time.time_ns()
    out = []
    for key, event in sorted(state.funding.latest.items()):
        if sent.get(key) is not event and matches(event, *wanted):
            sent[key] = event
            out.append(rate_row(event, now_ns))
    return out
