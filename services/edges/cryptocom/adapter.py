"""The Crypto.com Exchange v1 market-data adapter (spot `BTC_USDT`, perps `BTCUSD-PERP`)."""

from __future__ import annotations

import json
import time
from typing import ClassVar

from services.edges.cryptocom import book, parse
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
)
from services.errors import ConfigError

BOOK_DEPTH = 50  # the venue serves 10 or 50
BOOK_UPDATE_FREQUENCY_MS = 10  # 10 or 100
_PERP = "-PERP"


def to_venue_symbol(canonical: str) -> str:
    """Map `BTC-USDT` -> `BTC_USDT` and `BTC-USD-PERP` -> `BTCUSD-PERP` (perps are USD only)."""
    parts = canonical.split("-")
    if len(parts) == 2 and all(parts):
        return f"{parts[0]}_{parts[1]}"
    if len(parts) == 3 and parts[1] == "USD" and parts[2] == "PERP" and parts[0]:
        return f"{parts[0]}USD{_PERP}"
    raise ConfigError(f"cryptocom: canonical symbol {canonical!r} is not BASE-QUOTE or BASE-USD-PERP")


def to_canonical_symbol(venue_symbol: str) -> str:
    """Map `BTC_USDT` -> `BTC-USDT`, `ETHUSD-PERP` -> `ETH-USD-PERP`; other names are kept."""
    if "_" in venue_symbol:
        return venue_symbol.replace("_", "-")
    if venue_symbol.endswith("USD" + _PERP):
        return f"{venue_symbol[: -len('USD' + _PERP)]}-USD{_PERP}"
    return venue_symbol  # dated futures (BTCUSD-261225) and indices have no canonical name


class CryptocomAdapter(VenueAdapter):
    """`book.{instrument}.50` (SNAPSHOT_AND_UPDATE) and `trade.{instrument}` on the market socket."""

    name: ClassVar[str] = "cryptocom"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = BOOK_DEPTH
    truncate_to_depth: ClassVar[bool] = True  # a 50-level feed: levels pushed past 50 get no delete
    keep_raw: ClassVar[bool] = False  # `cs` is not checkable, so raw strings buy nothing
    ping_interval_s: ClassVar[float] = 30.0  # unused: the server sends heartbeats, we answer them
    default_ws_url: ClassVar[str] = "wss://stream.crypto.com/exchange/v1/market"
    default_rest_url: ClassVar[str] = "https://api.crypto.com/exchange/v1"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        channels = [c for s in venue_symbols for c in (f"book.{s}.{BOOK_DEPTH}", f"trade.{s}")]
        params = {
            "channels": channels,
            "book_subscription_type": "SNAPSHOT_AND_UPDATE",
            "book_update_frequency": BOOK_UPDATE_FREQUENCY_MS,
        }
        # the venue wants a nonce in ms; the frame is built at send time, so the clock is read here
        nonce = time.time_ns() // 1_000_000
        return [json.dumps({"id": 1, "method": "subscribe", "params": params, "nonce": nonce}, separators=(",", ":"))]

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return to_canonical_symbol(venue_symbol)

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)


ADAPTERS = [CryptocomAdapter]
