"""Kalshi WebSocket v2 payloads: only the fields the parser reads."""

from __future__ import annotations

import msgspec


class KalshiFrame(msgspec.Struct):
    """Every frame: `{"type", "id"?, "sid"?, "seq"?, "msg"}`; `msg` is decoded per type."""

    type: str
    id: int | None = None
    sid: int | None = None
    seq: int | None = None  # per subscription, +1 per message
    msg: msgspec.Raw = msgspec.Raw()


class KalshiSnapshot(msgspec.Struct):
    """`orderbook_snapshot` msg: bids only, per leg, as [price_dollars, count_fp]; an empty leg is omitted."""

    market_ticker: str
    yes_dollars_fp: list[tuple[str, str]] = []
    no_dollars_fp: list[tuple[str, str]] = []
    yes: msgspec.Raw = msgspec.Raw()  # legacy integer-cent levels: only detected, never used
    no: msgspec.Raw = msgspec.Raw()


class KalshiDelta(msgspec.Struct):
    """`orderbook_delta` msg: one level of one leg changes by a SIGNED count."""

    market_ticker: str
    price_dollars: str
    delta_fp: str
    side: str  # yes | no
    ts_ms: int = 0


class KalshiTrade(msgspec.Struct):
    """`trade` msg: one public print; the YES-leg price and the taker's leg."""

    market_ticker: str
    yes_price_dollars: str
    count_fp: str
    taker_side: str  # yes | no
    trade_id: str = ""
    ts: int = 0  # seconds
    ts_ms: int = 0


class KalshiSubscribed(msgspec.Struct):
    channel: str = ""
    sid: int = 0


class KalshiError(msgspec.Struct):
    code: int = 0
    msg: str = ""


class KalshiMarketMetadata(msgspec.Struct):
    """`additional_metadata` of a `created` lifecycle message."""

    title: str = ""
    name: str = ""
    event_ticker: str = ""
    rules_primary: str = ""


class KalshiLifecycle(msgspec.Struct):
    """`market_lifecycle_v2` msg: one market state change (created, activated, deactivated,
    close_date_updated, determined, settled, ...). Times are unix seconds."""

    market_ticker: str
    event_type: str
    open_ts: int = 0
    close_ts: int = 0
    result: str = ""  # determined / settled: yes | no (empty or other: void)
    determination_ts: int = 0
    settled_ts: int = 0
    additional_metadata: KalshiMarketMetadata | None = None
