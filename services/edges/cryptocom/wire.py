"""msgspec Structs mirroring Crypto.com Exchange v1 market-socket frames (only the fields read)."""

from __future__ import annotations

import msgspec


class CdcLevels(msgspec.Struct):
    asks: list[list[str]] | None = None  # [price, absolute qty, order count]
    bids: list[list[str]] | None = None


class CdcData(msgspec.Struct):
    """One `result.data` item: a book snapshot, a `book.update`, a trade, or a mark/index value."""

    asks: list[list[str]] | None = None  # snapshot levels
    bids: list[list[str]] | None = None
    update: CdcLevels | None = None  # book.update levels
    t: int = 0  # ms
    u: int | None = None  # book sequence after this message
    pu: int | None = None  # book.update: the previous u
    d: str = ""  # trade id
    p: str = ""  # trade price
    q: str = ""  # trade qty
    s: str = ""  # trade side BUY | SELL
    i: str = ""  # trade instrument


class CdcResult(msgspec.Struct):
    instrument_name: str = ""
    channel: str = ""  # book | book.update | trade | mark | index | funding ...
    data: list[CdcData] = []


class CdcFrame(msgspec.Struct):
    id: int = 0
    method: str = ""
    code: int = 0
    message: str = ""
    channel: str = ""  # on acks and errors: the requested subscription
    result: CdcResult | None = None
