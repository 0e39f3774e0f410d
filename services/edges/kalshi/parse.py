"""Pure Kalshi WebSocket v2 frame parsing: wire text -> BookUpdate / TradeUpdate / Control / VenueNotice.

The book is kept as the YES book (see the package docstring): NO bids land on the ask side at
1 - price, so a crossed venue book means yes_bid + no_bid >= 1, which Kalshi would have matched.
"""

from __future__ import annotations

import msgspec

from services.edges.book import RawLevel
from services.edges.kalshi.wire import (
    KalshiDelta,
    KalshiMarketMetadata,
    KalshiError,
    KalshiFrame,
    KalshiLifecycle,
    KalshiSnapshot,
    KalshiSubscribed,
    KalshiTrade,
)
from services.edges.numbers import PrecisionError, px_1e9, qty_1e8
from services.edges.venue import BookUpdate, Control, MarketNotice, ParseError, Parsed, TradeUpdate, VenueNotice

ONE_DOLLAR_1E9 = 1_000_000_000  # a contract pays $1: YES price + NO price = 1

_FRAME = msgspec.json.Decoder(KalshiFrame)
_SNAPSHOT = msgspec.json.Decoder(KalshiSnapshot)
_DELTA = msgspec.json.Decoder(KalshiDelta)
_TRADE = msgspec.json.Decoder(KalshiTrade)
_SUBSCRIBED = msgspec.json.Decoder(KalshiSubscribed)
_ERROR = msgspec.json.Decoder(KalshiError)
_LIFECYCLE = msgspec.json.Decoder(KalshiLifecycle)
_MS = 1_000_000
_S = 1_000_000_000


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one Kalshi frame; raise ParseError for anything malformed.

    Inputs: fixtures kalshi/ws_orderbook_doc_example.jsonl (snapshot, delta),
    ws_orderbook_delta_samples.jsonl, ws_fill_doc_example.jsonl; `subscribed` / `error` replies.
    """
    try:
        frame = _FRAME.decode(raw)
        kind = frame.type
        if kind == "orderbook_delta":
            return [_delta(frame)]
        if kind == "orderbook_snapshot":
            return [_snapshot(frame)]
        if kind == "trade":
            return [_trade(frame)]
        if kind == "market_lifecycle_v2":
            return [_lifecycle(_LIFECYCLE.decode(frame.msg))]
        if kind == "subscribed":
            sub = _SUBSCRIBED.decode(frame.msg)
            return [Control("subscribed", f"{sub.channel} sid={sub.sid} id={frame.id}")]
        if kind == "error":
            err = _ERROR.decode(frame.msg)
            return [VenueNotice(f"kalshi error {err.code} (command id {frame.id}): {err.msg}")]
    except msgspec.DecodeError as exc:
        raise ParseError(f"kalshi: undecodable frame ({exc}): {raw[:120]!r}") from None
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"kalshi: bad number ({exc}): {raw[:120]!r}") from None
    # ok, unsubscribed, list_subscriptions, fill, ticker, event_lifecycle...: nothing for the book
    return [Control(kind, f"sid={frame.sid}" if frame.sid is not None else "")]


def _require_seq(frame: KalshiFrame) -> tuple[int, int]:
    if frame.seq is None or frame.sid is None:
        raise ParseError(f"kalshi: {frame.type} without sid/seq (sid={frame.sid}, seq={frame.seq})")
    return frame.sid, frame.seq


def _price(text: str) -> int:
    px = px_1e9(text)
    if not 0 < px < ONE_DOLLAR_1E9:
        raise ValueError(f"price {text!r} is outside (0, 1) dollars")
    return px


def _snapshot(frame: KalshiFrame) -> BookUpdate:
    sid, seq = _require_seq(frame)
    msg = _SNAPSHOT.decode(frame.msg)
    if not (msg.yes_dollars_fp or msg.no_dollars_fp) and (len(msg.yes) or len(msg.no)):
        # an empty book and a legacy-only book must not look alike
        raise ParseError(f"kalshi: snapshot for {msg.market_ticker} has only legacy integer-cent levels")
    bids = [RawLevel(_price(p), _count(c), p, c) for p, c in msg.yes_dollars_fp]
    asks = [RawLevel(ONE_DOLLAR_1E9 - _price(p), _count(c)) for p, c in msg.no_dollars_fp]
    return BookUpdate(symbol=msg.market_ticker, snapshot=True, bids=bids, asks=asks, seq=seq, stream_key=str(sid))


def _count(text: str) -> int:
    q = qty_1e8(text)
    if q < 0:
        raise ValueError(f"negative resting count {text!r}")
    return q


def _delta(frame: KalshiFrame) -> BookUpdate:
    sid, seq = _require_seq(frame)
    msg = _DELTA.decode(frame.msg)
    px = _price(msg.price_dollars)
    change = qty_1e8(msg.delta_fp)
    if msg.side == "yes":
        bids, asks = [RawLevel(px, change, msg.price_dollars, msg.delta_fp)], []
    elif msg.side == "no":
        bids, asks = [], [RawLevel(ONE_DOLLAR_1E9 - px, change)]
    else:
        raise ParseError(f"kalshi: orderbook_delta side {msg.side!r} is not yes or no")
    return BookUpdate(
        symbol=msg.market_ticker,
        snapshot=False,
        bids=bids,
        asks=asks,
        seq=seq,
        increments=True,
        ts_event_ns=msg.ts_ms * _MS,
        stream_key=str(sid),
    )


def _trade(frame: KalshiFrame) -> TradeUpdate:
    msg = _TRADE.decode(frame.msg)
    if msg.taker_side not in ("yes", "no"):
        raise ParseError(f"kalshi: trade taker_side {msg.taker_side!r} is not yes or no")
    return TradeUpdate(
        symbol=msg.market_ticker,
        px_1e9=_price(msg.yes_price_dollars),
        qty_1e8=qty_1e8(msg.count_fp),
        # on the YES book a NO taker is a YES seller
        aggressor="buy" if msg.taker_side == "yes" else "sell",
        trade_id=msg.trade_id,
        ts_event_ns=msg.ts_ms * _MS if msg.ts_ms else msg.ts * _S,
    )


def event_ticker_of(market_ticker: str) -> str:
    """Tickers are series-event-market: `KXHIGHNY-26JUN24-T82` belongs to `KXHIGHNY-26JUN24`."""
    return market_ticker.rsplit("-", 1)[0]


def _lifecycle(msg: KalshiLifecycle) -> MarketNotice | Control:
    """`created` lists a market; `determined` (and `settled`, its payout) resolves it."""
    ticker = msg.market_ticker
    yes, no = ticker + ":YES", ticker + ":NO"
    if msg.event_type == "created":
        meta = msg.additional_metadata or KalshiMarketMetadata()
        return MarketNotice(
            "listed",
            ticker,
            meta.event_ticker or event_ticker_of(ticker),
            question=meta.title or meta.name or ticker,
            outcomes=["Yes", "No"],
            outcome_token_ids=[yes, no],
            start_ns=msg.open_ts * _S,
            end_ns=msg.close_ts * _S,
            url=f"https://kalshi.com/markets/{event_ticker_of(event_ticker_of(ticker)).lower()}",
            resolution_source=meta.rules_primary,
        )
    if msg.event_type in ("determined", "settled") and msg.result in ("yes", "no"):
        won_yes = msg.result == "yes"
        return MarketNotice(
            "resolved",
            ticker,
            event_ticker_of(ticker),
            winning_outcome="Yes" if won_yes else "No",
            winning_token_id=yes if won_yes else no,
            losing_token_id=no if won_yes else yes,
            ts_event_ns=(msg.determination_ts or msg.settled_ts) * _S,
        )
    # activated, deactivated, close_date_updated, a voided result...: no listing or payout change
    return Control("market_lifecycle_v2", f"{ticker} {msg.event_type}")
