"""GET /v1/price_history/{symbol} (contract §4.2), served from the market data recorded on MD.

* source [PROP]: `trades` (default): the venues' trade prints (`md.<venue>.<symbol>.trade`),
  every venue unless `venue` names one. `nbbo`: the consolidated NBBO changes (`nbbo.<symbol>`),
  price = mid (bid + ask) // 2, with `bid_1e9`/`ask_1e9`; with `venue`, that venue's own BBO.
  Times are the events' `ts_ns` (our clock, the clock of fills and order events).
* window: [start_ts, end_ts] (unix s, both inclusive) when both are given; otherwise `range`
  back from end_ts (default now), or from start_ts to now. `max` = whatever MD still holds. MD is
  age-bounded (CROSSBOOK_MD_MAX_AGE_S), so older windows are simply empty. The replay starts
  at the first event the server stored from the window's start (a binary search on store
  times), not at the stream's head.
* fidelity_secs = 0 (tick mode): the most recent `limit` points of the window (default 100,
  at most 5000), oldest first; trade points carry qty_1e8, side (the aggressor) and venue_id.
* fidelity_secs > 0: one bar per bucket [k * f, (k + 1) * f) that holds a point: ts_ns = the
  bucket's start, price_1e9 = the last price in it (the close); the most recent `limit` bars
  when `limit` is given.
* `paginate` and `underlying` are accepted and ignored (Polymarket-only in the SDK).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import nats.js.errors
from fastapi import APIRouter, Depends, Query

from events.market import NbboChanged, TradePrinted
from events.subjects import md, token
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.bus import Bus

router = APIRouter(prefix="/v1", tags=["market"])
State = Annotated[ApiState, Depends(get_state)]

_SECONDS = {"1h": 3600, "6h": 6 * 3600, "1d": 86_400, "1w": 7 * 86_400, "1m": 30 * 86_400, "3m": 90 * 86_400,
            "6m": 180 * 86_400, "1y": 365 * 86_400, "2y": 730 * 86_400, "5y": 1826 * 86_400, "max": None}
TICK_LIMIT, MAX_LIMIT = 100, 5000
_NS = 10**9
SEEK_SLACK_NS = 5 * _NS  # tolerance between the server's store clock and the events' clocks
_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)


def window_ns(range_: str, start_ts: int | None, end_ts: int | None, now_ns: int) -> tuple[int, int]:
    """The [start, end] window in ns (see the module doc)."""
    if range_ not in _SECONDS:
        raise ApiError(400, f"range must be one of {', '.join(_SECONDS)}, was {range_!r}", code="INVALID_PARAMS",
                       details=[{"field": "range", "message": "unknown range"}])
    end = now_ns if end_ts is None else end_ts * _NS + _NS - 1  # end_ts is a whole second: include all of it
    if start_ts is not None:
        return start_ts * _NS, end
    span = _SECONDS[range_]
    return (0 if span is None else end - span * _NS), end


async def first_seq_stored_from(bus: Bus, stream: str, ts_ns: int) -> int:
    """The first sequence the server stored at or after `ts_ns` (binary search on store times).

    An event is stored after it is stamped, so no event with `ts_ns` >= t is stored before t:
    a replay may start here (less a slack for clock skew) instead of scanning all of MD."""
    state = (await bus.js.stream_info(stream)).state
    lo, hi = state.first_seq, state.last_seq + 1  # hi: nothing stored from ts_ns on
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            stored = await bus.js.get_msg(stream, seq=mid)
        except nats.js.errors.NotFoundError:  # aged out under us: the answer lies above
            lo = mid + 1
            continue
        if stored.time is not None and (stored.time - _EPOCH) // _MICROSECOND * 1_000 >= ts_ns:
            hi = mid
        else:
            lo = mid + 1
    return lo


def tick_point(event: TradePrinted | NbboChanged, venue: str | None) -> dict[str, Any] | None:
    if isinstance(event, TradePrinted):
        return {"ts_ns": event.ts_ns, "price_1e9": event.px_1e9, "qty_1e8": event.qty_1e8, "side": event.aggressor,
                "venue_id": event.venue}
    bid, ask = event.bid_px_1e9, event.ask_px_1e9
    if venue is not None:
        own = [v for v in event.venues if v.venue == venue]
        if not own:
            return None
        bid, ask = own[0].bid_px_1e9, own[0].ask_px_1e9
    if bid <= 0 or ask <= 0:
        return None  # one-sided or empty: no mid
    point: dict[str, Any] = {"ts_ns": event.ts_ns, "price_1e9": (bid + ask) // 2, "bid_1e9": bid, "ask_1e9": ask}
    if venue is not None:
        point["venue_id"] = venue
    return point


def bars(points: list[dict[str, Any]], fidelity_secs: int) -> list[dict[str, Any]]:
    """The close of each bucket of `fidelity_secs` that holds a point (points oldest first)."""
    width = fidelity_secs * _NS
    closes: dict[int, dict[str, Any]] = {}
    for p in points:
        closes[p["ts_ns"] // width * width] = p
    out = []
    for start, last in sorted(closes.items()):
        bar = {"ts_ns": start, "price_1e9": last["price_1e9"]}
        if "bid_1e9" in last:
            bar["bid_1e9"], bar["ask_1e9"] = last["bid_1e9"], last["ask_1e9"]
        out.append(bar)
    return out


@router.get("/price_history/{symbol:path}")
async def price_history(
    symbol: str,
    state: State,
    range_: Annotated[str, Query(alias="range")] = "1d",
    fidelity_secs: Annotated[int, Query(ge=0)] = 60,
    start_ts: Annotated[int | None, Query(ge=0)] = None,
    end_ts: Annotated[int | None, Query(ge=0)] = None,
    venue: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    source: Literal["trades", "nbbo"] = "trades",
    paginate: bool = False,
    underlying: bool = False,
) -> dict[str, Any]:
    start, end = window_ns(range_, start_ts, end_ts, time.time_ns())
    for name, value in (("symbol", symbol), ("venue", venue or "x")):
        if len(value) > 200 or not value.isprintable() or any(c.isspace() for c in value):  # never a subject token
            raise ApiError(400, f"{name} must be at most 200 printable characters without blanks", code="INVALID_PARAMS",
                           details=[{"field": name, "message": "at most 200 printable characters, no blanks"}])
    if source == "trades":
        subject = md(venue, symbol, "trade") if venue else f"md.*.{token(symbol)}.trade"
    else:
        subject = f"nbbo.{token(symbol)}"
    points = []
    first = await first_seq_stored_from(state.bus, "MD", start - SEEK_SLACK_NS) if start > 0 else 1
    async for delivered in state.bus.replay("MD", subject, start_seq=first):
        event = delivered.event
        if not isinstance(event, (TradePrinted, NbboChanged)) or event.symbol != symbol:
            continue  # a token shared by two symbols ("A.B" and "A_B")
        if start <= event.ts_ns <= end and (point := tick_point(event, venue)) is not None:
            points.append(point)
    points.sort(key=lambda p: p["ts_ns"])  # stable: log order among equal times
    if not points and symbol not in state.market.by_symbol:
        raise ApiError(404, f"unknown symbol {symbol!r}: no venue streams it", code="NOT_FOUND")
    if fidelity_secs == 0:
        points = points[-(limit or TICK_LIMIT):]
    else:
        points = bars(points, fidelity_secs)
        if limit is not None:
            points = points[-limit:]
    return {"symbol": symbol, "source": source, "fidelity_secs": fidelity_secs, "start_ns": start, "end_ns": end,
            "count": len(points), "points": points}
