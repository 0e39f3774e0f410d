"""Coinbase Advanced Trade WebSocket payloads: only the fields the parser reads.

Every frame is `{"channel", "timestamp", "sequence_num", "events": [...]}` except error replies
(`{"type": "error", "message"}`); the channel name is the tag of one typed decode.
"""

from __future__ import annotations

import msgspec


class L2Level(msgspec.Struct):
    side: str  # "bid" | "offer"
    price_level: str
    new_quantity: str


class L2Event(msgspec.Struct):
    type: str  # "snapshot" | "update"
    product_id: str
    updates: list[L2Level] = []


class L2Msg(msgspec.Struct, tag_field="channel", tag="l2_data"):
    sequence_num: int
    events: list[L2Event]
    timestamp: str = ""


class Trade(msgspec.Struct):
    trade_id: str
    product_id: str
    price: str
    size: str
    side: str  # "BUY" | "SELL"
    time: str = ""


class TradesEvent(msgspec.Struct):
    type: str  # "snapshot" (recent history on subscribe) | "update"
    trades: list[Trade] = []


class TradesMsg(msgspec.Struct, tag_field="channel", tag="market_trades"):
    sequence_num: int
    events: list[TradesEvent]


class HeartbeatsMsg(msgspec.Struct, tag_field="channel", tag="heartbeats"):
    sequence_num: int


class SubscriptionsEvent(msgspec.Struct):
    subscriptions: dict[str, list[str]] = {}


class SubscriptionsMsg(msgspec.Struct, tag_field="channel", tag="subscriptions"):
    sequence_num: int
    events: list[SubscriptionsEvent] = []


ChannelMsg = L2Msg | TradesMsg | HeartbeatsMsg | SubscriptionsMsg


class Envelope(msgspec.Struct):
    """Fallback view of any frame: enough to count its sequence_num or read an error."""

    channel: str = ""
    sequence_num: int | None = None
    type: str = ""
    message: str = ""
