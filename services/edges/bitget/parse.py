"""Pure Bitget frame parsing (v2, and the legacy v1 shape, which differs only in trades)."""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges.bitget.wire import BitgetData, BitgetFrame, BitgetItem
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

_DECODER = msgspec.json.Decoder(BitgetFrame)
_BOOK_CHANNELS = frozenset({"books", "books1", "books5", "books15"})
_SIDES: dict[str, Literal["buy", "sell"]] = {"buy": "buy", "sell": "sell"}


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one Bitget public frame; raise ParseError for anything malformed.

    Inputs: fixtures bitget/ws_v2_books_A2ZUSDT_snapshot_update.jsonl, ws_v2_books_seq_pseq_examples.jsonl,
    ws_v1_spot_books_EOSUSDT.jsonl, ws_v1_mix_books_UNIUSDT.jsonl, ws_v1_spot_trades.jsonl; text `pong`.
    """
    if raw == "pong" or raw == b"pong":
        return [Control("pong")]
    try:
        frame = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"bitget: undecodable frame ({exc}): {raw[:120]!r}") from None
    if frame.event is not None:
        return [_event(frame)]
    if frame.arg is None or frame.data is None:
        raise ParseError(f"bitget: frame has neither event nor arg+data: {raw[:120]!r}")
    channel, inst = frame.arg.channel, frame.arg.instId
    if not inst:
        raise ParseError(f"bitget: {channel} push without instId")
    try:
        if channel in _BOOK_CHANNELS:
            return [_book(inst, frame.action, item) for item in frame.data]
        if channel == "trade":
            if frame.action == "snapshot":
                # the recent-trades backlog sent on subscribe: history, not new prints
                return [Control("trade_backlog", f"{inst}: {len(frame.data)} trades")]
            return [_trade(inst, item) for item in frame.data]
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"bitget: bad number in {channel} push ({exc}): {raw[:120]!r}") from None
    return [Control("unhandled", channel)]


def _event(frame: BitgetFrame) -> Control | VenueNotice:
    inst = frame.arg.instId if frame.arg else ""
    if frame.event == "error":
        return VenueNotice(f"bitget error {frame.code}: {frame.msg}", inst or None)
    detail = f"{frame.arg.instType}:{frame.arg.channel}:{inst}" if frame.arg else frame.msg
    return Control(frame.event or "event", detail)


def _levels(rows: list[list[str]] | None, side: str) -> list[RawLevel]:
    return string_levels(rows, "bitget", side)


def _book(inst: str, action: str | None, item: BitgetItem) -> BookUpdate:
    if not isinstance(item, BitgetData):
        raise ParseError(f"bitget: book data item for {inst} is an array: {item!r}")
    if action != "snapshot" and action != "update":
        raise ParseError(f"bitget: book push for {inst} has action {action!r}")
    return BookUpdate(
        symbol=inst,
        snapshot=action == "snapshot",
        bids=_levels(item.bids, "bids"),
        asks=_levels(item.asks, "asks"),
        seq=item.seq,
        prev_seq=item.pseq,
        checksum=item.checksum,
        ts_event_ns=int(item.ts) * 1_000_000,
    )


def _trade(inst: str, item: BitgetItem) -> TradeUpdate:
    if isinstance(item, BitgetData):  # v2 {ts, price, size, side, tradeId}
        ts, px, sz, side, trade_id = item.ts, item.price, item.size, item.side, item.tradeId
    elif len(item) >= 4:  # v1 [ts, px, sz, side]
        ts, px, sz, side = item[:4]
        trade_id = ""
    else:
        raise ParseError(f"bitget: trade item for {inst} is too short: {item!r}")
    price, qty = px_1e9(px), qty_1e8(sz)
    if price <= 0 or qty <= 0:
        raise ParseError(f"bitget: trade px {px!r} / size {sz!r} for {inst} is not positive")
    return TradeUpdate(inst, price, qty, _SIDES.get(side, "unknown"), trade_id, int(ts) * 1_000_000)
