"""Market data: per-venue books, trades, NBBO and venue health.

Timestamp chain: `ts_event_ns` (venue clock), `ts_recv_ns` (edge receive), `ts_ns` (publish).
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event, Level


class BookSnapshot(Event, frozen=True, tag="md.book_snapshot.v1"):
    """A full venue book for one canonical symbol, best level first on each side."""

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    venue_seq: int | None = None
    ts_event_ns: int = 0
    ts_recv_ns: int = 0
    truncate_depth: int = 0  # keep only this many levels per side after applying (0 = all)


class BookDeltaBatch(Event, frozen=True, tag="md.book_delta.v1"):
    """Absolute level changes (qty 0 deletes) applied in order after the previous event."""

    venue: str
    symbol: str
    bids: list[Level]
    asks: list[Level]
    venue_seq: int | None = None
    ts_event_ns: int = 0
    ts_recv_ns: int = 0
    truncate_depth: int = 0  # venues that send no deletes past their depth (Kraken)


class TradePrinted(Event, frozen=True, tag="md.trade.v1"):
    venue: str
    symbol: str
    px_1e9: int
    qty_1e8: int
    aggressor: Literal["buy", "sell", "unknown"]
    trade_id: str = ""
    ts_event_ns: int = 0
    ts_recv_ns: int = 0


class VenueBbo(msgspec.Struct, frozen=True):
    venue: str
    bid_px_1e9: int
    bid_qty_1e8: int
    ask_px_1e9: int
    ask_qty_1e8: int
    ts_recv_ns: int


class NbboChanged(Event, frozen=True, tag="md.nbbo.v1"):
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


class VenueStatusChanged(Event, frozen=True, tag="md.venue_status.v1"):
    """An edge's connection or one of its books changed state (symbol empty = whole venue)."""

    venue: str
    state: VenueState
    symbol: str = ""
    reason: str = ""
    integrity_failures: int = 0
    bad_frames: int = 0
    rtt_ns: int | None = None
    subscribed_symbols: list[str] = []


MARKET_EVENTS = (BookSnapshot, BookDeltaBatch, TradePrinted, NbboChanged, VenueStatusChanged)
