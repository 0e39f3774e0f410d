"""Pure OKX v5 frame parsing: wire text -> BookUpdate / TradeUpdate / Control / VenueNotice."""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges import funding
from services.edges.book import RawLevel
from services.edges.numbers import PrecisionError, ms_to_ns, px_1e9, qty_1e8, string_levels
from services.edges.okx.wire import OkxData, OkxFrame
from services.edges.venue import (
    BookUpdate,
    Control,
    FundingUpdate,
    Parsed,
    ParseError,
    TradeUpdate,
    VenueNotice,
)

_DECODER = msgspec.json.Decoder(OkxFrame)
# Channels whose every push is a full book (no action field).
_SNAPSHOT_ONLY = frozenset({"books5", "bbo-tbt"})
_INCREMENTAL = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
_SIDES: dict[str, Literal["buy", "sell"]] = {"buy": "buy", "sell": "sell"}


def parse_frame(raw: str | bytes, marks: dict[str, int] | None = None) -> list[Parsed]:
    """Parse one OKX public frame; raise ParseError for anything malformed.

    Inputs: fixtures okx/ws_books_*.jsonl, ws_books_snapshot.json, ws_trades.jsonl,
    ws_subscribe_requests.jsonl (acks), and the text keepalive `pong`. `marks` keeps the last
    `mark-price` per swap, which the next `funding-rate` push carries.
    """
    if raw == "pong" or raw == b"pong":
        return [Control("pong")]
    try:
        frame = _DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"okx: undecodable frame ({exc}): {raw[:120]!r}") from None
    if frame.event is not None:
        return [_event(frame)]
    if frame.arg is None or frame.data is None:
        raise ParseError(f"okx: frame has neither event nor arg+data: {raw[:120]!r}")
    channel = frame.arg.channel
    try:
        if channel in _INCREMENTAL or channel in _SNAPSHOT_ONLY:
            return [_book(frame.arg.instId, channel, frame.action, item) for item in frame.data]
        if channel == "trades":
            return [_trade(item) for item in frame.data]
        if channel == "mark-price" and marks is not None:
            marks.update((item.instId, px_1e9(item.markPx)) for item in frame.data if item.instId and item.markPx)
            return [Control("mark-price", frame.arg.instId)]
        if channel == "funding-rate":
            return [_funding(item, marks or {}) for item in frame.data]
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        # int()/scale() on a malformed number: InvalidOperation is an ArithmeticError
        raise ParseError(f"okx: bad number in {channel} push ({exc}): {raw[:120]!r}") from None
    return [Control("unhandled", channel)]


def _event(frame: OkxFrame) -> Control | VenueNotice:
    inst = frame.arg.instId if frame.arg else ""
    if frame.event == "error":
        return VenueNotice(f"okx error {frame.code}: {frame.msg}", inst or None)
    if frame.event in ("subscribe", "unsubscribe"):
        detail = f"{frame.arg.channel}:{inst}" if frame.arg else ""
        return Control(frame.event, detail)
    # notice (service upgrade), channel-conn-count, login...
    return Control(frame.event or "event", f"{frame.code or ''} {frame.msg}".strip())


def _levels(rows: list[list[str]] | None, side: str) -> list[RawLevel]:
    return string_levels(rows, "okx", side)


def _book(inst: str, channel: str, action: str | None, item: OkxData) -> BookUpdate:
    if channel in _SNAPSHOT_ONLY:
        snapshot = True
    elif action == "snapshot" or action == "update":
        snapshot = action == "snapshot"
    else:
        raise ParseError(f"okx: {channel} push for {inst} has action {action!r}")
    if not inst:
        raise ParseError(f"okx: {channel} push without instId")
    return BookUpdate(
        symbol=inst,
        snapshot=snapshot,
        bids=_levels(item.bids, "bids"),
        asks=_levels(item.asks, "asks"),
        seq=item.seqId,
        prev_seq=item.prevSeqId,
        checksum=item.checksum,
        ts_event_ns=int(item.ts) * 1_000_000,
    )


def _funding(item: OkxData, marks: dict[str, int]) -> FundingUpdate:
    """`funding-rate`: `fundingRate` settles at `fundingTime`; `nextFundingRate` (empty unless the
    venue forecasts it) at `nextFundingTime`, one interval later."""
    if not (item.instId and item.fundingRate and item.fundingTime):
        raise ParseError(f"okx: funding-rate push without instId/fundingRate/fundingTime: {item!r}")
    settles_ns = ms_to_ns(item.fundingTime)
    after_ns = ms_to_ns(item.nextFundingTime) if item.nextFundingTime else 0
    return FundingUpdate(
        symbol=item.instId,
        rate_1e9=funding.rate_1e9(item.fundingRate),
        interval_ns=after_ns - settles_ns if after_ns > settles_ns else funding.EIGHT_HOURS_NS,
        next_funding_ns=settles_ns,
        mark_px_1e9=marks.get(item.instId, 0),
        predicted_rate_1e9=funding.rate_1e9(item.nextFundingRate) if item.nextFundingRate else None,
        ts_event_ns=ms_to_ns(item.ts),
    )


def _trade(item: OkxData) -> TradeUpdate:
    if not (item.instId and item.px and item.sz):
        raise ParseError(f"okx: trade without instId/px/sz: {item!r}")
    price, qty = px_1e9(item.px), qty_1e8(item.sz)
    if price <= 0 or qty <= 0:
        raise ParseError(f"okx: trade px {item.px!r} / sz {item.sz!r} is not positive")
    return TradeUpdate(
        symbol=item.instId,
        px_1e9=price,
        qty_1e8=qty,
        aggressor=_SIDES.get(item.side, "unknown"),
        trade_id=item.tradeId,
        ts_event_ns=int(item.ts) * 1_000_000,
    )
