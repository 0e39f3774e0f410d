"""The BitMart spot public adapter (symbols like `BTC_USDT`)."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.bitmart import book, parse
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
)
from services.errors import ConfigError

BOOK_DEPTH = 100  # `increase100`: the venue keeps the top 100 levels per side


def to_venue_symbol(canonical: str) -> str:
    """Map `BTC-USDT` -> `BTC_USDT` (spot only)."""
    parts = canonical.split("-")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"bitmart: canonical symbol {canonical!r} is not a spot BASE-QUOTE")
    return f"{parts[0]}_{parts[1]}"


def to_canonical_symbol(venue_symbol: str) -> str:
    """Map `BTC_USDT` -> `BTC-USDT`."""
    parts = venue_symbol.split("_")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"bitmart: venue symbol {venue_symbol!r} is not BASE_QUOTE")
    return f"{parts[0]}-{parts[1]}"


def depth_topic(venue_symbol: str) -> str:
    return f"{parse.DEPTH_TABLE}:{venue_symbol}"


def trade_topic(venue_symbol: str) -> str:
    return f"{parse.TRADE_TABLE}:{venue_symbol}"


def _op(op: str, topics: list[str]) -> str:
    return json.dumps({"op": op, "args": topics}, separators=(",", ":"))


class BitmartAdapter(VenueAdapter):
    """`spot/depth/increase100` (a snapshot, then updates chained by `version`) and `spot/trade`."""

    name: ClassVar[str] = "bitmart"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = BOOK_DEPTH
    truncate_to_depth: ClassVar[bool] = True  # a 100-level feed: a level pushed past 100 gets no delete
    ping_interval_s: ClassVar[float] = 15.0  # text `ping` (not ping frames); 20 s silent = closed
    default_ws_url: ClassVar[str] = "wss://ws-manager-compress.bitmart.com/api?protocol=1.1"
    default_rest_url: ClassVar[str] = "https://api-cloud.bitmart.com"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        return [_op("subscribe", [t for s in venue_symbols for t in (depth_topic(s), trade_topic(s))])]

    def resync_frames(self, venue_symbol: str) -> list[str]:
        """The docs' remedy for a version jump: `request` the channel's snapshot on the open socket."""
        return [_op("request", [depth_topic(venue_symbol)])]

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


ADAPTERS = [BitmartAdapter]
