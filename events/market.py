"""Market data: per-venue books, trades, NBBO and venue health.

Timestamp chain: `ts_event_ns` (venue clock), `ts_recv_ns` (edge receive), `ts_ns` (publish).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event, Level
from events.venues import LEGACY_VENUES, PERP_SUFFIX


class BookSnapshot(Event, frozen=True, kw_only=True, tag="md.book_snapshot.v1"):
    """A full venue book for one canonical symbol, best level first on each side."""

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    venue_seq: int | None = None
    ts_event_ns: int = 0
    ts_recv_ns: int = 0
    truncate_depth: int = 0  # keep only this many levels per side after applying (0 = all)
    # A fixed cost per order on top of the levels, quote currency x 1e9: an on-chain pool's gas
    # for one swap (its fee is inside the level prices). 0 for an order book.
    order_cost_quote_1e9: int = 0


class BookDeltaBatch(Event, frozen=True, kw_only=True, tag="md.book_delta.v1"):
    """Absolute level changes (qty 0 deletes) applied in order after the previous event."""

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    venue_seq: int | None = None
    ts_event_ns: int = 0
    ts_recv_ns: int = 0
    truncate_depth: int = 0  # venues that send no deletes past their depth (Kraken)


class TradePrinted(Event, frozen=True, kw_only=True, tag="md.trade.v1"):
    venue: str
    symbol: str
    px_1e9: int
    qty_1e8: int
    aggressor: Literal["buy", "sell", "unknown"]
    trade_id: str = ""
    ts_event_ns: int = 0
    ts_recv_ns: int = 0


class VenueBbo(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    bid_px_1e9: int
    bid_qty_1e8: int
    ask_px_1e9: int
    ask_qty_1e8: int
    ts_recv_ns: int


class NbboChanged(Event, frozen=True, kw_only=True, tag="md.nbbo.v1"):
    """Best bid/offer across venues (0 px = side empty), with each venue's own BBO."""

    symbol: str
    bid_px_1e9: int
    bid_qty_1e8: int
    bid_venue: str
    ask_px_1e9: int
    ask_qty_1e8: int
    ask_venue: str
    venues: list[VenueBbo]
    md_seq: int = 0  # the MD stream sequence this NBBO was computed from (audit: refold to it)


VenueState = Literal["connecting", "connected", "resyncing", "stale", "down"]


class VenueStatusChanged(Event, frozen=True, kw_only=True, tag="md.venue_status.v1"):
    """An edge's connection or one of its books changed state (symbol empty = the whole edge).

    A venue may have one edge per instrument type (Binance spot and USD-M perps are different
    sockets): `instrument_type` says which of its books a venue-wide change covers ("" = all,
    as every edge wrote before spot and perps shared a venue id)."""

    venue: str
    state: VenueState
    symbol: str = ""
    reason: str = ""
    integrity_failures: int = 0
    bad_frames: int = 0
    rtt_ns: int | None = None
    subscribed_symbols: list[str] = []
    instrument_type: str = ""  # "spot" | "perp" | "" (every instrument of the venue)


def covers(status: VenueStatusChanged, symbol: str) -> bool:
    """Whether a venue-wide status change of one edge covers the venue's book of `symbol`."""
    if status.symbol:
        return status.symbol == symbol
    kind = "perp" if symbol.endswith(PERP_SUFFIX) else "spot"
    if status.venue in LEGACY_VENUES:  # an old perp edge's own id: only ever its perps
        return kind == "perp"
    return status.instrument_type in ("", kind)


MARKET_EVENTS = (BookSnapshot, BookDeltaBatch, TradePrinted, NbboChanged, VenueStatusChanged)


class MarketListed(Event, frozen=True, kw_only=True, tag="mkt.listed.v1"):
    """A prediction market a venue lists (its edge announces the markets it streams on start).

    `slug` is the market's id in the API (/v1/markets?slug=, /v1/settlement/{slug}): the Kalshi
    ticker, or the Polymarket slug. `outcome_token_ids` are the canonical symbols traded per
    outcome, YES first (Kalshi `<TICKER>:YES`/`:NO`, Polymarket token ids)."""

    venue: str
    slug: str
    question: str
    venue_event_id: str
    outcomes: list[str]
    outcome_token_ids: list[str]
    condition_id: str = ""
    neg_risk: bool = False
    start_ns: int = 0
    end_ns: int = 0
    url: str = ""
    resolution_source: str = ""


class MarketResolved(Event, frozen=True, kw_only=True, tag="mkt.resolved.v1"):
    """A prediction market settled: the winning outcome pays $1, the losing one $0."""

    venue: str
    slug: str
    venue_event_id: str
    winning_outcome: str
    winning_token_id: str
    losing_token_id: str
    outcome_source: str = ""
    ts_event_ns: int = 0


# Market lifecycle (subjects mkt.*, stream MARKETS): not market data, so md.> consumers never see it.
LIFECYCLE_EVENTS = (MarketListed, MarketResolved)


# --- Perpetual funding (subjects md.<venue>.<symbol>.funding, stream MD) ----------------------


class FundingRateUpdated(Event, frozen=True, kw_only=True, tag="md.funding.v1"):
    """A perp venue's current funding rate, from its mark-price/funding stream.

    `rate_1e9` is the signed fraction paid per funding interval x 1e9 (positive: longs pay
    shorts); `interval_ns` is the venue's settlement cadence (8 h Binance/OKX/Bybit, 1 h
    Hyperliquid), so a per-hour rate is `rate_1e9 * 3_600e9 / interval_ns`."""

    venue: str
    symbol: str  # canonical perp symbol (BTC-USDT-PERP)
    rate_1e9: int
    interval_ns: int
    next_funding_ns: int
    mark_px_1e9: int = 0  # 0 = the message carried no mark price
    index_px_1e9: int = 0
    predicted_rate_1e9: int | None = None  # the venue's forecast for the next interval, if it gives one
    open_interest_1e8: int | None = None
    ts_event_ns: int = 0
    ts_recv_ns: int = 0


FUNDING_EVENTS = (FundingRateUpdated,)
