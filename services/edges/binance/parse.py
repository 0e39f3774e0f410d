"""Pure Binance frame parsers: wire bytes -> BookUpdate / TradeUpdate / Control / VenueNotice.

Live frames from `/ws` start with `{"e":` and combined-stream frames with `{"stream":`; both
take a single typed decode. Everything else (acks, errors, pretty-printed or unknown events)
goes through one generic decode that explains what it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from services.edges import funding
from services.edges.binance import wire
from services.edges.book import RawLevel
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8
from services.edges.venue import BookUpdate, Control, FundingUpdate, ParseError, Parsed, TradeUpdate, VenueNotice
from services.errors import CrossbookError

_NS_PER_MS = 1_000_000
_LEVEL_ERRORS = (ValueError, ArithmeticError, CrossbookError)  # bad digits, Decimal, PrecisionError


# Memo of wire text -> fixed-point int: Binance repeats the same price and size strings all
# day, and a dict hit is ~10x cheaper than scaling. Only validated values are stored. Sizes
# are far less repetitive than prices: a memo that clears when full keeps the hot strings
# cheap without holding every size ever seen (at 200,000 entries the pair held ~40 MB, which
# bench/soak.py showed as the edge's steady growth).
_PX_MEMO: dict[str, int] = {}
_QTY_MEMO: dict[str, int] = {}
_MEMO_MAX = 16_384


def _scaled(memo: dict[str, int], scale: Callable[[str], int], text: str, minimum: int) -> int:
    value = memo.get(text)
    if value is not None and value >= minimum:
        return value
    try:
        value = scale(text)
    except _LEVEL_ERRORS as exc:
        raise ParseError(f"bad decimal {text!r}: {exc}") from exc
    if value < minimum:
        raise ParseError(f"out-of-range decimal {text!r}")
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    memo[text] = value
    return value


_new_level = tuple.__new__  # RawLevel(...) runs a Python-level __new__; this skips it


def levels(raw: list[wire.Level]) -> list[RawLevel]:
    """Scale `[[price, qty], ...]` exactly; prices must be positive, sizes not negative."""
    try:
        return [_new_level(RawLevel, (_PX_MEMO[p], _QTY_MEMO[q], "", "")) for p, q in raw]
    except KeyError:  # a string not seen yet: scale (and validate) it once
        return [RawLevel(_scaled(_PX_MEMO, px_1e9, p, 1), _scaled(_QTY_MEMO, qty_1e8, q, 0)) for p, q in raw]


def depth_update(ev: wire.DepthUpdate) -> BookUpdate:
    """Fixtures ws_depth_diff_NKNUSDT.jsonl (spot) and ws_depth_diff_SUSHIUSDT.jsonl (USD-M, with `pu`)."""
    return BookUpdate(
        symbol=ev.symbol,
        snapshot=False,
        bids=levels(ev.bids),
        asks=levels(ev.asks),
        seq=ev.final_update_id,
        prev_seq=ev.prev_final_update_id,
        first_seq=ev.first_update_id,
        ts_event_ns=(ev.txn_ms or ev.event_ms) * _NS_PER_MS,
    )


def trade(ev: wire.Trade | wire.AggTrade) -> TradeUpdate:
    """Fixtures binance_spot/ws_trade.json (`t`) and binance_usdm/ws_agg_trade_stream.json (`a`)."""
    trade_id = ev.trade_id if isinstance(ev, wire.Trade) else ev.agg_id
    px = _scaled(_PX_MEMO, px_1e9, ev.price, 1)
    qty = _scaled(_QTY_MEMO, qty_1e8, ev.qty, 1)
    return TradeUpdate(
        symbol=ev.symbol,
        px_1e9=px,
        qty_1e8=qty,
        # `m` = the buyer was the resting order, so the seller crossed the spread.
        aggressor="sell" if ev.buyer_is_maker else "buy",
        trade_id=str(trade_id),
        ts_event_ns=ev.trade_ms * _NS_PER_MS,
    )


MARK_PRICE_EVENT = "markPriceUpdate"


def mark_price(obj: dict[str, Any]) -> FundingUpdate:
    """USD-M `<symbol>@markPrice@1s` (fixture binance_usdm/ws_mark_price_stream.json): `p` mark,
    `i` index, `r` the current interval's funding rate, `T` next funding time (ms). USD-M funds
    every 8 h on most symbols; the stream does not carry the interval."""
    try:
        return FundingUpdate(
            symbol=str(obj["s"]),
            rate_1e9=funding.rate_1e9(obj["r"]),
            interval_ns=funding.EIGHT_HOURS_NS,
            next_funding_ns=ms_to_ns(obj["T"]),
            mark_px_1e9=_scaled(_PX_MEMO, px_1e9, str(obj["p"]), 1),
            index_px_1e9=_scaled(_PX_MEMO, px_1e9, str(obj["i"]), 0) if obj.get("i") else 0,
            ts_event_ns=ms_to_ns(obj.get("E", 0)),
        )
    except KeyError as exc:
        raise ParseError(f"markPriceUpdate without {exc}") from None


def event(ev: wire.AnyEvent) -> Parsed:
    if isinstance(ev, wire.DepthUpdate):
        return depth_update(ev)
    return trade(ev)


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one WebSocket text frame (raw `/ws` event, combined envelope, ack or error)."""
    head = raw[:9]
    try:
        if head == b'{"stream"' or head == '{"stream"':
            return [event(wire.combined_decoder.decode(raw).data)]
        if head[:5] == b'{"e":' or head[:5] == '{"e":':
            return [event(wire.event_decoder.decode(raw))]
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass  # unknown event or broken frame: the generic path says which
    return _parse_generic(raw)


def _parse_generic(raw: str | bytes) -> list[Parsed]:
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
    if "stream" in obj and "data" in obj:
        data = obj["data"]
        if not isinstance(data, dict):
            raise ParseError(f"stream {obj['stream']!r}: data is not an object")
        if data.get("e") == MARK_PRICE_EVENT:
            return [mark_price(data)]
        if data.get("e") not in wire.HANDLED_EVENTS:
            return [Control("unhandled", str(obj["stream"]))]  # a stream we did not ask for
        return [_convert_event(data)]
    if "e" in obj:
        kind = obj["e"]
        if kind == MARK_PRICE_EVENT:
            return [mark_price(obj)]
        if kind in wire.HANDLED_EVENTS:
            return [_convert_event(obj)]
        return [Control("unhandled", str(kind))]  # e.g. serverShutdown, kline, bookTicker
    if "error" in obj:
        return [_notice(obj["error"], obj.get("id"))]
    if "code" in obj and "msg" in obj:
        return [_notice(obj, obj.get("id"))]
    if "result" in obj and "id" in obj:
        # SUBSCRIBE answers `null`; LIST_SUBSCRIPTIONS answers the stream list.
        kind = "subscribed" if obj["result"] is None else "result"
        return [Control(kind, f"id={obj['id']}")]
    raise ParseError(f"unexpected frame shape, keys {sorted(obj)[:8]}")


def _convert_event(obj: dict[str, Any]) -> Parsed:
    try:
        ev = msgspec.convert(obj, wire.AnyEvent)
    except msgspec.ValidationError as exc:
        raise ParseError(f"{obj.get('e')} frame: {exc}") from exc
    return event(ev)


def _notice(err: Any, req_id: Any) -> VenueNotice:
    if isinstance(err, dict):
        return VenueNotice(f"binance error {err.get('code')}: {err.get('msg')} (request id {req_id})")
    return VenueNotice(f"binance error: {err} (request id {req_id})")


def depth_snapshot(body: bytes, venue_symbol: str) -> BookUpdate:
    """REST depth: fixtures rest_depth_snapshot_NKNUSDT.json (spot), rest_depth_snapshot_SUSHIUSDT.json (USD-M)."""
    try:
        snap = wire.snapshot_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        # An error body ({"code":-1121,"msg":"Invalid symbol."}) is not a book either.
        raise ParseError(f"{venue_symbol} depth snapshot: {exc}: {body[:200]!r}") from exc
    return BookUpdate(
        symbol=venue_symbol,
        snapshot=True,
        bids=levels(snap.bids),
        asks=levels(snap.asks),
        seq=snap.last_update_id,
        ts_event_ns=(snap.txn_ms or snap.event_ms) * _NS_PER_MS,
    )
