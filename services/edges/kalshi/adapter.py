"""The Kalshi WebSocket v2 adapter: one `orderbook_delta` subscription per market, plus `trade`
and `market_lifecycle_v2` (markets listed and resolved)."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.book import L2Book
from services.edges.kalshi import book, parse
from services.edges.venue import BookMode, BookUpdate, Parsed, SeqState, SeqVerdict, VenueAdapter
from services.errors import ConfigError

YES = ":YES"
NO = ":NO"


def to_venue_symbol(canonical: str) -> str:
    """Map `KXHIGHNY-26JUN24-T82:YES` (or `:NO`) -> `KXHIGHNY-26JUN24-T82`."""
    for leg in (YES, NO):
        if canonical.endswith(leg) and len(canonical) > len(leg):
            return canonical[: -len(leg)]
    raise ConfigError(f"kalshi: canonical symbol {canonical!r} is not <TICKER>:YES or <TICKER>:NO")


def to_canonical_symbol(venue_symbol: str) -> str:
    """Map a market ticker to its YES leg; `derive_books` adds the NO leg."""
    return venue_symbol + YES


class KalshiAdapter(VenueAdapter):
    """`orderbook_snapshot` then `orderbook_delta` (signed increments) per market, and `trade`.

    The server pings at the WebSocket protocol level (every 10 s); the client library answers,
    so there is no application keepalive.
    """

    name: ClassVar[str] = "kalshi"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 100  # Kalshi streams the full book: at most 99 penny levels per leg
    default_ws_url: ClassVar[str] = "wss://api.elections.kalshi.com/trade-api/ws/v2"
    default_rest_url: ClassVar[str] = "https://api.elections.kalshi.com/trade-api/v2"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        tickers = list(dict.fromkeys(venue_symbols))  # :YES and :NO share one market
        # One market per command: each book gets its own sid, so `seq` continuity is per book.
        frames = [
            _command(i, {"channels": ["orderbook_delta"], "market_tickers": [t]}) for i, t in enumerate(tickers, 1)
        ]
        if tickers:
            frames.append(_command(len(tickers) + 1, {"channels": ["trade"], "market_tickers": tickers}))
            # Every market's listing and settlement (the channel takes no market filter).
            frames.append(_command(len(tickers) + 2, {"channels": ["market_lifecycle_v2"]}))
        return frames

    def to_venue(self, canonical: str) -> str:
        return to_venue_symbol(canonical)

    def to_canonical(self, venue_symbol: str) -> str:
        return to_canonical_symbol(venue_symbol)

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)

    def derive_books(
        self, venue_symbol: str, book_: L2Book, depth: int
    ) -> list[tuple[str, list[tuple[int, int]], list[tuple[int, int]]]]:
        yes_bids, yes_asks = book_.bids(depth), book_.asks(depth)
        no_bids, no_asks = book.mirror(yes_bids, yes_asks)
        return [(venue_symbol + YES, yes_bids, yes_asks), (venue_symbol + NO, no_bids, no_asks)]


def _command(cmd_id: int, params: dict[str, list[str]]) -> str:
    return json.dumps({"id": cmd_id, "cmd": "subscribe", "params": params}, separators=(",", ":"))


ADAPTERS = [KalshiAdapter]
