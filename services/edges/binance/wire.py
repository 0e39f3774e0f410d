"""Binance market-data payloads as msgspec Structs, declaring only the fields we read.

Spot and USD-M share the event shapes; USD-M depth adds `pu` and `T`. Events are a union
tagged by `e`; the combined-stream endpoint wraps them as `{"stream": ..., "data": ...}`.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct, field

Level = tuple[str, str]  # [price, quantity] as the venue's exact decimal strings


class Event(Struct, tag_field="e"):
    """Base of every stream event we consume (the tag is the `e` field)."""


class DepthUpdate(Event, tag="depthUpdate"):
    """`<sym>@depth@100ms`: fixtures ws_depth_diff_NKNUSDT.jsonl (spot), ws_depth_diff_SUSHIUSDT.jsonl (USD-M)."""

    symbol: str = field(name="s")
    first_update_id: int = field(name="U")
    final_update_id: int = field(name="u")
    bids: list[Level] = field(name="b")
    asks: list[Level] = field(name="a")
    event_ms: int = field(name="E", default=0)
    txn_ms: int = field(name="T", default=0)  # USD-M only
    prev_final_update_id: int | None = field(name="pu", default=None)  # USD-M only


class Trade(Event, tag="trade"):
    """`<sym>@trade`: fixture binance_spot/ws_trade.json."""

    symbol: str = field(name="s")
    trade_id: int = field(name="t")
    price: str = field(name="p")
    qty: str = field(name="q")
    trade_ms: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


class AggTrade(Event, tag="aggTrade"):
    """`<sym>@aggTrade`: fixtures binance_usdm/ws_agg_trade_stream.json, binance_spot/ws_agg_trade.json."""

    symbol: str = field(name="s")
    agg_id: int = field(name="a")
    price: str = field(name="p")
    qty: str = field(name="q")
    trade_ms: int = field(name="T")
    buyer_is_maker: bool = field(name="m")


AnyEvent = DepthUpdate | Trade | AggTrade
HANDLED_EVENTS = frozenset({"depthUpdate", "trade", "aggTrade"})


class Combined(Struct):
    """The `/stream?streams=` envelope around one event."""

    stream: str
    data: AnyEvent


class DepthSnapshot(Struct):
    """`GET /api/v3/depth` and `/fapi/v1/depth`: fixtures rest_depth_snapshot_{NKNUSDT,SUSHIUSDT}.json."""

    last_update_id: int = field(name="lastUpdateId")
    bids: list[Level]
    asks: list[Level]
    event_ms: int = field(name="E", default=0)  # USD-M only
    txn_ms: int = field(name="T", default=0)  # USD-M only


event_decoder = msgspec.json.Decoder(AnyEvent)
combined_decoder = msgspec.json.Decoder(Combined)
snapshot_decoder = msgspec.json.Decoder(DepthSnapshot)
