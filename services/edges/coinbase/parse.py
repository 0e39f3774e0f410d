"""Pure Coinbase Advanced Trade frame parsers: wire bytes -> BookUpdate / TradeUpdate / Control / VenueNotice.

Every frame's `sequence_num` is fed to the connection counter (`book.ConnectionSequence`), except
an l2_data frame that fails to parse: leaving it uncounted turns it into a visible gap, so the
books resync instead of silently missing an update.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges.book import RawLevel
from services.edges.coinbase import wire
from services.edges.coinbase.book import ConnectionSequence
from services.edges.numbers import px_1e9, qty_1e8
from services.edges.timefmt import rfc3339_ns
from services.edges.venue import BookUpdate, Control, ParseError, Parsed, TradeUpdate, VenueNotice
from services.errors import CrossbookError

_TYPED = msgspec.json.Decoder(wire.ChannelMsg)
_ENVELOPE = msgspec.json.Decoder(wire.Envelope)
_NUMBER_ERRORS = (ValueError, ArithmeticError, CrossbookError)
# Real channels we do not consume: counted for continuity, otherwise ignored.
_OTHER_CHANNELS = frozenset({"ticker", "ticker_batch", "candles", "status", "user", "futures_balance_summary"})
_TAKER: dict[str, Literal["buy", "sell"]] = {"BUY": "buy", "SELL": "sell"}
_MAKER: dict[str, Literal["buy", "sell"]] = {"BUY": "sell", "SELL": "buy"}


def _levels(updates: list[wire.L2Level]) -> tuple[list[RawLevel], list[RawLevel]]:
    bids: list[RawLevel] = []
    asks: list[RawLevel] = []
    try:
        for u in updates:
            lvl = RawLevel(px_1e9(u.price_level), qty_1e8(u.new_quantity))
            if lvl.px_1e9 <= 0 or lvl.qty_1e8 < 0:
                raise ParseError(f"bad level price {u.price_level!r} quantity {u.new_quantity!r}")
            if u.side == "bid":
                bids.append(lvl)
            elif u.side == "offer":
                asks.append(lvl)
            else:
                raise ParseError(f"level side {u.side!r} is neither bid nor offer")
    except _NUMBER_ERRORS as exc:
        raise ParseError(f"bad level: {exc}") from exc
    return bids, asks


def l2_data(msg: wire.L2Msg) -> list[BookUpdate]:
    """Fixtures ws_l2_data_snapshot.json, ws_l2_data_update.json, ws_real_frames_sol_usd.jsonl.

    Events for one product in one frame merge into one BookUpdate (they share a sequence_num,
    so a second one would look stale); a snapshot event discards what came before it.
    """
    ts = rfc3339_ns(msg.timestamp)
    merged: dict[str, BookUpdate] = {}
    for ev in msg.events:
        if ev.type not in ("snapshot", "update"):
            raise ParseError(f"l2_data event type {ev.type!r} is neither snapshot nor update")
        bids, asks = _levels(ev.updates)
        cur = merged.get(ev.product_id)
        if cur is None or ev.type == "snapshot":
            merged[ev.product_id] = BookUpdate(ev.product_id, ev.type == "snapshot", bids, asks, ts_event_ns=ts)
        else:
            cur.bids += bids
            cur.asks += asks
    return list(merged.values())


def market_trades(msg: wire.TradesMsg, side_is_maker: bool) -> list[Parsed]:
    """Fixtures ws_market_trades.json, ws_real_frames_sol_usd.jsonl (line 3)."""
    sides = _MAKER if side_is_maker else _TAKER
    out: list[Parsed] = []
    for ev in msg.events:
        if ev.type == "snapshot":  # recent history sent on subscribe: not new trades
            out.append(Control("trades_snapshot", f"{len(ev.trades)} trades"))
            continue
        for t in ev.trades:
            aggressor = sides.get(t.side)
            if aggressor is None:
                raise ParseError(f"trade side {t.side!r} is neither BUY nor SELL")
            try:
                px, qty = px_1e9(t.price), qty_1e8(t.size)
            except _NUMBER_ERRORS as exc:
                raise ParseError(f"bad trade price {t.price!r} size {t.size!r}: {exc}") from exc
            out.append(TradeUpdate(t.product_id, px, qty, aggressor, t.trade_id, rfc3339_ns(t.time)))
    return out


def _fallback(raw: str | bytes, conn: ConnectionSequence, why: Exception) -> list[Parsed]:
    """Fixture ws_real_frames_perp_intx.jsonl (error line); other channels; malformed frames."""
    try:
        env = _ENVELOPE.decode(raw)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not a Coinbase frame: {exc}") from exc
    if env.channel == "l2_data":
        raise ParseError(f"malformed l2_data frame (left uncounted to force a resync): {why}")
    if env.sequence_num is not None:
        conn.observe(env.sequence_num)
    if env.type == "error":
        return [VenueNotice(env.message or "error")]
    if env.channel in _OTHER_CHANNELS:
        return [Control(env.channel, "not consumed")]
    raise ParseError(f"unexpected Coinbase frame: {why}")


def parse_frame(raw: str | bytes, conn: ConnectionSequence, side_is_maker: bool = True) -> list[Parsed]:
    """Parse one frame, advancing the connection counter; raise ParseError on garbage."""
    try:
        msg = _TYPED.decode(raw)
    except msgspec.ValidationError as exc:
        return _fallback(raw, conn, exc)
    except msgspec.DecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from exc
    if isinstance(msg, wire.L2Msg):
        updates = l2_data(msg)  # may raise: then the frame stays uncounted
        prev = conn.observe(msg.sequence_num)
        for u in updates:
            u.seq, u.prev_seq, u.first_seq = msg.sequence_num, prev, conn.run_start
        return list(updates)
    conn.observe(msg.sequence_num)
    if isinstance(msg, wire.TradesMsg):
        return market_trades(msg, side_is_maker)
    if isinstance(msg, wire.HeartbeatsMsg):
        return [Control("heartbeat")]
    channels = sorted({ch for ev in msg.events for ch in ev.subscriptions})
    return [Control("subscriptions", ",".join(channels))]
