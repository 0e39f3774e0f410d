"""The RTT prober of one region: answers the other regions' pings and measures its own.

Every `interval_s` it sends `PINGS_PER_ROUND` requests to each other region's responder
(`rtt.<region>.ping`, a service that region's account exports: the request and its reply cross
the gateway both ways) and appends the median round trip, in integer ns, as a
`RegionRttMeasured` on `md._rtt.<here>.<there>` (the prober is that subject's one writer). A
region that does not answer within `timeout_s` gets no event: the router keeps the last one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from events import new_event_id
from events.regions import RegionRttMeasured
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.writer import as_writer
from services.errors import BusError
from services.regions import default_layout, ping_subject
from services.regions.link import link_sources
from services.settings import Settings

log = logging.getLogger("crossbook.regions")
PINGS_PER_ROUND = 3  # the median of three: one slow reply (a GC pause) does not move the route
DEFAULT_INTERVAL_S = 1.0


class RegionProber:
    def __init__(
        self,
        bus: Bus,
        region: str,
        peers: Sequence[str],
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        timeout_s: float = 2.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.bus = bus
        self.writer = as_writer(bus, "prober")
        self.region = region
        self.peers = tuple(peers)
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.clock_ns = clock_ns  # the events' ts_ns; round trips use the monotonic clock
        self.measured: dict[str, int] = {}  # peer -> last RTT appended
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._sub = await self.bus.nc.subscribe(ping_subject(self.region), cb=self._answer)
        await self.bus.nc.flush()
        self._task = asyncio.create_task(self._loop(), name=f"rtt-prober-{self.region}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _answer(self, msg: Msg) -> None:
        await msg.respond(b"")

    async def measure(self, peer: str) -> int | None:
        """The median of `PINGS_PER_ROUND` round trips to `peer` (None: it did not answer)."""
        samples = []
        for _ in range(PINGS_PER_ROUND):
            start = time.monotonic_ns()
            try:
                await self.bus.nc.request(ping_subject(peer), b"", timeout=self.timeout_s)
            except nats.errors.NoRespondersError:
                # Its prober is not up (or the gateway has not learnt its interest yet: the
                # first second after the regions start).
                log.info("region %s has no RTT responder yet", peer)
                return None
            except nats.errors.TimeoutError:
                log.warning("region %s did not answer %s's ping within %.1f s", peer, self.region, self.timeout_s)
                return None
            samples.append(time.monotonic_ns() - start)
        return sorted(samples)[len(samples) // 2]

    async def probe_once(self) -> dict[str, int]:
        """Measure every peer and append what was measured; peer -> RTT ns."""
        out = {}
        for peer in self.peers:
            rtt = await self.measure(peer)
            if rtt is None:
                continue
            event = RegionRttMeasured(
                event_id=new_event_id(), ts_ns=self.clock_ns(), from_region=self.region, to_region=peer, rtt_ns=rtt
            )
            await self.writer.publish(event)
            self.measured[peer] = out[peer] = rtt
        return out

    async def _loop(self) -> None:
        while True:
            try:
                await self.probe_once()
            except BusError as exc:  # the outermost loop: log and measure again next round
                log.error("RTT prober %s: %s", self.region, exc)
            await asyncio.sleep(self.interval_s)  # the probing period, not a synchronisation


async def run_prober(settings: Settings) -> None:
    from services.runtime import configure_logging, wait_for_shutdown

    configure_logging()
    if not settings.region:
        raise SystemExit("the RTT prober runs in a region: set CROSSBOOK_REGION (nats/regions/layout.json)")
    layout = default_layout()
    layout.region(settings.region)
    admin = await Bus.connect(settings, name=f"link-{settings.region}", user="admin")
    try:
        await admin.ensure_streams()
        log.info("region %s: sources added to %s", settings.region, await link_sources(admin) or "nothing (linked)")
    finally:
        await admin.close()  # the admin's credentials are needed for this step only
    bus = await Bus.connect(settings, name=f"prober-{settings.region}", user="prober")
    prober = RegionProber(bus, settings.region, [r for r in layout.regions if r != settings.region])
    await prober.start()
    log.info("RTT prober of region %s running", settings.region)
    await wait_for_shutdown()
    await prober.stop()
    await bus.close()
