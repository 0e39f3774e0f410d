"""GET /v1/fair_price and /v1/fair_price/{underlying} (api_contract.md §4.4) and the rows of the
`fair_price[:underlying]` WebSocket channel: a depth-weighted fair price per underlying, from every
usable venue book the API holds.

Method (`impact_mid`): merge the bids and the asks of every spot book of the underlying quoted in
dollars (USD, USDT, USDC: stablecoins taken at par), then take the mean of the VWAP of selling and
the VWAP of buying the same reference size across that merged depth. The size is what
`FAIR_NOTIONAL_USD_1E9` buys at the best bid/ask midpoint, capped at the thinner side's depth. Unlike
the NBBO mid, one thin or skewed top level cannot move it much. Integer math throughout; perps
and prediction contracts are left out (their price is not the underlying's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.api.errors import ApiError
from services.api.state import ApiState, get_state

router = APIRouter(prefix="/v1", tags=["market"])
State = Annotated[ApiState, Depends(get_state)]

DOLLAR_QUOTES = ("USD", "USDT", "USDC")
FAIR_NOTIONAL_USD_1E9 = 100_000 * 10**9  # the reference size: $100k of the underlying
MAX_LEVELS = 1_000  # per venue book and side


class FairPrice(BaseModel):
    underlying: str
    fair_price_1e9: int
    mid_1e9: int
    reference_qty_1e8: int
    buy_vwap_1e9: int
    sell_vwap_1e9: int
    venues_used: list[str]
    symbols_used: list[str]
    method: str
    ts_ns: int


class FairPrices(BaseModel):
    fair_prices: list[FairPrice]


def _underlying_of(symbol: str) -> str | None:
    parts = symbol.split("-")
    if len(parts) == 2 and parts[1] in DOLLAR_QUOTES and parts[0].isalnum():
        return parts[0]
    return None


def _vwap_1e9(levels: list[tuple[int, int]], qty_1e8: int) -> int:
    """VWAP of taking `qty_1e8` from `levels` (best first; the caller made sure they hold it)."""
    left, cost = qty_1e8, 0
    for px_1e9, q in levels:
        take = min(left, q)
        cost += px_1e9 * take
        left -= take
        if not left:
            break
    return cost // qty_1e8


def fair_price(state: ApiState, underlying: str) -> dict[str, Any] | None:
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    venues: set[str] = set()
    symbols: set[str] = set()
    ts_ns = 0
    for symbol, books in state.market.by_symbol.items():
        if _underlying_of(symbol) != underlying:
            continue
        for venue, book in books.items():
            if not book.usable:
                continue
            b, a = book.top(MAX_LEVELS)
            if not b or not a:
                continue
            bids.extend(b)
            asks.extend(a)
            venues.add(venue)
            symbols.add(symbol)
            ts_ns = max(ts_ns, book.last_update_ns)
    if not bids or not asks:
        return None
    bids.sort(key=lambda lv: -lv[0])
    asks.sort()
    mid_1e9 = (bids[0][0] + asks[0][0]) // 2
    reference = min(FAIR_NOTIONAL_USD_1E9 * 10**8 // mid_1e9, sum(q for _, q in bids), sum(q for _, q in asks))
    if reference <= 0:
        return None
    buy, sell = _vwap_1e9(asks, reference), _vwap_1e9(bids, reference)
    return {
        "underlying": underlying,
        "fair_price_1e9": (buy + sell) // 2,
        "mid_1e9": mid_1e9,
        "reference_qty_1e8": reference,
        "buy_vwap_1e9": buy,
        "sell_vwap_1e9": sell,
        "venues_used": sorted(venues),
        "symbols_used": sorted(symbols),
        "method": "impact_mid",
        "ts_ns": ts_ns,
    }


def underlyings(state: ApiState) -> list[str]:
    """Every underlying with a dollar-quoted spot book (usable or not)."""
    return sorted({u for s in state.market.by_symbol if (u := _underlying_of(s)) is not None})


@router.get("/fair_price", response_model=FairPrices)
async def fair_prices(state: State, underlying: str | None = None) -> dict[str, Any]:
    names = underlyings(state)
    rows = [row for name in names if underlying in (None, name) and (row := fair_price(state, name)) is not None]
    return {"fair_prices": rows}


@router.get("/fair_price/{underlying}", response_model=FairPrice)
async def one_fair_price(underlying: str, state: State) -> dict[str, Any]:
    row = fair_price(state, underlying.upper())
    if row is None:
        raise ApiError(404, f"no usable dollar-quoted book for underlying {underlying!r}", code="NOT_FOUND",
                       details=[{"field": "underlying", "message": "no usable book"}])
    return row
