"""msgspec Structs mirroring Bitget public WebSocket pushes, v2 and legacy v1 (only fields read)."""

from __future__ import annotations

import msgspec


class BitgetArg(msgspec.Struct):
    instType: str = ""  # v2 SPOT | USDT-FUTURES | ...; legacy v1 sp | mc
    channel: str = ""
    instId: str = ""


class BitgetData(msgspec.Struct):
    """One `data` object: a `books*` level set or a v2 `trade` print."""

    asks: list[list[str]] | None = None  # [px, sz]
    bids: list[list[str]] | None = None
    ts: str = "0"  # ms
    checksum: int | None = None  # signed CRC32; 0 on v2 snapshots = not sent
    seq: int | None = None  # v2 only
    pseq: int | None = None  # v2 `books` only, when present: the previous seq
    price: str = ""
    size: str = ""
    side: str = ""
    tradeId: str = ""


# v1 trades are arrays [ts, px, sz, side]; msgspec allows one array and one object type in a union
BitgetItem = BitgetData | list[str]


class BitgetFrame(msgspec.Struct):
    event: str | None = None  # subscribe | unsubscribe | error | login
    arg: BitgetArg | None = None
    action: str | None = None  # snapshot | update
    data: list[BitgetItem] | None = None
    code: int | str | None = None
    msg: str = ""
