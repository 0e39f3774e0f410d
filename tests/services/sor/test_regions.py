"""The router's region view: a remote venue's latency is its own (measured, else estimated) plus
the measured RTT to the region of its edge (nats/regions/layout.json)."""

from __future__ import annotations

from events import new_event_id
from events.regions import RegionRttMeasured
from projections.market import MarketBooks
from services.sor import SorParams, VenueBook, VenueScore, plan_order
from services.sor.regions import RegionLatency

U = 10**8
P = 10**9


def rtt(a: str, b: str, ns: int) -> RegionRttMeasured:
    return RegionRttMeasured(event_id=new_event_id(), ts_ns=1, from_region=a, to_region=b, rtt_ns=ns)


def test_local_venues_cost_nothing_remote_ones_their_last_measured_rtt() -> None:
    market = MarketBooks()
    regions = RegionLatency(market, "ap")
    # okx's edge runs in AP, bitmart's in EU, coinbase's in NA (layout.json).
    assert regions.rtt_ns("okx") == 0
    assert regions.measured_ns("bitmart") is None
    assert regions.rtt_ns("bitmart") == RegionLatency.UNMEASURED_NS  # far until measured, never free
    market.apply(rtt("ap", "eu", 90_000_000))
    market.apply(rtt("ap", "eu", 80_000_000))  # the latest measurement counts
    market.apply(rtt("na", "eu", 1))  # another region's view: not AP's
    assert regions.rtt_ns("bitmart") == 80_000_000
    assert regions.rtt_ns("coinbase") == RegionLatency.UNMEASURED_NS


def test_the_region_rtt_adds_to_a_measured_venue_latency() -> None:
    # a is 2 bp cheaper; both measured at 1 ms by TCA; a is 60 ms further (another region).
    params = SorParams(latency_penalty_ppm_per_ms=5)  # 60 ms = 300 ppm > 200 ppm of price
    a = VenueBook(venue="a", levels=[(99_980_000_000, U)], taker_fee_ppm=0, region_rtt_ns=60_000_000)
    b = VenueBook(venue="b", levels=[(100 * P, U)], taker_fee_ppm=0)
    scores = {v: VenueScore(latency_ns=1_000_000) for v in ("a", "b")}
    plan = plan_order("buy", U // 100, [a, b], arrival_mid_px_1e9=100 * P, params=params, scores=scores)
    assert [x.venue for x in plan.allocations] == ["b"]
    near = VenueBook(venue="a", levels=[(99_980_000_000, U)], taker_fee_ppm=0, region_rtt_ns=20_000_000)
    plan = plan_order("buy", U // 100, [near, b], arrival_mid_px_1e9=100 * P, params=params, scores=scores)
    assert [x.venue for x in plan.allocations] == ["a"]  # 20 ms = 100 ppm < 200 ppm of price
