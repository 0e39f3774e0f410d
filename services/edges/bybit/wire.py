"""Bybit v5 public WebSocket payloads: only the fields the parser reads."""

from __future__ import annotations

import msgspec


class BybitFrame(msgspec.Struct):
    """Every public frame: a topic push (`topic`, `type`, `data`) or an op reply (`op`, `success`)."""

    topic: str = ""
    type: str = ""
    ts: int = 0  # ms, when the system generated the push
    data: msgspec.Raw = msgspec.Raw()  # decoded per topic
    op: str = ""
    success: bool | None = None
    ret_msg: str = ""
    req_id: str = ""


class BybitBook(msgspec.Struct):
    """`orderbook.{depth}.{symbol}` data: absolute sizes, "0" deletes."""

    s: str
    u: int  # update id, +1 per message per topic; 1 = service restart (treat as snapshot)
    b: list[tuple[str, str]] = []
    a: list[tuple[str, str]] = []
    seq: int = 0  # cross-depth sequence, not used for continuity


class BybitTrade(msgspec.Struct):
    """One `publicTrade.{symbol}` fill."""

    ts_ms: int = msgspec.field(name="T")
    symbol: str = msgspec.field(name="s")
    taker_side: str = msgspec.field(name="S")  # Buy | Sell, the aggressor
    qty: str = msgspec.field(name="v")
    px: str = msgspec.field(name="p")
    trade_id: str = msgspec.field(name="i", default="")
