"""msgspec Structs mirroring OKX v5 public WebSocket pushes (only the fields we read)."""

from __future__ import annotations

import msgspec


class OkxArg(msgspec.Struct):
    channel: str = ""
    instId: str = ""


class OkxData(msgspec.Struct):
    """One `data` item: a `books*` level set or a `trades` print (fields of the other stay unset)."""

    asks: list[list[str]] | None = None  # [px, sz, "0", numOrders]
    bids: list[list[str]] | None = None
    ts: str = "0"  # ms
    checksum: int | None = None  # signed CRC32, 0 = not sent
    seqId: int | None = None
    prevSeqId: int | None = None  # -1 on a snapshot
    instId: str = ""
    tradeId: str = ""
    px: str = ""
    sz: str = ""
    side: str = ""
    # funding-rate and mark-price (swaps)
    fundingRate: str = ""
    nextFundingRate: str = ""
    fundingTime: str = ""
    nextFundingTime: str = ""
    markPx: str = ""


class OkxFrame(msgspec.Struct):
    """Either an event (`subscribe`, `error`, `notice`...) or a push (`arg` + `data`)."""

    event: str | None = None
    arg: OkxArg | None = None
    action: str | None = None  # books: "snapshot" | "update"
    data: list[OkxData] | None = None
    code: str | int | None = None
    msg: str = ""
