"""Hyperliquid WebSocket / info payloads: only the fields the parser reads.

Frames are `{"channel": ..., "data": ...}`; the channel name is the tag of one typed decode.
"""

from __future__ import annotations

import msgspec


class Level(msgspec.Struct):
    px: str
    sz: str


class L2Book(msgspec.Struct):
    """The l2Book payload (WS `data`, and the whole body of POST /info {"type":"l2Book"})."""

    coin: str
    levels: tuple[list[Level], list[Level]]  # (bids best-first, asks best-first)
    time: int = 0  # ms


class Trade(msgspec.Struct):
    coin: str
    side: str  # "B" | "A": the taker's side
    px: str
    sz: str
    time: int = 0  # ms
    tid: int = 0


class L2BookMsg(msgspec.Struct, tag_field="channel", tag="l2Book"):
    data: L2Book


class TradesMsg(msgspec.Struct, tag_field="channel", tag="trades"):
    data: list[Trade]


class PongMsg(msgspec.Struct, tag_field="channel", tag="pong"):
    pass


class SubscriptionResponse(msgspec.Struct, tag_field="channel", tag="subscriptionResponse"):
    data: msgspec.Raw = msgspec.Raw(b"null")


class ErrorMsg(msgspec.Struct, tag_field="channel", tag="error"):
    data: str = ""


class PerpAssetCtx(msgspec.Struct):
    """The perp fields of an asset context (Hyperliquid docs: WsActiveAssetCtx / PerpsAssetCtx)."""

    funding: str  # the hourly rate, a signed fraction
    markPx: str
    oraclePx: str = ""
    openInterest: str = ""


class ActiveAssetCtx(msgspec.Struct):
    coin: str
    ctx: PerpAssetCtx


class ActiveAssetCtxMsg(msgspec.Struct, tag_field="channel", tag="activeAssetCtx"):
    data: ActiveAssetCtx


ChannelMsg = L2BookMsg | TradesMsg | ActiveAssetCtxMsg | PongMsg | SubscriptionResponse | ErrorMsg
