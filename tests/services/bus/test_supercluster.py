"""The three-region supercluster (one node per region, gateways with TLS, one account per region):
market data of a venue whose edge runs in EU reaches NA's router through NA's MD stream (sourced
over the gateway), and with latency injected between EU and AP (a delay proxy on both gateway
connections) AP's prober measures it and AP's router charges it: a small order goes to the local
venue while the remote one is a little cheaper, and to the remote one when its price gain
exceeds the latency cost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from events import AnyEvent, new_event_id
from events.market import BookSnapshot
from projections.market import MarketBooks
from projections.market_follower import MarketFollower
from services.bus import Bus
from services.bus.writer import as_writer
from services.refdata import instrument_rules
from services.regions import default_layout
from services.regions.link import link_sources
from services.regions.prober import RegionProber
from services.risk import rules_book
from services.sor import RoutePlan, plan_order
from services.sor.books import venue_books
from services.sor.config import ROUTER_PARAMS
from services.sor.regions import RegionLatency
from tests.cluster import ensure_replicated_streams
from tests.regions import Supercluster, start_supercluster

DELAY_S = 0.04  # each way between EU and AP: a round trip of at least 80 ms
REGIONS = ("na", "eu", "ap")
WAIT_S = 20.0
PX = 100_000 * 10**9


@pytest.fixture(scope="module")
def supercluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Supercluster]:
    root = tmp_path_factory.mktemp("supercluster")
    cluster = start_supercluster(root / "nats", root / "data", delay=("eu", "ap", DELAY_S))
    try:
        async def streams() -> None:
            for region in REGIONS:  # as each region's admin, placed on its own node
                await ensure_replicated_streams(cluster.settings(region))
            for region in REGIONS:
                admin = await Bus.connect(cluster.settings(region), name=f"admin-{region}", user="admin")
                try:
                    assert await link_sources(admin, timeout_s=WAIT_S) == ["MD"]
                finally:
                    await admin.close()

        asyncio.run(streams())
        yield cluster
    finally:
        cluster.stop()


class Watched:
    """A region's router view of market data (MarketBooks fed by a MarketFollower), with a way
    to wait for a condition on it."""

    def __init__(self) -> None:
        self.market = MarketBooks()
        self.changed = asyncio.Event()

    def apply(self, event: AnyEvent, seq: int) -> object:
        out = self.market.apply(event, seq)
        self.changed.set()
        return out

    async def until(self, done: Callable[[MarketBooks], bool], timeout_s: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while not done(self.market):
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def buses(supercluster: Supercluster) -> AsyncIterator[dict[str, dict[str, Bus]]]:
    """region -> user -> a connection as that region's user."""
    out: dict[str, dict[str, Bus]] = {}
    try:
        for region in REGIONS:
            settings = supercluster.settings(region)
            out[region] = {u: await Bus.connect(settings, name=f"{u}-{region}", user=u) for u in ("edge", "trader", "prober")}
        yield out
    finally:
        for users in out.values():
            for bus in users.values():
                await bus.close()


def snapshot(venue: str, symbol: str, ask_px_1e9: int, bid_px_1e9: int) -> BookSnapshot:
    return BookSnapshot(
        event_id=new_event_id(), ts_ns=1, venue=venue, symbol=symbol,
        bids=[(bid_px_1e9, 10**8)], asks=[(ask_px_1e9, 10**8)],
    )


async def test_market_data_of_a_venue_in_eu_reaches_the_router_in_na(
    supercluster: Supercluster, buses: dict[str, dict[str, Bus]]
) -> None:
    # Arrange: kraken's edge runs in EU; NA's router follows NA's own MD stream.
    assert default_layout().region_of("kraken") == "eu"
    na = Watched()
    follower = MarketFollower(buses["na"]["trader"], na.apply)
    await follower.start()
    try:
        # Act: EU's edge appends a kraken book to EU's MD.
        await as_writer(buses["eu"]["edge"], "edge").publish(snapshot("kraken", "BTC-USD", PX + 10**9, PX - 10**9))
        # Assert: NA's router has it (sourced into NA's MD over the gateway), routable.
        await na.until(lambda m: "kraken" in m.by_symbol.get("BTC-USD", {}))
        rules = rules_book(instrument_rules())
        books = venue_books(na.market, rules, "BTC-USD", "buy")
        assert [(b.venue, b.levels[0][0]) for b in books] == [("kraken", PX + 10**9)]
    finally:
        await follower.stop()
    # ... and each region's streams sit on its own node (placement tag region:<id>).
    for region in REGIONS:
        info = await buses[region]["trader"].js.stream_info("MD")
        assert info.cluster is not None and info.cluster.name == region
        ledger = await buses[region]["trader"].js.stream_info("LEDGER")
        assert ledger.cluster is not None and ledger.cluster.name == region


def buy_plan(market: MarketBooks, region: str | None) -> RoutePlan:
    """AP's router's plan for a small BTC-USDT buy (with the RTT of `region`'s router, or none)."""
    rtt = RegionLatency(market, region).rtt_ns if region else None
    books = venue_books(market, rules_book(instrument_rules()), "BTC-USDT", "buy", None, region_rtt_ns=rtt)
    return plan_order("buy", 10**6, books, arrival_mid_px_1e9=PX, params=ROUTER_PARAMS)


async def test_the_router_charges_the_measured_rtt_to_a_remote_venue(
    supercluster: Supercluster, buses: dict[str, dict[str, Bus]]
) -> None:
    # Arrange: okx streams in AP (local to AP's router), bitmart in EU, behind the delayed gateway;
    # same taker fee. Every region's prober answers pings; AP's measures.
    layout = default_layout()
    assert (layout.region_of("okx"), layout.region_of("bitmart")) == ("ap", "eu")
    probers = [RegionProber(buses[r]["prober"], r, [o for o in REGIONS if o != r], interval_s=0.2) for r in REGIONS]
    ap = Watched()
    follower = MarketFollower(buses["ap"]["trader"], ap.apply)
    await follower.start()
    try:
        for prober in probers:
            await prober.start()
        # The remote venue 1 bp cheaper: less than what 80+ ms cost at 5 ppm/ms (400+ ppm).
        await as_writer(buses["ap"]["edge"], "edge").publish(snapshot("okx", "BTC-USDT", PX, PX - PX // 100))
        await as_writer(buses["eu"]["edge"], "edge").publish(snapshot("bitmart", "BTC-USDT", PX - PX // 10_000, PX - PX // 100))
        await ap.until(lambda m: {"okx", "bitmart"} <= set(m.by_symbol.get("BTC-USDT", {}))
                       and ("ap", "eu") in m.region_rtt_ns and ("ap", "na") in m.region_rtt_ns)

        # Assert: the measured RTT shows the injected latency on one gateway only.
        assert ap.market.region_rtt_ns[("ap", "eu")] >= 2 * int(DELAY_S * 1e9)
        assert ap.market.region_rtt_ns[("ap", "na")] < int(DELAY_S * 1e9)
        # Without the RTT the remote venue's 1 bp wins; with it, the local venue does.
        assert [a.venue for a in buy_plan(ap.market, None).allocations] == ["bitmart"]
        local = buy_plan(ap.market, "ap")
        assert [a.venue for a in local.allocations] == ["okx"]

        # Act: the remote venue becomes 20 bp cheaper (2,000 ppm: more than the RTT's cost).
        await as_writer(buses["eu"]["edge"], "edge").publish(snapshot("bitmart", "BTC-USDT", PX - PX // 500, PX - PX // 100))
        await ap.until(lambda m: m.by_symbol["BTC-USDT"]["bitmart"].best_ask() == (PX - PX // 500, 10**8))
        remote = buy_plan(ap.market, "ap")
        # Assert: the price gain beats the latency cost, which the plan still carries.
        assert [a.venue for a in remote.allocations] == ["bitmart"]
        assert remote.allocations[0].latency_penalty_usd_1e9 > local.allocations[0].latency_penalty_usd_1e9
    finally:
        for prober in probers:
            await prober.stop()
        await follower.stop()
