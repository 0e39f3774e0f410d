"""Pure Crypto.com Exchange v1 market-frame parsing."""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges.book import RawLevel
from services.edges.cryptocom.wire import CdcData, CdcFrame
from services.edges.numbers import PrecisionError, px_1e9, qty_1e8, string_levels
from services.edges.venue import (
    BookUpdate,
    Control,
    Parsed,
    ParseError,
    Reply,
    TradeUpdate,
    VenueNotice,
)

_DECODER = msgspec.json.Decoder(CdcFrame)
_SIDES: dict[str, Literal["buy", "sell"]] = {"BUY": "buy", "SELL": "sell", "buy": "buy", "sell": "sell"}


def heartbeat_reply(heartbeat_id: int) -> str:
    """Return the frame answering `public/heartbeat` (the socket is closed without it)."""
    return f'{{"id":{heartbeat_id},"method":"public/respond-heartbeat"}}'


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one market-socket frame; raise ParseError for anything malformed.

    Input: fixture cryptocom/ws_market_frames_2026-09-22.jsonl (ack, book snapshot, book.update,
    idle delta, heartbeat, errors, mark/index/funding pushes).
    """
    try:
        frame = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"cryptocom: undecodable frame ({exc}): {raw[:120]!r}") from None
    if frame.method == "public/heartbeat":
        return [Reply(heartbeat_reply(frame.id))]
    if frame.code != 0:
        return [VenueNotice(f"cryptocom error {frame.code}: {frame.message}", _instrument(frame.channel))]
    if not frame.method:
        raise ParseError(f"cryptocom: frame without method: {raw[:120]!r}")
    result = frame.result
    if result is None:  # subscribe/unsubscribe ack, respond-heartbeat echo...
        return [Control(frame.method, frame.channel)]
    inst, channel = result.instrument_name, result.channel
    if not inst:
        raise ParseError(f"cryptocom: {channel} push without instrument_name")
    try:
        if channel == "book":
            return [_snapshot(inst, item) for item in result.data]
        if channel == "book.update":
            return [_delta(inst, item) for item in result.data]
        if channel == "trade":
            return [_trade(inst, item) for item in result.data]
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"cryptocom: bad number in {channel} push ({exc}): {raw[:120]!r}") from None
    return [Control("unhandled", channel)]


def _instrument(channel: str) -> str | None:
    # "book.NOPEUSD-PERP.50" -> "NOPEUSD-PERP"
    parts = channel.split(".")
    return parts[1] if len(parts) >= 2 else None


def _levels(rows: list[list[str]] | None, side: str) -> list[RawLevel]:
    return string_levels(rows, "cryptocom", side, keep_raw=False)  # cs is unpublished: no checksum text


def _snapshot(inst: str, item: CdcData) -> BookUpdate:
    if item.u is None:
        raise ParseError(f"cryptocom: book snapshot for {inst} without u")
    return BookUpdate(
        symbol=inst,
        snapshot=True,
        bids=_levels(item.bids, "bids"),
        asks=_levels(item.asks, "asks"),
        seq=item.u,
        ts_event_ns=item.t * 1_000_000,
    )


def _delta(inst: str, item: CdcData) -> BookUpdate:
    if item.update is None or item.u is None or item.pu is None:
        raise ParseError(f"cryptocom: book.update for {inst} lacks update/u/pu")
    return BookUpdate(
        symbol=inst,
        snapshot=False,
        bids=_levels(item.update.bids, "bids"),
        asks=_levels(item.update.asks, "asks"),
        seq=item.u,
        prev_seq=item.pu,
        ts_event_ns=item.t * 1_000_000,
    )


def _trade(inst: str, item: CdcData) -> TradeUpdate:
    price, qty = px_1e9(item.p), qty_1e8(item.q)
    if price <= 0 or qty <= 0:
        raise ParseError(f"cryptocom: trade p {item.p!r} / q {item.q!r} for {inst} is not positive")
    return TradeUpdate(item.i or inst, price, qty, _SIDES.get(item.s, "unknown"), item.d, item.t * 1_000_000)
