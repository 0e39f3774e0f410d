"""Build one TCA report from the facts of one completed node. Pure: no I/O, no clock.

Definitions (all bps are signed so that worse for us is positive, and are one correctly rounded
float of an exact integer ratio; all money stays integer):

* arrival mid: `PlanMade.arrival_mid_px_1e9`, the NBBO mid the router read when it routed the
  accepted order (the first plan of the node: a re-plan does not move the arrival).
* benchmark VWAP: the arrival-mid benchmark, i.e. `benchmark_vwap_1e9 == arrival_mid_px_1e9`.
  The log holds no market trade tape for the order's interval (MD is age-bounded and not part of
  a LEDGER rebuild), so the interval benchmarks below are for TWAP/VWAP parents only, scored by
  the live service, and stay None for every other order and in a rebuild from the log alone.
* gross = sum(px_1e9 * qty_1e8) over the fills (exact, units 1e-17 USD); base = mid * filled qty.
* achieved VWAP = gross / filled qty rounded half up: the same number the graph engine publishes
  as `NodeCompleted.avg_fill_px_1e9`, so an order shows one VWAP everywhere. Per-venue
  `avg_px_1e9` rounds the same way.
* slippage_bps (price only) = (gross - base) / base * 1e4 for a buy, (base - gross) / base * 1e4
  for a sell.
* implementation_shortfall_bps = slippage plus fees: ((gross - base) + fees * 1e8) / base * 1e4
  for a buy, ((base - gross) + fees * 1e8) / base * 1e4 for a sell. It covers the filled
  quantity only (no opportunity cost for an unfilled rest: the orders routed here are marketable).
* fees_usd_1e9 = the sum of the fills' fees (venue facts, not recomputed); fees_bps = fees * 1e8
  / gross * 1e4.
* notional (USD_1e9, per venue and total) rounds against us like the SOR and the sandbox: up for
  a buy (paid), down for a sell (received).
* actual cost (signed "cost to us", as in `services.sor`): +notional + fees for a buy,
  -notional + fees for a sell.
* counterfactual: `PlanMade.best_single_venue_cost_usd_1e9`, the SOR's cost of sweeping only
  the best single venue on the same book snapshot, on the actual cost's model: price + taker fee,
  rounded like the fills' notional and fees, and without the router's latency and score
  penalties (an actual fill never carries them; with them every order "saved" about the
  penalty). So a route identical to the best single venue, filled as planned, saves exactly 0.
  An order that traded only on the best single venue, its whole quantity, *is* the
  counterfactual: its actual cost stands in for the snapshot estimate, so it saves exactly 0 even
  when the book moved between the plan and the fills (that move is not a routing saving).
  savings_usd_1e9 = counterfactual - actual cost (the sign convention of "cost to us"
  mirrors it for a sell: more proceeds is a saving). savings bps = savings * 1e8 / gross * 1e4.
* every rate is published as an integer `*_ppm` (the same ratio * 1e6, rounded half up; 100 ppm
  = 1 bp), which is what readers use; the float `*_bps` fields are kept for older readers only.
  `single_venue_vwap_1e9` is that venue's all-in unit cost: |cost| * 1e8 / qty, rounded against us
  (up for a buy, down for a sell). The comparison needs the counterfactual's quantity to equal the
  filled quantity; `PlanMade` does not carry that quantity, so the caller passes it when known
  (`single_venue_qty_1e8`) and otherwise the filled quantity is assumed. When it differs the
  savings are None (two different quantities cannot be compared).
* latency per hop, from the first event of each stage: accept (NodeActivated) -> route (PlanMade)
  -> child sent (the first ChildSubmitted, else the first ChildAllocated: the router's send) ->
  venue ack (the first ChildAcked) -> fill (the first FillRecorded). Venue-side stages use
  `ts_event_ns` when the venue gave one, else the event's `ts_ns`. A hop with a missing end is
  left out.
* interval benchmarks (TWAP/VWAP parents, `interval=True`): the report carries the interval
  [first accept, completion] = [NodeActivated.ts_ns, NodeCompleted.ts_ns]; the market's
  interval TWAP and VWAP over it come from the TCA service's own market record
  (`services.tca.interval`) and are scored by `score_interval`: vs_interval_*_bps = (achieved
  VWAP - benchmark) / benchmark * 1e4 for a buy, (benchmark - achieved VWAP) / benchmark * 1e4
  for a sell, from the achieved VWAP as published (the one VWAP an order shows everywhere). A
  missing benchmark leaves its fields None.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from events.base import Side
from events.execution import ChildAcked, ChildSubmitted, FillRecorded
from events.graph import NodeActivated, NodeCompleted
from events.routing import ChildAllocated, PlanMade
from events.tca import HopLatency, TcaReported, VenueMix
from services.tca.errors import TcaInputError

_PER_USD_1E9 = 10**8  # px_1e9 * qty_1e8 / 1e8 = USD_1e9
_BPS = 10_000
_PPM = 1_000_000  # 100 ppm = 1 bp


def half_up(num: int, den: int) -> int:
    """num / den rounded half up (den > 0): how TCA rounds every average price."""
    return (2 * num + den) // (2 * den)


def _notional(side: Side, gross: int) -> int:
    # What we pay rounds up, what we receive rounds down (against us, like services.sor).
    return -(-gross // _PER_USD_1E9) if side == "buy" else gross // _PER_USD_1E9


def _bps(num: int, den: int) -> float:
    # The float copy older readers of TcaReported get; `_ppm` is the figure that is read.
    return num * _BPS / den  # int / int: one correctly rounded float


def _ppm(num: int, den: int) -> int:
    return half_up(num * _PPM, den)


def ppm_as_bps(ppm: int | None) -> float | None:
    """A report's integer rate in the basis points the API shows (100 ppm = 1 bp)."""
    return None if ppm is None else ppm / (_PPM // _BPS)


# Each float field of TcaReported and the integer field that carries the same figure.
BPS_FROM_PPM = {
    "implementation_shortfall_bps": "implementation_shortfall_ppm",
    "slippage_bps": "slippage_ppm",
    "fees_bps": "fees_ppm",
    "savings_vs_single_venue_bps": "savings_vs_single_venue_ppm",
    "vs_interval_twap_bps": "vs_interval_twap_ppm",
    "vs_interval_vwap_bps": "vs_interval_vwap_ppm",
}


def _venue_ts(event: ChildAcked | FillRecorded) -> int:
    return event.ts_event_ns or event.ts_ns


def build_report(
    *,
    activation: NodeActivated,
    completed: NodeCompleted,
    plan: PlanMade,
    fills: Sequence[FillRecorded],
    children: Sequence[ChildAllocated] = (),
    submitted: Sequence[ChildSubmitted] = (),
    acks: Sequence[ChildAcked] = (),
    event_id: str,
    single_venue_qty_1e8: int | None = None,
    interval: bool = False,
) -> TcaReported:
    """Return the report of one completed node; `event_id` is the new event's id (the caller derives it).

    The new event's time is the completion's, so a rebuild from the log gives the same bytes.
    Fills are deduplicated by `fill_id`. Raises TcaInputError without fills or on mixed nodes.
    """
    key = (completed.graph_id, completed.node_id)
    inputs: tuple[NodeActivated | PlanMade | FillRecorded | ChildAllocated | ChildSubmitted, ...]
    inputs = (activation, plan, *fills, *children, *submitted)
    for event in inputs:
        if (event.graph_id, event.node_id) != key:
            raise TcaInputError(f"{type(event).__name__} belongs to {(event.graph_id, event.node_id)}, not {key}")
    unique: dict[str, FillRecorded] = {}
    for fill in fills:
        unique.setdefault(fill.fill_id, fill)
    fills = list(unique.values())
    if not fills:
        raise TcaInputError(f"node {key} has no fills")
    side: Side = plan.side
    qty = sum(f.qty_1e8 for f in fills)
    gross = sum(f.px_1e9 * f.qty_1e8 for f in fills)
    fees = sum(f.fee_usd_1e9 for f in fills)
    mid = plan.arrival_mid_px_1e9
    if mid <= 0:
        raise TcaInputError(f"node {key}: plan has no arrival mid ({mid})")
    base = mid * qty
    price_diff = gross - base if side == "buy" else base - gross
    notional = _notional(side, gross)
    actual_cost = (notional if side == "buy" else -notional) + fees

    single_vwap: int | None = None
    savings_usd: int | None = None
    savings_bps: float | None = None
    savings_ppm: int | None = None
    single_cost = plan.best_single_venue_cost_usd_1e9
    single_qty = qty if single_venue_qty_1e8 is None else single_venue_qty_1e8
    if plan.best_single_venue is not None and single_qty == qty and {f.venue for f in fills} == {plan.best_single_venue}:
        single_cost = actual_cost
    if plan.best_single_venue is not None and single_cost is not None and single_qty > 0:
        scaled = abs(single_cost) * _PER_USD_1E9
        single_vwap = -(-scaled // single_qty) if side == "buy" else scaled // single_qty
        if single_qty == qty:
            savings_usd = single_cost - actual_cost
            savings_bps = _bps(savings_usd * _PER_USD_1E9, gross)
            savings_ppm = _ppm(savings_usd * _PER_USD_1E9, gross)

    by_venue: dict[str, list[FillRecorded]] = {}
    for fill in fills:
        by_venue.setdefault(fill.venue, []).append(fill)
    mix = []
    for venue in sorted(by_venue):
        vf = by_venue[venue]
        vq = sum(f.qty_1e8 for f in vf)
        vg = sum(f.px_1e9 * f.qty_1e8 for f in vf)
        mix.append(
            VenueMix(
                venue=venue,
                qty_1e8=vq,
                notional_usd_1e9=_notional(side, vg),
                avg_px_1e9=half_up(vg, vq),
                fees_usd_1e9=sum(f.fee_usd_1e9 for f in vf),
            )
        )

    sent = [e.ts_ns for e in submitted] or [e.ts_ns for e in children]
    stages: list[int | None] = [
        activation.ts_ns,
        plan.ts_ns,
        min(sent) if sent else None,
        min(map(_venue_ts, acks)) if acks else None,
        min(map(_venue_ts, fills)),
    ]
    hops: tuple[Literal["accept_to_route", "route_to_send", "send_to_ack", "ack_to_fill"], ...] = (
        "accept_to_route",
        "route_to_send",
        "send_to_ack",
        "ack_to_fill",
    )
    latencies = [
        HopLatency(hop=hop, ns=end - start)
        for hop, start, end in zip(hops, stages, stages[1:])
        if start is not None and end is not None
    ]

    return TcaReported(
        event_id=event_id,
        ts_ns=completed.ts_ns,
        tenant=completed.tenant,
        causation_id=completed.event_id,
        correlation_id=completed.correlation_id,
        graph_id=completed.graph_id,
        node_id=completed.node_id,
        node_order_id=activation.node_order_id,
        symbol=plan.symbol,
        side=side,
        filled_qty_1e8=qty,
        arrival_mid_px_1e9=mid,
        achieved_vwap_1e9=half_up(gross, qty),
        benchmark_vwap_1e9=mid,
        implementation_shortfall_bps=_bps(price_diff + fees * _PER_USD_1E9, base),
        slippage_bps=_bps(price_diff, base),
        fees_usd_1e9=fees,
        fees_bps=_bps(fees * _PER_USD_1E9, gross),
        best_single_venue=plan.best_single_venue,
        single_venue_vwap_1e9=single_vwap,
        savings_vs_single_venue_bps=savings_bps,
        savings_usd_1e9=savings_usd,
        venue_mix=mix,
        fill_count=len(fills),
        latencies=latencies,
        interval_start_ns=activation.ts_ns if interval else None,
        interval_end_ns=completed.ts_ns if interval else None,
        implementation_shortfall_ppm=_ppm(price_diff + fees * _PER_USD_1E9, base),
        slippage_ppm=_ppm(price_diff, base),
        fees_ppm=_ppm(fees * _PER_USD_1E9, gross),
        savings_vs_single_venue_ppm=savings_ppm,
    )


def score_interval(report: TcaReported, twap_1e9: int | None, vwap_1e9: int | None) -> TcaReported:
    """The report with the market's interval TWAP/VWAP and the achieved VWAP scored against them."""

    def worse(benchmark: int | None) -> int | None:
        if benchmark is None or benchmark <= 0:
            return None
        diff = report.achieved_vwap_1e9 - benchmark
        return diff if report.side == "buy" else -diff

    def versus_bps(benchmark: int | None) -> float | None:
        diff = worse(benchmark)
        return None if diff is None or benchmark is None else _bps(diff, benchmark)

    def versus_ppm(benchmark: int | None) -> int | None:
        diff = worse(benchmark)
        return None if diff is None or benchmark is None else _ppm(diff, benchmark)

    return msgspec.structs.replace(
        report,
        interval_twap_1e9=twap_1e9,
        interval_vwap_1e9=vwap_1e9,
        vs_interval_twap_bps=versus_bps(twap_1e9),
        vs_interval_vwap_bps=versus_bps(vwap_1e9),
        vs_interval_twap_ppm=versus_ppm(twap_1e9),
        vs_interval_vwap_ppm=versus_ppm(vwap_1e9),
    )
