"""Pure Polymarket market-channel parsing: wire text -> BookUpdate / TradeUpdate / Control / Reply."""

from __future__ import annotations

import msgspec

from services.edges.book import RawLevel
from services.edges.numbers import PrecisionError, px_1e9, qty_1e8
from services.edges.polymarket.wire import PolyChange, PolyEvent, PolyLevel
from services.edges.venue import BookUpdate, Control, MarketNotice, ParseError, Parsed, Reply, TradeUpdate, VenueNotice

_EVENTS = msgspec.json.Decoder(PolyEvent | list[PolyEvent])
_EVENT = msgspec.json.Decoder(PolyEvent)
_MS = 1_000_000
_INFO = frozenset({"tick_size_change", "best_bid_ask"})


def parse_frame(raw: str | bytes) -> list[Parsed]:
    """Parse one market-channel frame (an event or a JSON array of events).

    Inputs: fixtures polymarket/ws_book_full.json, ws_market_book_msg.json,
    ws_market_price_change_msg.json, ws_price_change_v2.json, legacy_price_change.json,
    ws_last_trade_price.json, ws_market_tick_size_msg.json, ws_market_new_market_msg.json,
    ws_market_resolved_msg.json; the text frames `PONG` and
    `INVALID OPERATION`.
    """
    if raw in ("PONG", b"PONG"):
        return [Control("pong")]
    if raw in ("PING", b"PING"):
        return [Reply("PONG")]
    if raw in ("INVALID OPERATION", b"INVALID OPERATION"):  # the venue's answer to a bad request
        return [VenueNotice("polymarket: INVALID OPERATION")]
    try:
        decoded = _EVENTS.decode(raw)
        events = decoded if isinstance(decoded, list) else [decoded]
        out: list[Parsed] = []
        for event in events:
            out.extend(_event(event))
        return out
    except msgspec.DecodeError as exc:
        raise ParseError(f"polymarket: undecodable frame ({exc}): {raw[:120]!r}") from None
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"polymarket: bad number ({exc}): {raw[:120]!r}") from None


def parse_book_body(body: bytes, venue_symbol: str) -> BookUpdate:
    """Parse a REST `GET /book?token_id=` body (fixture polymarket/rest_book.json)."""
    try:
        event = _EVENT.decode(body)
        if event.asset_id != venue_symbol:
            raise ParseError(f"polymarket: /book answered asset {event.asset_id!r}, asked {venue_symbol!r}")
        return _book(event)
    except msgspec.DecodeError as exc:
        raise ParseError(f"polymarket: undecodable /book body ({exc}): {body[:120]!r}") from None
    except (ValueError, ArithmeticError, PrecisionError) as exc:
        raise ParseError(f"polymarket: bad number in /book ({exc}): {body[:120]!r}") from None


def _event(event: PolyEvent) -> list[Parsed]:
    kind = event.event_type
    if kind == "book":
        return [_book(event)]
    if kind == "price_change":
        return _price_change(event)
    if kind == "last_trade_price":
        return [_trade(event)]
    if kind == "new_market":
        return [_new_market(event)]
    if kind == "market_resolved":
        return [_resolved(event)]
    if kind in _INFO:
        return [Control(kind, event.asset_id)]
    if not kind:
        raise ParseError(f"polymarket: event without event_type (asset {event.asset_id!r})")
    return [Control("unhandled", kind)]


def _ts(event: PolyEvent) -> int:
    return int(event.timestamp) * _MS


def _side(levels: list[PolyLevel] | None, reverse: bool) -> list[RawLevel]:
    # Polymarket lists books worst-first; emit best-first like every other venue.
    out = [RawLevel(px_1e9(lvl.price), _size(lvl.size), lvl.price, lvl.size) for lvl in levels or ()]
    out.sort(key=lambda lvl: lvl.px_1e9, reverse=reverse)
    return out


def _size(text: str) -> int:
    q = qty_1e8(text)
    if q < 0:
        raise ValueError(f"negative size {text!r}")
    return q


def _book(event: PolyEvent) -> BookUpdate:
    if not event.asset_id:
        raise ParseError("polymarket: book without asset_id")
    bids = event.bids if event.bids is not None else event.buys
    asks = event.asks if event.asks is not None else event.sells
    return BookUpdate(
        symbol=event.asset_id,
        snapshot=True,
        bids=_side(bids, reverse=True),
        asks=_side(asks, reverse=False),
        ts_event_ns=_ts(event),
    )


def _price_change(event: PolyEvent) -> list[Parsed]:
    if event.price_changes is not None:
        changes = event.price_changes
    elif event.changes is not None:
        changes = [PolyChange(c.price, c.size, c.side, c.asset_id or event.asset_id) for c in event.changes]
    elif event.price:
        changes = [PolyChange(event.price, event.size, event.side, event.asset_id)]
    else:
        raise ParseError("polymarket: price_change without price_changes, changes or price")
    ts = _ts(event)
    # One event may touch several tokens (both legs of a market): one update per token, in order.
    by_asset: dict[str, BookUpdate] = {}
    for c in changes:
        if not c.asset_id:
            raise ParseError("polymarket: price change without asset_id")
        update = by_asset.get(c.asset_id)
        if update is None:
            update = by_asset[c.asset_id] = BookUpdate(c.asset_id, snapshot=False, bids=[], asks=[], ts_event_ns=ts)
        level = RawLevel(px_1e9(c.price), _size(c.size), c.price, c.size)
        if c.side == "BUY":
            update.bids.append(level)
        elif c.side == "SELL":
            update.asks.append(level)
        else:
            raise ParseError(f"polymarket: price change side {c.side!r} is not BUY or SELL")
    return list(by_asset.values())


def _trade(event: PolyEvent) -> TradeUpdate:
    if event.side not in ("BUY", "SELL"):
        raise ParseError(f"polymarket: last_trade_price side {event.side!r} is not BUY or SELL")
    return TradeUpdate(
        symbol=event.asset_id,
        px_1e9=px_1e9(event.price),
        qty_1e8=qty_1e8(event.size),
        aggressor="buy" if event.side == "BUY" else "sell",  # the taker's side [verify]
        ts_event_ns=_ts(event),
    )


def _new_market(event: PolyEvent) -> MarketNotice:
    if not event.slug or len(event.assets_ids) < 2 or len(event.outcomes) != len(event.assets_ids):
        raise ParseError(f"polymarket: new_market {event.slug!r} without a slug or one token per outcome")
    condition = event.condition_id or event.market
    group = event.event_message.slug if event.event_message is not None and event.event_message.slug else event.slug
    return MarketNotice(
        "listed",
        event.slug,
        condition,
        question=event.question or event.slug,
        outcomes=list(event.outcomes),
        outcome_token_ids=list(event.assets_ids),  # YES first, as the venue orders them
        condition_id=condition,
        start_ns=_ts(event),
        url=f"https://polymarket.com/event/{group}",
        resolution_source=event.description,
    )


def _resolved(event: PolyEvent) -> MarketNotice:
    winner = event.winning_asset_id
    losers = [a for a in event.assets_ids if a != winner]
    if not winner or winner not in event.assets_ids or len(losers) != 1:
        raise ParseError(f"polymarket: market_resolved {event.market!r} names no winner among two tokens")
    # The venue names the market by condition id only: the runtime maps it to the slug it listed.
    return MarketNotice(
        "resolved",
        "",
        event.market,
        winning_outcome=event.winning_outcome,
        winning_token_id=winner,
        losing_token_id=losers[0],
        ts_event_ns=_ts(event),
    )
