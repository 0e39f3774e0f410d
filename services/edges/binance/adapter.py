"""Binance spot (edge "binance") and USD-M futures (edge "binance_usdm") market-data adapters; both
publish as venue "binance", the perps as `BTC-USDT-PERP` (instrument_type perp).

Both bootstrap the same way: buffer the diff stream, fetch a REST depth snapshot, replay.
They differ in endpoints, the sequence rule, the trade stream and perp symbol names.
"""

from __future__ import annotations

import json
from typing import ClassVar

from services.edges.binance import book, parse
from services.edges.venue import BookMode, BookUpdate, Parsed, SeqState, SeqVerdict, VenueAdapter

# Quote assets, longest first so `BTCFDUSD` is not read as `BTCF` + `DUSD`.
SPOT_QUOTES = ("FDUSD", "USDT", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL", "JPY")
PERP_QUOTES = ("USDT", "USDC")
MAX_PARAMS_PER_FRAME = 200  # well under 1024 streams/connection; keeps each request small


class BinanceBase(VenueAdapter):
    """What spot and USD-M share: REST bootstrap, subscribe frames, frame parsing."""

    book_mode: ClassVar[BookMode] = BookMode.REST_SNAPSHOT
    depth: ClassVar[int] = 1000  # the REST snapshot's `limit`; the diff stream covers every level
    depth_stream: ClassVar[str] = "depth@100ms"
    trade_stream: ClassVar[str]
    snapshot_path: ClassVar[str]
    # USD-M serves depth on /public/ws and trades on /market/ws: ask for trades in their own
    # request so a refusal there cannot take the depth subscription down with it.
    separate_trade_request: ClassVar[bool] = False
    extra_streams: ClassVar[tuple[str, ...]] = ()  # asked for with the trades (USD-M: funding)

    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]:
        lower = [s.lower() for s in venue_symbols]
        depth = [f"{s}@{self.depth_stream}" for s in lower]
        trades = [f"{s}@{stream}" for s in lower for stream in (self.trade_stream, *self.extra_streams)]
        groups = [depth, trades] if self.separate_trade_request else [depth + trades]
        frames: list[str] = []
        for params in groups:
            for i in range(0, len(params), MAX_PARAMS_PER_FRAME):
                chunk = params[i : i + MAX_PARAMS_PER_FRAME]
                frames.append(json.dumps({"method": "SUBSCRIBE", "params": chunk, "id": len(frames) + 1}))
        return frames

    def parse(self, raw: str | bytes) -> list[Parsed]:
        return parse.parse_frame(raw)

    def snapshot_url(self, venue_symbol: str) -> str:
        return f"{self.endpoints.rest_url}{self.snapshot_path}?symbol={venue_symbol}&limit={self.depth}"

    def parse_snapshot(self, body: bytes, venue_symbol: str) -> BookUpdate:
        return parse.depth_snapshot(body, venue_symbol)


class BinanceSpot(BinanceBase):
    name: ClassVar[str] = "binance"
    instrument_type: ClassVar[str] = "spot"
    default_ws_url: ClassVar[str] = "wss://stream.binance.com:9443/ws"
    default_rest_url: ClassVar[str] = "https://api.binance.com"
    trade_stream: ClassVar[str] = "trade"
    snapshot_path: ClassVar[str] = "/api/v3/depth"

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.spot_sequence(state, update)

    def to_venue(self, canonical: str) -> str:
        parts = canonical.split("-")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{canonical!r} is not a spot symbol like BTC-USDT")
        return "".join(parts)

    def to_canonical(self, venue_symbol: str) -> str:
        for quote in SPOT_QUOTES:
            if venue_symbol.endswith(quote) and len(venue_symbol) > len(quote):
                return f"{venue_symbol[: -len(quote)]}-{quote}"
        raise ValueError(f"unknown Binance spot quote asset in {venue_symbol!r}")


class BinanceUsdm(BinanceBase):
    name: ClassVar[str] = "binance_usdm"  # the edge; its books are venue "binance", instrument_type perp
    venue: ClassVar[str] = "binance"
    instrument_type: ClassVar[str] = "perp"
    default_ws_url: ClassVar[str] = "wss://fstream.binance.com/public/ws"
    default_rest_url: ClassVar[str] = "https://fapi.binance.com"
    trade_stream: ClassVar[str] = "aggTrade"
    snapshot_path: ClassVar[str] = "/fapi/v1/depth"
    separate_trade_request: ClassVar[bool] = True
    extra_streams: ClassVar[tuple[str, ...]] = ("markPrice@1s",)  # mark price + funding rate

    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict:
        return book.usdm_sequence(state, update)

    def to_venue(self, canonical: str) -> str:
        parts = canonical.split("-")
        if len(parts) != 3 or parts[2] != "PERP" or parts[1] not in PERP_QUOTES or not parts[0]:
            raise ValueError(f"{canonical!r} is not a USD-M perp symbol like BTC-USDT-PERP")
        return parts[0] + parts[1]

    def to_canonical(self, venue_symbol: str) -> str:
        for quote in PERP_QUOTES:
            if venue_symbol.endswith(quote) and len(venue_symbol) > len(quote):
                return f"{venue_symbol[: -len(quote)]}-{quote}-PERP"
        # Dated contracts (BTCUSDT_250328) have no canonical name yet.
        raise ValueError(f"{venue_symbol!r} is not a USD-M perpetual")


ADAPTERS = [BinanceSpot, BinanceUsdm]
