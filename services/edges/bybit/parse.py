"""Pure Bybit v5 public frame parsing: wire text -> BookUpdate / TradeUpdate / Control / VenueNotice."""

from __future__ import annotations

from typing import Literal

import msgspec

from services.edges import funding
from services.edges.book import RawLevel
from services.edges.bybit.wire import BybitBook, BybitFrame, BybitTrade
from services.edges.numbers import PrecisionError, ms_to_ns, px_1e9, qty_1e8
from services.edges.venue import BookUpdate, Control, FundingUpdate, ParseError, Parsed, TradeUpdate, VenueNotice

_FRAME = msgspec.json.Decoder(BybitFrame)
_BOOK = msgspec.json.Decoder(BybitBook)
_TRADES = msgspec.json.Decoder(list[BybitTrade])
_TICKER = msgspec.json.Decoder(dict[str, object])  # strings today; tolerate numbers
_AGGRESSOR: dict[str, Literal["buy", "sell"]] = {"Buy": "buy", "Sell": "sell"}
_MS = 1_000_000


def parse_frame(raw: str | bytes, tickers: dict[str, dict[str, str]] | None = None) -> list[Parsed]:
    """Parse one Bybit public frame; raise ParseError for anything malformed.

    Inputs: fixtures bybit/ws_orderbook50_BTCUSDT.jsonl (ack, snapshot, delta),
    ws_orderbook_snapshot.json, ws_orderbook_delta.json, ws_public_trade_BTCUSDT.jsonl,
    ws_subscription_ack.json, ws_subscription_failure.json; pong replies. With `tickers` (the
    linear socket's per-symbol ticker state), `tickers.<symbol>` pushes become FundingUpdate.
    """
    try:
        frame = _FRAME.decode(raw)
        if frame.topic:
            if frame.topic.startswith("orderbook."):
                return [_book(frame)]
            if frame.topic.startswith("publicTrade."):
                return [_trade(t) for t in _TRADES.decode(frame.data)]
            if frame.topic.startswith("tickers.") and tickers is not None:
                return _ticker(frame, tickers)
            return [Control("unhandled", frame.topic)]
    except msgspec.DecodeError as exc:
        raise ParseError(f"bybit: undecodable frame ({exc}): {raw[:120]!r}") from None
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"bybit: bad number in {frame.topic} ({exc}): {raw[:120]!r}") from None
    if frame.op:
        return [_op_reply(frame)]
    raise ParseError(f"bybit: frame has neither topic nor op: {raw[:120]!r}")


def _ticker(frame: BybitFrame, tickers: dict[str, dict[str, str]]) -> list[Parsed]:
    """Linear `tickers.<symbol>` (fixture bybit/ws_ticker_linear.json): a snapshot, then deltas
    carrying only the fields that changed, merged onto the last snapshot."""
    data = {k: str(v) for k, v in _TICKER.decode(frame.data).items() if v is not None}
    symbol = data.get("symbol") or frame.topic.partition(".")[2]
    state = {} if frame.type == "snapshot" else dict(tickers.get(symbol, {}))
    state.update(data)
    if "fundingRate" not in state or "nextFundingTime" not in state:
        tickers[symbol] = state
        return [Control("ticker", symbol)]
    interval_h = int(state.get("fundingIntervalHour") or 8)
    oi = state.get("openInterest")
    update: list[Parsed] = [
        FundingUpdate(
            symbol=symbol,
            rate_1e9=funding.rate_1e9(state["fundingRate"]),
            interval_ns=interval_h * funding.HOUR_NS,
            next_funding_ns=ms_to_ns(state["nextFundingTime"]),
            mark_px_1e9=px_1e9(state["markPrice"]) if state.get("markPrice") else 0,
            index_px_1e9=px_1e9(state["indexPrice"]) if state.get("indexPrice") else 0,
            open_interest_1e8=qty_1e8(oi) if oi else None,
            ts_event_ns=frame.ts * _MS if frame.ts else 0,
        )
    ]
    tickers[symbol] = state  # only a frame that parsed joins the merged state
    return update


def _book(frame: BybitFrame) -> BookUpdate:
    data = _BOOK.decode(frame.data)
    if frame.type not in ("snapshot", "delta"):
        raise ParseError(f"bybit: {frame.topic} has type {frame.type!r}, expected snapshot or delta")
    return BookUpdate(
        symbol=data.s,
        # u == 1 means Bybit's book service restarted: the push is a full book whatever its type.
        snapshot=frame.type == "snapshot" or data.u == 1,
        bids=_levels(data.b),
        asks=_levels(data.a),
        seq=data.u,
        ts_event_ns=frame.ts * _MS,
    )


def _levels(rows: list[tuple[str, str]]) -> list[RawLevel]:
    out = []
    for px, qty in rows:
        q = qty_1e8(qty)
        if q < 0:
            raise ValueError(f"negative size {qty!r} at {px}")
        out.append(RawLevel(px_1e9(px), q, px, qty))
    return out


def _trade(t: BybitTrade) -> TradeUpdate:
    return TradeUpdate(
        symbol=t.symbol,
        px_1e9=px_1e9(t.px),
        qty_1e8=qty_1e8(t.qty),
        aggressor=_AGGRESSOR.get(t.taker_side, "unknown"),
        trade_id=t.trade_id,
        ts_event_ns=t.ts_ms * _MS,
    )


def _op_reply(frame: BybitFrame) -> Control | VenueNotice:
    if frame.op in ("ping", "pong"):
        # public sockets answer {"op":"ping","ret_msg":"pong"}; others {"op":"pong","args":[ms]}
        return Control("pong", frame.ret_msg)
    if frame.success is False:
        return VenueNotice(f"bybit {frame.op} failed: {frame.ret_msg}")
    return Control(frame.op, frame.req_id)
