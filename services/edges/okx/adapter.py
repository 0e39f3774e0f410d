"""The OKX v5 public adapter: spot (`BTC-USDT`) and perpetual swaps (`BTC-USDT-SWAP`) on one socket."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.book import L2Book
from services.edges.okx import book, parse
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
    VenueEndpoints,
)
from services.errors import ConfigError

_SWAP = "-SWAP"
_PERP = "-PERP"


def to_venue_symbol(canonical: str) -> str:
    """Map `BTC-USDT` -> `BTC-USDT`, `BTC-USDT-PERP` -> `BTC-USDT-SWAP`."""
    parts = canonical.split("-")
    if len(parts) == 3 and parts[2] == "PERP":
        return f"{parts[0]}-{parts[1]}{_SWAP}"
    if len(parts) == 2 and all(parts):
        return canonical
    raise ConfigError(f"okx: canonical symbol {canonical!r} is not BASE-QUOTE or BASE-QUOTE-PERP")


def to_canonical_symbol(venue_symbol: str) -> str:
    """Map `BTC-USDT-SWAP` -> `BTC-USDT-PERP`; spot is unchanged; dated futures keep OKX's name."""
    if venue_symbol.endswith(_SWAP):
        return venue_symbol[: -len(_SWAP)] + _PERP
    return venue_symbol


def _channels(venue_symbol: str) -> tuple[str, ...]:
    if venue_symbol.endswith(_SWAP):
        return ("books", "trades", "mark-price", "funding-rate")
    return ("books", "trades")


class OkxAdapter(VenueAdapter):
    """OKX `books` (400 levels, snapshot then 100 ms updates) and `trades`."""

    name: ClassVar[str] = "okx"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50
    keep_raw: ClassVar[bool] = True  # the CRC32 is over the exact wire strings
    ping_interval_s: ClassVar[float] = 20.0  # OKX drops a socket silent for 30 s
    default_ws_url: ClassVar[str] = "wss://ws.okx.com:8443/ws/v5/public"
    default_rest_url: ClassVar[str] = "https://www.okx.com"

    def __init__(self, endpoints: VenueEndpoints | None = None) -> None:
        super().__init__(endpoints)
        self._marks: dict[str, int] = {}  # last mark-price per swap, for its funding pushes

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        args = [{"channel": ch, "instId": s} for s in venue_symbols for ch in _channels(s)]
        return [json.dumps({"op": "subscribe", "args": args}, separators=(",", ":"))]

    def ping_frame(self) -> str | None:
        return "ping"

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return to_canonical_symbol(venue_symbol)

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw, self._marks)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)

    def checksum_ok(self, book_: L2Book, update: BookUpdate) -> bool:
        return book.checksum_ok(book_, update)


ADAPTERS = [OkxAdapter]
