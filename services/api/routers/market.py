"""Market reads: quotes, edges, venues per symbol, symbols."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from events.venues import PERP_SUFFIX, PREDICTION_VENUES, instrument_type_of, perp_symbol
from services.api.errors import ApiError
from services.api.access import json_body
from services.api.state import ApiState, get_state
from services.api.units import px, qty
from services.sor.regions import RegionLatency

router = APIRouter(prefix="/v1", tags=["market"])
State = Annotated[ApiState, Depends(get_state)]


def quote_payload(state: ApiState, asked: str, depth: int, instrument_type: str | None = None) -> dict[str, Any]:
    market = state.market
    # A prediction market's ticker, slug or `:yes`/`:no` leg quotes the contract it names.
    symbol = state.markets.canonical_symbol(asked) if state.markets is not None else asked
    if instrument_type == "perp":  # spot and perps share venue ids; a perp's book is `<symbol>-PERP`
        symbol = perp_symbol(symbol)
    elif instrument_type not in (None, "spot", "prediction"):
        raise _invalid("instrument_type", f"must be spot, perp or prediction, was {instrument_type!r}")
    if symbol not in market.by_symbol:
        raise ApiError(404, f"unknown symbol {asked!r}: no venue streams it", code="NOT_FOUND")
    now_ns = time.time_ns()
    nbbo = market.nbbo(symbol)
    venues: dict[str, Any] = {}
    for v in nbbo.venues if nbbo else ():
        venues[v.venue] = {
            "bid": px(v.bid_px_1e9) if v.bid_px_1e9 else None,
            "ask": px(v.ask_px_1e9) if v.ask_px_1e9 else None,
            "bid_size": qty(v.bid_qty_1e8),
            "ask_size": qty(v.ask_qty_1e8),
            "age_ms": max(0, (now_ns - v.ts_recv_ns) // 1_000_000),
        }
    bids, asks = market.consolidated(symbol, depth)
    book = {
        "bids": [[px(p), qty(q)] for p, q, _ in bids],
        "asks": [[px(p), qty(q)] for p, q, _ in asks],
        "venues": {"bids": [v for _, _, v in bids], "asks": [v for _, _, v in asks]},
    }
    if nbbo is None or not nbbo.bid_px_1e9 or not nbbo.ask_px_1e9:
        top: dict[str, Any] = {"bid": None, "ask": None, "mid": None, "spread_bps": None}
        if nbbo is not None:
            top["bid"] = px(nbbo.bid_px_1e9) if nbbo.bid_px_1e9 else None
            top["ask"] = px(nbbo.ask_px_1e9) if nbbo.ask_px_1e9 else None
        source = "unavailable" if nbbo is None else "edge_nbbo"
    else:
        mid_1e9 = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
        top = {
            "bid": px(nbbo.bid_px_1e9),
            "ask": px(nbbo.ask_px_1e9),
            "mid": px(mid_1e9),
            "spread_bps": (nbbo.ask_px_1e9 - nbbo.bid_px_1e9) * 10_000 / mid_1e9,
            "bid_size": qty(nbbo.bid_qty_1e8),
            "ask_size": qty(nbbo.ask_qty_1e8),
            "bid_venue": nbbo.bid_venue,
            "ask_venue": nbbo.ask_venue,
        }
        source = "edge_nbbo"
    kind = "prediction" if any(v in PREDICTION_VENUES for v in market.by_symbol[symbol]) else (
        "perp" if symbol.endswith(PERP_SUFFIX) else "spot")
    return {"symbol": asked, "instrument_type": kind, "nbbo": top, "venues": venues, "book": book, "source": source}


@router.get("/quotes/{symbol:path}")
async def quote(
    symbol: str,
    state: State,
    depth: Annotated[int, Query(ge=1, le=100)] = 10,
    nowait: bool = False,
    instrument_type: str | None = None,
) -> dict[str, Any]:
    return quote_payload(state, symbol, depth, instrument_type)


def quote_or_error(state: ApiState, symbol: str, depth: int, instrument_type: str | None = None) -> dict[str, Any]:
    """One row of a multi-symbol answer: the Quote, or {symbol, error} (one bad symbol never fails
    the batch)."""
    try:
        return quote_payload(state, symbol, depth, instrument_type)
    except ApiError as exc:
        return {"symbol": symbol, "error": exc.message}


@router.get("/quotes")
async def quotes(symbols: str, state: State) -> dict[str, Any]:
    # The SDK joins %-encoded symbols with a literal comma: split only after decoding.
    rows = [quote_or_error(state, s, 10) for s in (p.strip() for p in symbols.split(",")) if s]
    return {"quotes": rows, "count": len(rows)}


MAX_BATCH_SYMBOLS = 2000


@router.post("/quotes_batch")
async def quotes_batch(request: Request, state: State) -> dict[str, Any]:
    """{symbols[<=2000], depth 1..100, nowait, concurrency 1..256, instrument_type?}. Quotes are read
    from the in-memory books, so `nowait` and `concurrency` are accepted and change nothing."""
    started_ns = time.monotonic_ns()
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object like {\"symbols\": [\"BTC-USDT\"]}", code="BAD_REQUEST")
    symbols, depth = body.get("symbols"), body.get("depth", 10)
    if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols) or len(symbols) > MAX_BATCH_SYMBOLS:
        raise _invalid("symbols", f"must be a list of at most {MAX_BATCH_SYMBOLS} strings")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= 100:
        raise _invalid("depth", f"must be an integer 1..100, was {depth!r}")
    concurrency = body.get("concurrency", 64)
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
        raise _invalid("concurrency", f"must be an integer 1..256, was {concurrency!r}")
    instrument_type = body.get("instrument_type")
    if instrument_type is not None and instrument_type not in ("spot", "perp", "prediction"):
        raise _invalid("instrument_type", f"must be spot, perp or prediction, was {instrument_type!r}")
    rows = [quote_or_error(state, s, depth, instrument_type) for s in symbols]
    return {"quotes": rows, "count": len(rows), "elapsed_ms": (time.monotonic_ns() - started_ns) // 1_000_000}


def _invalid(name: str, message: str) -> ApiError:
    return ApiError(422, f"{name} {message}", details=[{"field": name, "message": message}])


@router.get("/edges")
async def edges(state: State) -> dict[str, Any]:
    """One row per edge. A venue whose perps stream on their own socket (Binance USD-M, Bybit
    linear) has a spot edge and a perp edge under its one venue id; `instrument_types` says what
    each streams (an edge like OKX's streams both). On the three-region supercluster `region`
    is the region the edge runs in and `region_rtt_ns` the last measured round trip from this
    API's region to it (0 when local, null until measured); `rtt_ms` is the edge's own round
    trip plus that. One region: `region` "local"."""
    market = state.market
    now_ns = time.time_ns()
    here = state.settings.region
    regions = RegionLatency(market, here) if here else None

    def edge_of(venue: str, symbol: str) -> tuple[str, str]:
        kind = instrument_type_of(venue, symbol)
        return (venue, kind) if (venue, kind) in market.venue_state else (venue, "")

    out = []
    keys = sorted(set(market.venue_state) | {edge_of(v, s) for v, s in market.books})
    for key in keys:
        venue, instrument_type = key
        status_event = market.venue_state.get(key)
        books = [b for (v, s), b in market.books.items() if edge_of(v, s) == key]
        live = [b for b in books if b.usable]
        if status_event is None or status_event.state in ("down", "connecting"):
            status = "down"
        elif len(live) < len(books) or not books:
            status = "degraded"
        else:
            status = "connected"
        last_ns = market.last_seen_ns.get(venue, 0)
        kinds = sorted({instrument_type_of(venue, b.symbol) for b in books} or ({instrument_type} - {""}))
        region_rtt = regions.measured_ns(venue) if regions is not None else 0
        own_rtt = status_event.rtt_ns if status_event is not None else None
        rtt_ms = None if own_rtt is None and not region_rtt else ((own_rtt or 0) + (region_rtt or 0)) / 1e6
        out.append(
            {
                "edge_id": f"venue-edge-{venue}" + (f"-{instrument_type}" if instrument_type == "perp" else ""),
                "venue": venue,
                "instrument_types": kinds,
                "region": regions.region_of(venue) if regions is not None else "local",
                "region_rtt_ns": region_rtt,
                "status": status,
                "sandbox_capable": True,
                "last_heartbeat_ns": last_ns,
                "age_ms": (now_ns - last_ns) // 1_000_000 if last_ns else None,
                "rtt_ms": rtt_ms,
                "subscribed_symbols": sorted(b.symbol for b in books),
                "symbol_count": len(books),
                "live_symbol_count": len(live),
            }
        )
    return {"edges": out}


@router.get("/pairs/{symbol}/venues")
async def pair_venues(symbol: str, state: State) -> dict[str, Any]:
    books = state.market.by_symbol.get(symbol)
    if not books:
        raise ApiError(404, f"unknown symbol {symbol!r}: no venue lists it", code="NOT_FOUND")
    rows = []
    for venue, book in sorted(books.items()):
        b, a = book.best_bid(), book.best_ask()
        rows.append(
            {
                "venue": venue,
                "status": "live" if book.usable else "stale",
                "stale_reason": book.stale_reason or None,
                "bid": px(b[0]) if b else None,
                "ask": px(a[0]) if a else None,
            }
        )
    return {"symbol": symbol, "venues": rows}


@router.get("/symbols")
async def symbols(state: State) -> list[dict[str, Any]]:
    return [{"symbol": s, "venues": state.market.venues_for(s)} for s in state.market.symbols()]
