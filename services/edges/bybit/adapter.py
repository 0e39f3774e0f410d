"""Bybit v5 public adapters: spot (edge `bybit`) and USDT perps (edge `bybit_linear`), one socket
each; both publish as venue `bybit`, the perps as `BTC-USDT-PERP` (instrument_type perp)."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.bybit import book, parse
from services.edges.venue import BookMode, BookUpdate, Parsed, SeqState, SeqVerdict, VenueAdapter, VenueEndpoints
from services.errors import ConfigError

# Longest first so `BTCUSDT` splits as BTC/USDT, not BTCUS/DT.
_QUOTES = ("USDT", "USDC", "USDE", "EUR", "BTC", "ETH", "USD")
_PERP = "-PERP"
_MAX_ARGS = 10  # spot rejects a subscribe with more than 10 topics


def spot_to_venue(canonical: str) -> str:
    """Map `BTC-USDT` -> `BTCUSDT`."""
    parts = canonical.split("-")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"bybit: canonical spot symbol {canonical!r} is not BASE-QUOTE")
    return parts[0] + parts[1]


def perp_to_venue(canonical: str) -> str:
    """Map `BTC-USDT-PERP` -> `BTCUSDT` (and `BTC-USDC-PERP` -> `BTCPERP`, Bybit's USDC perp name)."""
    parts = canonical.split("-")
    if len(parts) != 3 or parts[2] != "PERP" or not parts[0] or parts[1] not in ("USDT", "USDC"):
        raise ConfigError(f"bybit_linear: canonical symbol {canonical!r} is not BASE-USDT-PERP or BASE-USDC-PERP")
    return parts[0] + ("USDT" if parts[1] == "USDT" else "PERP")


def split_venue(venue_symbol: str) -> tuple[str, str]:
    """Split `BTCUSDT` into (`BTC`, `USDT`) by its quote suffix."""
    for quote in _QUOTES:
        if venue_symbol.endswith(quote) and len(venue_symbol) > len(quote):
            return venue_symbol[: -len(quote)], quote
    raise ConfigError(f"bybit: cannot find the quote currency of {venue_symbol!r}")


def spot_to_canonical(venue_symbol: str) -> str:
    base, quote = split_venue(venue_symbol)
    return f"{base}-{quote}"


def perp_to_canonical(venue_symbol: str) -> str:
    if venue_symbol.endswith("PERP") and len(venue_symbol) > 4:
        return f"{venue_symbol[:-4]}-USDC{_PERP}"
    base, quote = split_venue(venue_symbol)
    return f"{base}-{quote}{_PERP}"


class _BybitPublic(VenueAdapter):
    """`orderbook.50` (snapshot, then 20 ms deltas with absolute sizes) and `publicTrade`."""

    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50
    # Bybit keeps exactly `depth` levels; truncating guards against a level it pushed out unannounced.
    truncate_to_depth: ClassVar[bool] = True
    ping_interval_s: ClassVar[float] = 20.0  # Bybit closes sockets idle for longer
    default_rest_url: ClassVar[str] = "https://api.bybit.com"

    extra_topics: ClassVar[tuple[str, ...]] = ()  # more per-symbol topics (linear: tickers, for funding)

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        topics = (f"orderbook.{self.depth}", "publicTrade", *self.extra_topics)
        args = [f"{t}.{s}" for s in venue_symbols for t in topics]
        return [
            json.dumps({"op": "subscribe", "args": args[i : i + _MAX_ARGS], "req_id": f"sub-{i // _MAX_ARGS}"})
            for i in range(0, len(args), _MAX_ARGS)
        ]

    def ping_frame(self) -> str | None:
        return '{"op":"ping"}'

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)


class BybitSpotAdapter(_BybitPublic):
    name: ClassVar[str] = "bybit"
    instrument_type: ClassVar[str] = "spot"
    default_ws_url: ClassVar[str] = "wss://stream.bybit.com/v5/public/spot"

    def to_venue(self, canonical: str) -> str:
        return spot_to_venue(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return spot_to_canonical(venue_symbol)


class BybitLinearAdapter(_BybitPublic):
    name: ClassVar[str] = "bybit_linear"  # the edge; its books are venue "bybit", instrument_type perp
    venue: ClassVar[str] = "bybit"
    instrument_type: ClassVar[str] = "perp"
    default_ws_url: ClassVar[str] = "wss://stream.bybit.com/v5/public/linear"
    extra_topics: ClassVar[tuple[str, ...]] = ("tickers",)

    def __init__(self, endpoints: VenueEndpoints | None = None) -> None:
        super().__init__(endpoints)
        self._tickers: dict[str, dict[str, str]] = {}  # ticker deltas merge onto the last snapshot

    def on_connect(self) -> None:
        self._tickers.clear()

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw, self._tickers)

    def to_venue(self, canonical: str) -> str:
        return perp_to_venue(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return perp_to_canonical(venue_symbol)


ADAPTERS = [BybitSpotAdapter, BybitLinearAdapter]
