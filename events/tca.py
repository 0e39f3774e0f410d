"""Transaction cost analysis: one report per completed order."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event, Side


class VenueMix(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    qty_1e8: int
    notional_usd_1e9: int
    avg_px_1e9: int
    fees_usd_1e9: int


class HopLatency(msgspec.Struct, frozen=True, kw_only=True):
    hop: Literal["accept_to_route", "route_to_send", "send_to_ack", "ack_to_fill"]
    ns: int


class TcaReported(Event, frozen=True, kw_only=True, tag="tca.report.v1"):
    graph_id: str
    node_id: str
    node_order_id: str
    symbol: str
    side: Side
    filled_qty_1e8: int
    arrival_mid_px_1e9: int
    achieved_vwap_1e9: int
    benchmark_vwap_1e9: int
    # The *_bps floats are written for older readers only; the integer *_ppm fields below are
    # the same figures (100 ppm = 1 bp) and the ones read.
    implementation_shortfall_bps: float = 0.0
    slippage_bps: float = 0.0
    fees_usd_1e9: int
    fees_bps: float = 0.0
    best_single_venue: str | None
    single_venue_vwap_1e9: int | None
    savings_vs_single_venue_bps: float | None = None
    savings_usd_1e9: int | None
    venue_mix: list[VenueMix]
    fill_count: int
    latencies: list[HopLatency]
    interval_twap_1e9: int | None = None
    interval_vwap_1e9: int | None = None
    # TWAP/VWAP parents only (services/tca/interval.py): the interval [first accept, completion]
    # and the achieved VWAP against the market's interval benchmarks (signed: worse is positive).
    interval_start_ns: int | None = None
    interval_end_ns: int | None = None
    vs_interval_twap_bps: float | None = None
    vs_interval_vwap_bps: float | None = None
    implementation_shortfall_ppm: int = 0
    slippage_ppm: int = 0
    fees_ppm: int = 0
    savings_vs_single_venue_ppm: int | None = None
    vs_interval_twap_ppm: int | None = None
    vs_interval_vwap_ppm: int | None = None


class VenueScored(Event, frozen=True, kw_only=True, tag="tca.venue_scored.v1"):
    """How one venue has been executing one symbol for us: exponential moving averages over our
    own children (`services.tca.scoring`), published when a score moves materially.

    Tenant-independent (`tenant` is ""): venue quality is the venue's, and pooling every tenant's
    children gives the router more samples. It carries only aggregates, never an order or a
    tenant. Sandbox and live children are scored apart (`is_sandbox`): simulated fills must never
    steer live routing.

    * latency_ema_ns: child sent (ChildSubmitted, else ChildAllocated) to venue ack, the same
      measure as the TCA report's send_to_ack hop; None before the first ack.
    * fill_rate_ppm: filled / allocated qty of marketable (IOC/FOK) children, 1_000_000 = all.
    * realised_slippage_ppm: a child's fill VWAP against the price the plan expected at this
      venue, signed worse-for-us > 0 (100 ppm = 1 bp).
    * *_samples count what fed each average; each moves alpha_num/alpha_den of the way to every
      new sample; first/last_sample_ns bound the samples seen.
    """

    venue: str
    symbol: str
    is_sandbox: bool
    latency_ema_ns: int | None
    fill_rate_ppm: int | None
    realised_slippage_ppm: int | None
    latency_samples: int
    fill_samples: int
    slippage_samples: int
    alpha_num: int
    alpha_den: int
    first_sample_ns: int
    last_sample_ns: int


TCA_EVENTS = (TcaReported, VenueScored)
