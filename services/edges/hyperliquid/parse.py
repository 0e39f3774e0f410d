"""Pure Hyperliquid frame parsers: wire bytes -> BookUpdate / TradeUpdate / Control / VenueNotice.

Every l2Book push is the whole book (at most 20 levels a side), so each one is a snapshot.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges import funding
from services.edges.book import RawLevel
from services.edges.hyperliquid import wire
from services.edges.numbers import px_1e9, qty_1e8
from services.edges.venue import BookUpdate, Control, FundingUpdate, ParseError, Parsed, TradeUpdate, VenueNotice
from services.errors import CrossbookError

_CHANNEL = msgspec.json.Decoder(wire.ChannelMsg)
_BOOK = msgspec.json.Decoder(wire.L2Book)
_NUMBER_ERRORS = (ValueError, ArithmeticError, CrossbookError)
_NS_PER_MS = 1_000_000
_AGGRESSOR: dict[str, Literal["buy", "sell"]] = {"B": "buy", "A": "sell"}


def _levels(items: list[wire.Level]) -> list[RawLevel]:
    try:
        out = [RawLevel(px_1e9(lvl.px), qty_1e8(lvl.sz)) for lvl in items]
    except _NUMBER_ERRORS as exc:
        raise ParseError(f"bad book level: {exc}") from exc
    for lvl in out:
        if lvl.px_1e9 <= 0 or lvl.qty_1e8 <= 0:  # a full snapshot lists resting levels only
            raise ParseError(f"bad book level: {lvl}")
    return out


def l2_book(book: wire.L2Book) -> BookUpdate:
    """Fixtures ws_book_data.json (WS data), http_l2_book_btc.json, http_info_l2Book_DYDX.json (REST)."""
    bids, asks = book.levels
    return BookUpdate(book.coin, True, _levels(bids), _levels(asks), ts_event_ns=book.time * _NS_PER_MS)


def trades(items: list[wire.Trade]) -> list[TradeUpdate]:
    """Fixture http_recent_trades_btc.json (same objects as the WS `trades` data)."""
    out: list[TradeUpdate] = []
    for t in items:
        aggressor = _AGGRESSOR.get(t.side)
        if aggressor is None:
            raise ParseError(f"trade side {t.side!r} is neither B nor A")
        try:
            px, qty = px_1e9(t.px), qty_1e8(t.sz)
        except _NUMBER_ERRORS as exc:
            raise ParseError(f"bad trade px {t.px!r} sz {t.sz!r}: {exc}") from exc
        out.append(TradeUpdate(t.coin, px, qty, aggressor, str(t.tid), t.time * _NS_PER_MS))
    return out


def parse_book_body(body: str | bytes) -> BookUpdate:
    """Parse a POST /info {"type":"l2Book"} response body."""
    try:
        return l2_book(_BOOK.decode(body))
    except msgspec.DecodeError as exc:
        raise ParseError(f"not an l2Book body: {exc}") from exc


def asset_ctx(data: wire.ActiveAssetCtx) -> FundingUpdate:
    """`activeAssetCtx`: Hyperliquid funds every hour, on the hour; the push does not say when
    (next_funding_ns 0: the edge takes the next hour boundary)."""
    ctx = data.ctx
    try:
        return FundingUpdate(
            symbol=data.coin,
            rate_1e9=funding.rate_1e9(ctx.funding),
            interval_ns=funding.HOUR_NS,
            mark_px_1e9=px_1e9(ctx.markPx),
            index_px_1e9=px_1e9(ctx.oraclePx) if ctx.oraclePx else 0,
            open_interest_1e8=qty_1e8(ctx.openInterest) if ctx.openInterest else None,
        )
    except _NUMBER_ERRORS as exc:
        raise ParseError(f"activeAssetCtx {data.coin}: bad number ({exc})") from None


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one WebSocket frame; raise ParseError on garbage or unexpected shapes."""
    try:
        msg = _CHANNEL.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not a Hyperliquid frame: {exc}") from exc
    if isinstance(msg, wire.L2BookMsg):
        return [l2_book(msg.data)]
    if isinstance(msg, wire.TradesMsg):
        return list(trades(msg.data))
    if isinstance(msg, wire.ActiveAssetCtxMsg):
        return [asset_ctx(msg.data)]
    if isinstance(msg, wire.PongMsg):
        return [Control("pong")]
    if isinstance(msg, wire.SubscriptionResponse):
        return [Control("subscribed", bytes(msg.data).decode("utf-8", "replace"))]
    return [VenueNotice(msg.data or "error")]
