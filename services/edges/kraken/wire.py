"""Kraken WebSocket v2 payloads: only the fields the parser reads.

Prices and sizes are JSON numbers on the wire; `msgspec.Raw` keeps each number's exact text
(`1797.30` stays `1797.30`), so nothing ever passes through a float.
"""

from __future__ import annotations

import msgspec


class Level(msgspec.Struct):
    price: msgspec.Raw
    qty: msgspec.Raw


class BookEntry(msgspec.Struct):
    symbol: str
    checksum: int
    bids: list[Level] = []
    asks: list[Level] = []
    timestamp: str = ""


class Trade(msgspec.Struct):
    symbol: str
    side: str
    price: msgspec.Raw
    qty: msgspec.Raw
    trade_id: int = 0
    timestamp: str = ""


class Pair(msgspec.Struct):
    symbol: str
    price_precision: int
    qty_precision: int


class InstrumentData(msgspec.Struct):
    pairs: list[Pair] = []


class BookMsg(msgspec.Struct, tag_field="channel", tag="book"):
    type: str
    data: list[BookEntry]


class TradeMsg(msgspec.Struct, tag_field="channel", tag="trade"):
    type: str
    data: list[Trade]


class InstrumentMsg(msgspec.Struct, tag_field="channel", tag="instrument"):
    type: str
    data: InstrumentData


class HeartbeatMsg(msgspec.Struct, tag_field="channel", tag="heartbeat"):
    pass


class StatusMsg(msgspec.Struct, tag_field="channel", tag="status"):
    pass


ChannelMsg = BookMsg | TradeMsg | InstrumentMsg | HeartbeatMsg | StatusMsg


class AckResult(msgspec.Struct):
    channel: str = ""
    symbol: str = ""


class MethodMsg(msgspec.Struct):
    """Request responses (`subscribe`, `pong`, ...) and error replies."""

    method: str = ""
    success: bool | None = None
    error: str | None = None
    symbol: str | None = None
    result: AckResult | None = None
