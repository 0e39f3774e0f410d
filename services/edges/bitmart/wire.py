"""msgspec Structs mirroring BitMart spot public WebSocket frames (only the fields read)."""

from __future__ import annotations

import msgspec


class BitmartData(msgspec.Struct):
    """One `data` item: a depth push (`spot/depth/increase100`) or a trade print (`spot/trade`)."""

    symbol: str = ""
    asks: list[list[str]] | None = None  # [px, absolute size]; "0" deletes
    bids: list[list[str]] | None = None
    type: str = ""  # depth: snapshot | update
    version: int | None = None  # depth: +1 per push per symbol
    ms_t: int = 0
    price: str = ""  # trade
    size: str = ""
    side: str = ""


class BitmartFrame(msgspec.Struct):
    table: str = ""  # data pushes: the channel without the symbol
    data: list[BitmartData] | None = None
    event: str = ""  # subscribe | unsubscribe | login (and `error` in older replies)
    topic: str = ""  # on acks: channel:symbol
    errorCode: int | str | None = None  # present only on a refusal ("90004")
    errorMessage: str = ""
    message: str = ""  # older refusals: {"event":"error","message":...,"errorCode":30039}
