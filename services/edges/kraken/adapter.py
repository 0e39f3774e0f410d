"""Kraken spot WebSocket v2 ("kraken"): book depth 10 + CRC32 checksum, trades, instrument precisions.

Kraken has no sequence numbers: the checksum after every snapshot and update is the only gap
detector, and it needs each pair's price/qty precision. Precisions come from the settings table,
are refreshed by the `instrument` channel, and as a last resort are read off a snapshot's text.
"""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.book import L2Book
from services.edges.kraken import book, parse
from services.edges.kraken.config import KrakenConfig
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
    VenueEndpoints,
)


class KrakenAdapter(VenueAdapter):
    name: ClassVar[str] = "kraken"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 10  # the checksum covers 10 levels; Kraken sends no deletes below depth
    truncate_to_depth: ClassVar[bool] = True
    keep_raw: ClassVar[bool] = False  # the checksum is rebuilt from the integers at the pair's precision
    ping_interval_s: ClassVar[float] = 30.0
    default_ws_url: ClassVar[str] = "wss://ws.kraken.com/v2"
    default_rest_url: ClassVar[str] = "https://api.kraken.com"

    def __init__(self, endpoints: VenueEndpoints | None = None, config: KrakenConfig | None = None) -> None:
        super().__init__(endpoints)
        self.config = config or KrakenConfig()
        self._precision: dict[str, tuple[int, int]] = dict(self.config.precisions)
        self._inferred: dict[str, tuple[int, int]] = {}

    # --- connection -------------------------------------------------------------------------
    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        frames: list[dict[str, object]] = []
        if self.config.subscribe_instrument:
            frames.append({"method": "subscribe", "params": {"channel": "instrument", "snapshot": True}})
        frames.append(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": venue_symbols, "depth": self.depth, "snapshot": True},
            }
        )
        if self.config.subscribe_trades:
            # No trade snapshot: the last 50 trades would be replayed as new on every reconnect.
            frames.append(
                {"method": "subscribe", "params": {"channel": "trade", "symbol": venue_symbols, "snapshot": False}}
            )
        return [json.dumps({**f, "req_id": i}, separators=(",", ":")) for i, f in enumerate(frames, 1)]

    def ping_frame(self) -> str | None:
        return '{"method":"ping"}'

    def resync_frames(self, venue_symbol: str) -> list[str]:
        """Unsubscribe and resubscribe one book: Kraken answers with a fresh snapshot."""
        params = {"channel": "book", "symbol": [venue_symbol], "depth": self.depth}
        return [
            json.dumps({"method": "unsubscribe", "params": params}, separators=(",", ":")),
            json.dumps({"method": "subscribe", "params": {**params, "snapshot": True}}, separators=(",", ":")),
        ]

    # --- symbols ----------------------------------------------------------------------------
    def to_venue(self, canonical: str) -> str:
        parts = canonical.split("-")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{canonical!r} is not a Kraken spot symbol like BTC-USD")
        return "/".join(parts)

    def to_canonical(self, venue_symbol: str) -> str:
        parts = venue_symbol.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{venue_symbol!r} is not a Kraken v2 pair like BTC/USD")
        return "-".join(parts)

    # --- frames -----------------------------------------------------------------------------
    def parse(self, raw: str | bytes) -> list[Parsed]:
        out: list[Parsed] = []
        for item in parse.parse_frame(raw):
            if isinstance(item, parse.PairPrecision):
                self._precision[item.symbol] = (item.price_precision, item.qty_precision)
                continue
            if isinstance(item, BookUpdate) and item.snapshot and item.symbol not in self._precision:
                self._inferred[item.symbol] = book.infer_precision(item)
            out.append(item)
        return out

    def precision(self, venue_symbol: str) -> tuple[int, int] | None:
        """Return (price, qty) precision used for the checksum, or None if unknown."""
        return self._precision.get(venue_symbol) or self._inferred.get(venue_symbol)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)

    def checksum_ok(self, l2: L2Book, update: BookUpdate) -> bool:
        if update.checksum is None:
            return True  # v2 frames always carry one (parse enforces it); v1 snapshots have none
        prec = self.precision(update.symbol)
        if prec is None:
            return False  # cannot prove the book right: resync rather than serve it
        n = book.CHECKSUM_LEVELS
        return book.checksum(l2.asks(n), l2.bids(n), prec[0], prec[1]) == update.checksum


ADAPTERS = [KrakenAdapter]
