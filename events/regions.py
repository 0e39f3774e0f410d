"""Facts about the bus between regions (the three-region supercluster, nats/regions/)."""

from __future__ import annotations

from events.base import Event


class RegionRttMeasured(Event, frozen=True, kw_only=True, tag="net.region_rtt.v1"):
    """One request/reply round trip from this region's prober to another region's, over the
    NATS gateway (services/regions/prober.py). The router adds it to the latency of every venue
    whose edge runs in `to_region` (a remote venue's latency = its own + the RTT to its region)."""

    from_region: str
    to_region: str
    rtt_ns: int


REGION_EVENTS = (RegionRttMeasured,)
