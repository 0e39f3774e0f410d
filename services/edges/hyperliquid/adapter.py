"""Hyperliquid perps ("hyperliquid"): l2Book (a full snapshot on every push) and trades.

No deltas, no sequence, no checksum: each push replaces the book, so there is nothing to lose
between pushes. Keepalive is an application ping (the server drops sockets silent for 60 s).
"""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.hyperliquid import parse
from services.edges.venue import BookMode, BookUpdate, Parsed, ParseError, SeqState, SeqVerdict, VenueAdapter

_PERP_SUFFIX = "-USD-PERP"


class HyperliquidAdapter(VenueAdapter):
    name: ClassVar[str] = "hyperliquid"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 20  # l2Book carries at most 20 levels a side
    ping_interval_s: ClassVar[float] = 30.0
    default_ws_url: ClassVar[str] = "wss://api.hyperliquid.xyz/ws"
    default_rest_url: ClassVar[str] = "https://api.hyperliquid.xyz"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        frames = []
        for kind in ("l2Book", "trades", "activeAssetCtx"):  # one subscription per coin and type
            for coin in venue_symbols:
                frames.append({"method": "subscribe", "subscription": {"type": kind, "coin": coin}})
        return [json.dumps(f, separators=(",", ":")) for f in frames]

    def ping_frame(self) -> str | None:
        return '{"method":"ping"}'

    def resync_frames(self, venue_symbol: str) -> list[str]:
        """Resubscribe one coin's l2Book (e.g. after a crossed push); the next push replaces it."""
        sub = {"type": "l2Book", "coin": venue_symbol}
        return [
            json.dumps({"method": method, "subscription": sub}, separators=(",", ":"))
            for method in ("unsubscribe", "subscribe")
        ]

    def to_venue(self, canonical: str) -> str:
        coin = canonical.removesuffix(_PERP_SUFFIX)
        if coin == canonical or not coin or "-" in coin:
            raise ValueError(f"{canonical!r} is not a Hyperliquid perp like BTC-USD-PERP")
        return coin

    def to_canonical(self, venue_symbol: str) -> str:
        # Spot (`@107`, `PURR/USDC`) and HIP-3 (`dex:COIN`) coins are not perps of this venue id.
        if not venue_symbol or any(c in venue_symbol for c in "@/:-"):
            raise ValueError(f"{venue_symbol!r} is not a Hyperliquid perp coin like BTC")
        return venue_symbol + _PERP_SUFFIX

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return SeqVerdict.APPLY  # only snapshots arrive; BookSync never asks about them

    def parse_snapshot(self, body: bytes, venue_symbol: str) -> BookUpdate:
        """Parse a POST /info {"type":"l2Book","coin":...} body (a POST, so there is no snapshot_url)."""
        update = parse.parse_book_body(body)
        if update.symbol != venue_symbol:
            raise ParseError(f"l2Book body is for {update.symbol!r}, not {venue_symbol!r}")
        return update


ADAPTERS = [HyperliquidAdapter]
