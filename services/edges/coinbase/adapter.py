"""Coinbase Advanced Trade ("coinbase"): level2 book, market_trades, heartbeats.

`sequence_num` is per connection, across all channels, so parsing is stateful: the adapter
owns the connection counter, and the runtime's `on_connect()` resets it for every new socket.
A backwards jump is also read as a new run, never as continuity.
"""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.coinbase import book, parse
from services.edges.coinbase.config import CoinbaseConfig
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Parsed,
    SeqState,
    SeqVerdict,
    VenueAdapter,
    VenueEndpoints,
)

_PERP_SUFFIX = "-PERP-INTX"  # Coinbase International perps, USDC-settled


class CoinbaseAdapter(VenueAdapter):
    name: ClassVar[str] = "coinbase"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50  # levels published; the level2 stream maintains the full book
    ping_interval_s: ClassVar[float] = 30.0  # no app ping: the heartbeats channel keeps it open
    default_ws_url: ClassVar[str] = "wss://advanced-trade-ws.coinbase.com"
    default_rest_url: ClassVar[str] = "https://api.coinbase.com"

    def __init__(self, endpoints: VenueEndpoints | None = None, config: CoinbaseConfig | None = None) -> None:
        super().__init__(endpoints)
        self.config = config or CoinbaseConfig()
        self.connection = book.ConnectionSequence()

    def on_connect(self) -> None:
        """Forget the connection counter: a new socket numbers its messages afresh."""
        self.connection.reset()

    # --- connection -------------------------------------------------------------------------
    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        # One channel per subscribe message; heartbeats first so quiet books keep the socket open.
        frames: list[dict[str, str | list[str]]] = [{"type": "subscribe", "channel": "heartbeats"}]
        frames.append({"type": "subscribe", "product_ids": venue_symbols, "channel": "level2"})
        if self.config.subscribe_trades:
            frames.append({"type": "subscribe", "product_ids": venue_symbols, "channel": "market_trades"})
        return [json.dumps(f, separators=(",", ":")) for f in frames]

    def resync_frames(self, venue_symbol: str) -> list[str]:
        """Unsubscribe and resubscribe one product's level2: a fresh snapshot follows."""
        return [
            json.dumps({"type": kind, "product_ids": [venue_symbol], "channel": "level2"}, separators=(",", ":"))
            for kind in ("unsubscribe", "subscribe")
        ]

    # --- symbols ----------------------------------------------------------------------------
    def to_venue(self, canonical: str) -> str:
        parts = canonical.split("-")
        if len(parts) == 3 and parts[1] == "USDC" and parts[2] == "PERP" and parts[0]:
            return parts[0] + _PERP_SUFFIX
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{canonical!r} is not a Coinbase symbol like BTC-USD or BTC-USDC-PERP")
        return canonical

    def to_canonical(self, venue_symbol: str) -> str:
        if venue_symbol.endswith(_PERP_SUFFIX) and len(venue_symbol) > len(_PERP_SUFFIX):
            return venue_symbol[: -len(_PERP_SUFFIX)] + "-USDC-PERP"
        parts = venue_symbol.split("-")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{venue_symbol!r} is not a Coinbase product id like BTC-USD")
        return venue_symbol

    # --- frames -----------------------------------------------------------------------------
    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw, self.connection, self.config.trade_side_is_maker)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.sequence(state, update)


ADAPTERS = [CoinbaseAdapter]
