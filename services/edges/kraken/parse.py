"""Pure Kraken WebSocket v2 frame parsers: wire bytes -> BookUpdate / TradeUpdate / Control / VenueNotice.

Channel frames (`{"channel": ...}`) take one typed decode; request replies (`{"method": ...}`)
and error replies take a second, generic one. Instrument precisions come back as
`PairPrecision` items for the adapter to keep (the checksum needs them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from services.edges.book import RawLevel
from services.edges.kraken import wire
from services.edges.numbers import px_1e9, qty_1e8
from services.edges.timefmt import rfc3339_ns
from services.edges.venue import BookUpdate, Control, ParseError, Parsed, TradeUpdate, VenueNotice
from services.errors import CrossbookError

_CHANNEL = msgspec.json.Decoder(wire.ChannelMsg)
_METHOD = msgspec.json.Decoder(wire.MethodMsg)
_NUMBER_ERRORS = (ValueError, ArithmeticError, CrossbookError, UnicodeDecodeError)
_AGGRESSOR: dict[str, Literal["buy", "sell"]] = {"buy": "buy", "sell": "sell"}


@dataclass(frozen=True, slots=True)
class PairPrecision:
    """One pair's precisions from the `instrument` channel (consumed by the adapter)."""

    symbol: str
    price_precision: int
    qty_precision: int


KrakenItem = Parsed | PairPrecision


def _text(raw: msgspec.Raw) -> str:
    text = bytes(raw).decode("ascii")
    # The docs' checksum example quotes its numbers; the live feed does not.
    return text[1:-1] if text[:1] == '"' else text


def _levels(items: list[wire.Level]) -> list[RawLevel]:
    out: list[RawLevel] = []
    try:
        for lvl in items:
            p, q = _text(lvl.price), _text(lvl.qty)
            out.append(RawLevel(px_1e9(p), qty_1e8(q), p, q))
    except _NUMBER_ERRORS as exc:
        raise ParseError(f"bad book level: {exc}") from exc
    for level in out:
        if level.px_1e9 <= 0 or level.qty_1e8 < 0:
            raise ParseError(f"bad book level: price {level.raw_px} qty {level.raw_qty}")
    return out


def book(msg: wire.BookMsg) -> list[BookUpdate]:
    """Fixtures ws_v2_book_ETH-USD_depth10.jsonl (snapshot + update), ws_v2_book_checksum_doc_example.json."""
    if msg.type not in ("snapshot", "update"):
        raise ParseError(f"book frame type {msg.type!r} is neither snapshot nor update")
    snapshot = msg.type == "snapshot"
    return [
        BookUpdate(
            symbol=entry.symbol,
            snapshot=snapshot,
            bids=_levels(entry.bids),
            asks=_levels(entry.asks),
            checksum=entry.checksum,
            ts_event_ns=rfc3339_ns(entry.timestamp),
        )
        for entry in msg.data
    ]


def trades(msg: wire.TradeMsg) -> list[TradeUpdate]:
    """Fixture ws_trade_update.json; `side` is the taker's side."""
    out: list[TradeUpdate] = []
    for t in msg.data:
        aggressor = _AGGRESSOR.get(t.side)
        if aggressor is None:
            raise ParseError(f"trade side {t.side!r} is neither buy nor sell")
        try:
            px, qty = px_1e9(_text(t.price)), qty_1e8(_text(t.qty))
        except _NUMBER_ERRORS as exc:
            raise ParseError(f"bad trade price/qty: {exc}") from exc
        out.append(TradeUpdate(t.symbol, px, qty, aggressor, str(t.trade_id), rfc3339_ns(t.timestamp)))
    return out


def _reply(raw: str | bytes, why: Exception) -> list[KrakenItem]:
    """Fixtures ws_subscribe_response.json, ws_pong.json, ws_add_order_response_failure.json."""
    try:
        msg = _METHOD.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not a Kraken frame: {exc}") from exc
    if msg.error or msg.success is False:
        return [VenueNotice(msg.error or f"{msg.method} failed", msg.symbol)]
    if msg.method == "pong":
        return [Control("pong")]
    if msg.method:
        detail = f"{msg.result.channel} {msg.result.symbol}".strip() if msg.result else ""
        return [Control(msg.method, detail)]
    raise ParseError(f"unexpected Kraken frame: {why}")


def parse_frame(raw: str | bytes) -> list[KrakenItem]:
    """Parse one WebSocket v2 frame; raise ParseError on garbage or unexpected shapes."""
    try:
        msg = _CHANNEL.decode(raw)
    except msgspec.ValidationError as exc:  # a reply, an unknown channel or a malformed frame
        return _reply(raw, exc)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if isinstance(msg, wire.BookMsg):
        return list(book(msg))
    if isinstance(msg, wire.TradeMsg):
        return list(trades(msg))
    if isinstance(msg, wire.HeartbeatMsg):
        return [Control("heartbeat")]
    if isinstance(msg, wire.StatusMsg):
        return [Control("status")]
    pairs: list[KrakenItem] = [PairPrecision(p.symbol, p.price_precision, p.qty_precision) for p in msg.data.pairs]
    return [*pairs, Control("instrument", f"{msg.type}: {len(pairs)} pairs")]
