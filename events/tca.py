"""Transaction cost analysis: one report per completed order."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event


class VenueMix(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    qty_1e8: int
    notional_usd_1e9: int
    avg_px_1e9: int
    fees_usd_1e9: int


class HopLatency(msgspec.Struct, frozen=True, kw_only=True):
    hop: Literal["accept_to_route", "route_to_send", "send_to_ack", "ack_to_fill"]
    ns: int


class TcaReported(Event, frozen=True, tag="tca.report.v1"):
    graph_id: str
    node_id: str
    node_order_id: str
    symbol: str
    side: Literal["buy", "sell"]
    filled_qty_1e8: int
    arrival_mid_px_1e9: int
    achieved_vwap_1e9: int
    benchmark_vwap_1e9: int
    implementation_shortfall_bps: float
    slippage_bps: float
    fees_usd_1e9: int
    fees_bps: float
    best_single_venue: str | None
    single_venue_vwap_1e9: int | None
    savings_vs_single_venue_bps: float | None
    savings_usd_1e9: int | None
    venue_mix: list[VenueMix]
    fill_count: int
    latencies: list[HopLatency]
    interval_twap_1e9: int | None = None
    interval_vwap_1e9: int | None = None


TCA_EVENTS = (TcaReported,)
