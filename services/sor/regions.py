"""The router's view of the regions: the measured RTT to the region of each venue's edge."""

from __future__ import annotations

from projections.market import MarketBooks
from services.regions import Layout, default_layout


class RegionLatency:
    """`rtt_ns(venue)`: 0 for a venue whose edge runs in this region, else the last
    `RegionRttMeasured` from here to its region (folded into `MarketBooks.region_rtt_ns`).
    A remote region not measured yet counts as `UNMEASURED_NS` away: far, not free."""

    UNMEASURED_NS = 250_000_000  # a round trip across the globe; replaced by the first measurement

    def __init__(self, market: MarketBooks, region: str, layout: Layout | None = None) -> None:
        self.market = market
        self.region = region
        self.layout = layout or default_layout()

    def region_of(self, venue: str) -> str:
        return self.layout.region_of(venue)

    def measured_ns(self, venue: str) -> int | None:
        """The RTT to `venue`'s region (0 when local, None when not measured yet)."""
        there = self.layout.region_of(venue)
        if there == self.region:
            return 0
        return self.market.region_rtt_ns.get((self.region, there))

    def rtt_ns(self, venue: str) -> int:
        measured = self.measured_ns(venue)
        return self.UNMEASURED_NS if measured is None else measured
