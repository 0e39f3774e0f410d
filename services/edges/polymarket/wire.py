"""Polymarket CLOB market-channel payloads: only the fields the parser reads."""

from __future__ import annotations

import msgspec


class PolyLevel(msgspec.Struct):
    price: str
    size: str


class PolyChange(msgspec.Struct):
    """One `price_changes[]` entry: the new ABSOLUTE size at a level ("0" removes it)."""

    price: str
    size: str
    side: str  # BUY (bids) | SELL (asks)
    asset_id: str = ""  # absent in the oldest `changes[]` shape, where it sits on the event


class PolyEventMessage(msgspec.Struct):
    """`new_market.event_message`: the event (group of markets) the market belongs to."""

    id: str = ""
    slug: str = ""
    title: str = ""


class PolyEvent(msgspec.Struct):
    """Any market-channel event, and the REST `GET /book` body (which has no event_type)."""

    event_type: str = ""
    asset_id: str = ""
    market: str = ""  # condition id
    timestamp: str | int = 0  # ms, usually a string
    bids: list[PolyLevel] | None = None
    asks: list[PolyLevel] | None = None
    buys: list[PolyLevel] | None = None  # older `book` spelling of bids/asks
    sells: list[PolyLevel] | None = None
    price_changes: list[PolyChange] | None = None  # current price_change shape
    changes: list[PolyChange] | None = None  # oldest price_change shape
    price: str = ""  # legacy single-level price_change; last_trade_price
    size: str = ""
    side: str = ""
    # new_market / market_resolved
    question: str = ""
    slug: str = ""
    description: str = ""
    assets_ids: list[str] = []  # the outcome tokens, in `outcomes` order
    outcomes: list[str] = []
    condition_id: str = ""
    event_message: PolyEventMessage | None = None
    winning_asset_id: str = ""
    winning_outcome: str = ""
