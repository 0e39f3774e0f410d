"""The Bitget v2 public adapter for spot (instType SPOT, symbols like `BTCUSDT`)."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.bitget import book, parse
from services.edges.book import L2Book
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
)
from services.errors import ConfigError

INST_TYPE = "SPOT"
# Longest first so BTCUSDT splits as BTC/USDT, not BTCUSD/T.
_QUOTES = ("USDT", "USDC", "USDE", "EUR", "BTC", "ETH", "BGB")


def to_venue_symbol(canonical: str) -> str:
    """Map `BTC-USDT` -> `BTCUSDT` (spot only)."""
    parts = canonical.split("-")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"bitget: canonical symbol {canonical!r} is not a spot BASE-QUOTE")
    return parts[0] + parts[1]


def to_canonical_symbol(venue_symbol: str) -> str:
    """Map `BTCUSDT` -> `BTC-USDT` by its known quote currency."""
    for quote in _QUOTES:
        if venue_symbol.endswith(quote) and len(venue_symbol) > len(quote):
            return f"{venue_symbol[: -len(quote)]}-{quote}"
    raise ConfigError(f"bitget: venue symbol {venue_symbol!r} has no known quote currency")


class BitgetAdapter(VenueAdapter):
    """Bitget `books` (full depth: snapshot then updates) and `trade`, spot."""

    name: ClassVar[str] = "bitget"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50
    keep_raw: ClassVar[bool] = True  # the CRC32 is over the exact wire strings
    ping_interval_s: ClassVar[float] = 25.0  # text `ping` every 30 s at most; WS pings do not count
    default_ws_url: ClassVar[str] = "wss://ws.bitget.com/v2/ws/public"
    default_rest_url: ClassVar[str] = "https://api.bitget.com"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        args = [{"instType": INST_TYPE, "channel": ch, "instId": s} for s in venue_symbols for ch in ("books", "trade")]
        return [json.dumps({"op": "subscribe", "args": args}, separators=(",", ":"))]

    def ping_frame(self) -> str | None:
        return "ping"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return to_canonical_symbol(venue_symbol)

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)

    def checksum_ok(self, book_: L2Book, update: BookUpdate) -> bool:
        return book.checksum_ok(book_, update)


ADAPTERS = [BitgetAdapter]
