"""Pure BitMart spot frame parsing: depth-increase pushes, trades, acks, errors, `pong`.

The production host (`ws-manager-compress`) sends data pushes as raw-deflate binary frames;
text frames are parsed as they are.
"""

from __future__ import annotations

import zlib
from typing import Literal

import msgspec

from services.edges.bitmart.wire import BitmartData, BitmartFrame
from services.edges.book import RawLevel
from services.edges.numbers import PrecisionError, px_1e9, qty_1e8, string_levels
from services.edges.venue import (
    BookUpdate,
    Control,
    Parsed,
    ParseError,
    TradeUpdate,
    VenueNotice,
)

DEPTH_TABLE = "spot/depth/increase100"
TRADE_TABLE = "spot/trade"
_DECODER = msgspec.json.Decoder(BitmartFrame)
_SIDES: dict[str, Literal["buy", "sell"]] = {"buy": "buy", "sell": "sell"}


def inflate(raw: bytes) -> bytes:
    """Undo the raw deflate (no zlib header) of a compressed push; plain bytes pass through."""
    if raw[:1] in (b"{", b"["):
        return raw
    try:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        return inflater.decompress(raw) + inflater.flush()
    except zlib.error as exc:
        raise ParseError(f"bitmart: binary frame is not raw deflate ({exc}): {raw[:60]!r}") from None


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one BitMart spot public frame; raise ParseError for anything malformed.

    Inputs: tests/services/edges/bitmart/payloads (the docs' subscribe ack, depth snapshot,
    trade push; chained updates), raw-deflate binary frames, text `pong`.
    """
    if raw == "pong" or raw == b"pong":
        return [Control("pong")]
    if isinstance(raw, bytes):
        raw = inflate(raw)
    try:
        frame = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"bitmart: undecodable frame ({exc}): {raw[:120]!r}") from None
    if frame.event or frame.errorCode is not None:
        return [_event(frame)]
    if not frame.table or frame.data is None:
        raise ParseError(f"bitmart: frame has neither event nor table+data: {raw[:120]!r}")
    try:
        if frame.table == DEPTH_TABLE:
            return [_book(item) for item in frame.data]
        if frame.table == TRADE_TABLE:
            return [_trade(item) for item in frame.data]
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"bitmart: bad number in {frame.table} push ({exc}): {raw[:120]!r}") from None
    return [Control("unhandled", frame.table)]


def _event(frame: BitmartFrame) -> Control | VenueNotice:
    # a reply carrying errorCode is a refusal; the docs' error replies do not name the topic
    if frame.errorCode is not None or frame.event == "error":
        return VenueNotice(f"bitmart {frame.event} error {frame.errorCode}: {frame.errorMessage or frame.message}")
    return Control(frame.event, frame.topic)


def _levels(rows: list[list[str]] | None, side: str) -> list[RawLevel]:
    return string_levels(rows, "bitmart", side, keep_raw=False)  # no checksum: no wire text needed


def _book(item: BitmartData) -> BookUpdate:
    if not item.symbol:
        raise ParseError("bitmart: depth push without symbol")
    if item.type not in ("snapshot", "update"):
        raise ParseError(f"bitmart: depth push for {item.symbol} has type {item.type!r}")
    if item.version is None:
        raise ParseError(f"bitmart: depth push for {item.symbol} without version")
    return BookUpdate(
        symbol=item.symbol,
        snapshot=item.type == "snapshot",
        bids=_levels(item.bids or [], "bids"),  # a side without changes may be left out
        asks=_levels(item.asks or [], "asks"),
        seq=item.version,
        ts_event_ns=item.ms_t * 1_000_000,
    )


def _trade(item: BitmartData) -> TradeUpdate:
    if not item.symbol:
        raise ParseError("bitmart: trade push without symbol")
    price, qty = px_1e9(item.price), qty_1e8(item.size)
    if price <= 0 or qty <= 0:
        raise ParseError(f"bitmart: trade price {item.price!r} / size {item.size!r} for {item.symbol} is not positive")
    return TradeUpdate(item.symbol, price, qty, _SIDES.get(item.side, "unknown"), "", item.ms_t * 1_000_000)
