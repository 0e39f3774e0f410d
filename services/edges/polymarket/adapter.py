"""The Polymarket CLOB market-channel adapter. Canonical symbol = the token id (one per outcome)."""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.polymarket import parse
from services.edges.venue import BookMode, BookUpdate, Parsed, SeqState, SeqVerdict, VenueAdapter


class PolymarketAdapter(VenueAdapter):
    """`book` snapshots and `price_change` absolute sizes per token; text `PING` keepalive."""

    name: ClassVar[str] = "polymarket"
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50
    ping_interval_s: ClassVar[float] = 10.0  # the server drops sockets silent for longer [verify]
    default_ws_url: ClassVar[str] = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
    default_rest_url: ClassVar[str] = "https://clob.polymarket.com"

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        # custom_feature_enabled adds best_bid_ask, new_market and market_resolved events.
        body = {"assets_ids": list(venue_symbols), "type": "market", "custom_feature_enabled": True}
        return [json.dumps(body, separators=(",", ":"))]

    def ping_frame(self) -> str | None:
        return "PING"

    def to_venue(self, canonical: str) -> str:
        return canonical

    def to_canonical(self, venue_symbol: str) -> str:
        return venue_symbol

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        # No sequence numbers; the book `hash` algorithm is unpublished, so it is ignored.
        return SeqVerdict.APPLY

    # A REST book is available for manual resyncs, though the socket always sends `book` first.
    def snapshot_url(self, venue_symbol: str) -> str:
        return f"{self.endpoints.rest_url}/book?token_id={venue_symbol}"

    def parse_snapshot(self, body: bytes, venue_symbol: str) -> BookUpdate:
        return parse.parse_book_body(body, venue_symbol)


ADAPTERS = [PolymarketAdapter]
