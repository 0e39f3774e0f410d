"""The hot market projection: per-venue books, consolidated book, NBBO; rebuild = live."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import msgspec
import pytest

from events import new_event_id
from events.market import BookDeltaBatch, BookSnapshot, NbboChanged, VenueStatusChanged
from projections.market import MarketBooks
from services.bus import Bus
from services.errors import BusError
from services.edges import registry
from services.edges.runtime import EdgeRunner
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.md.service import NbboPublisher
from tests.stack import EDGE_TIMING, freeze

BTC = 97_000_000_000_000


def snap(venue: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], symbol: str = "BTC-USDT") -> BookSnapshot:
    return BookSnapshot(event_id=new_event_id(), ts_ns=1, venue=venue, symbol=symbol, bids=bids, asks=asks, ts_recv_ns=5)


def delta(venue: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]], truncate: int = 0) -> BookDeltaBatch:
    return BookDeltaBatch(
        event_id=new_event_id(), ts_ns=2, venue=venue, symbol="BTC-USDT", bids=bids, asks=asks, truncate_depth=truncate
    )


def status(venue: str, state: str, symbol: str = "") -> VenueStatusChanged:
    return VenueStatusChanged(event_id=new_event_id(), ts_ns=3, venue=venue, state=state, symbol=symbol, reason="x")  # type: ignore[arg-type]


def test_nbbo_takes_the_best_usable_venue_per_side_and_sums_ties() -> None:
    books = MarketBooks()
    books.apply(snap("okx", [(BTC, 5), (BTC - 10, 7)], [(BTC + 20, 3)]))
    books.apply(snap("binance", [(BTC, 2)], [(BTC + 10, 4)]))
    nbbo = books.nbbo("BTC-USDT")
    assert nbbo is not None
    assert (nbbo.bid_px_1e9, nbbo.bid_qty_1e8, nbbo.bid_venue) == (BTC, 7, "binance")
    assert (nbbo.ask_px_1e9, nbbo.ask_qty_1e8, nbbo.ask_venue) == (BTC + 10, 4, "binance")
    bids, asks = books.consolidated("BTC-USDT", 3)
    assert bids == [(BTC, 2, "binance"), (BTC, 5, "okx"), (BTC - 10, 7, "okx")]
    assert asks == [(BTC + 10, 4, "binance"), (BTC + 20, 3, "okx")]


def test_stale_and_crossed_books_never_reach_the_nbbo() -> None:
    books = MarketBooks()
    books.apply(snap("okx", [(BTC, 5)], [(BTC + 20, 3)]))
    books.apply(snap("binance", [(BTC + 5, 2)], [(BTC + 10, 4)]))
    # binance's book goes stale (its edge saw a gap): only okx remains
    assert books.apply(status("binance", "stale", "BTC-USDT")) == ("BTC-USDT",)
    assert [v.venue for v in books.nbbo("BTC-USDT").venues] == ["okx"]
    # a delta for a stale book is not applied: it must wait for the resync snapshot
    assert books.apply(delta("binance", [(BTC + 50, 1)], [])) == ()
    # a crossed okx book is excluded too: nothing usable is left
    books.apply(delta("okx", [(BTC + 30, 1)], []))
    assert books.nbbo("BTC-USDT") is None
    assert books.consolidated("BTC-USDT", 5) == ([], [])
    # a snapshot makes binance live again
    books.apply(snap("binance", [(BTC + 5, 2)], [(BTC + 10, 4)]))
    assert books.nbbo("BTC-USDT").bid_venue == "binance"


def test_venue_down_marks_all_its_books_stale_and_truncation_applies() -> None:
    books = MarketBooks()
    books.apply(snap("kraken", [(BTC, 1), (BTC - 1, 1), (BTC - 2, 1)], [(BTC + 1, 1)]))
    books.apply(delta("kraken", [(BTC - 3, 9)], [], truncate=2))
    assert books.books[("kraken", "BTC-USDT")].top(10)[0] == [(BTC, 1), (BTC - 1, 1)]
    books.apply(status("kraken", "down"))
    assert books.books[("kraken", "BTC-USDT")].stale
    assert books.nbbo("BTC-USDT") is None


VENUES = ["binance", "okx", "kraken"]


@pytest.fixture
async def market(bus: Bus) -> AsyncIterator[tuple[list[SimServer], list[EdgeRunner], NbboPublisher]]:
    protocols, instruments, adapters = registry.sim_protocols(), registry.sim_instruments(), registry.adapters()
    servers, runners = [], []
    for i, name in enumerate(VENUES):
        inst = [x for x in instruments[name] if x.symbol in ("BTC-USDT", "BTC-USD")][:1]
        server = await SimServer(protocols[name](), inst, tick_ms=20, seed=21 + i).start()
        adapter = adapters[name](VenueEndpoints(server.ws_url, server.rest_url))
        # No snapshot refresh: the audit below needs the log to stand still once the markets do.
        timing = dataclasses.replace(EDGE_TIMING, snapshot_refresh_s=3600.0)
        runner = EdgeRunner(adapter, [inst[0].symbol], BusSink(bus), timing=timing)
        await runner.start()
        servers.append(server)
        runners.append(runner)
    publisher = NbboPublisher(bus, tick_ms=10)
    await publisher.start()
    yield servers, runners, publisher
    await publisher.stop()
    for runner in runners:
        await runner.stop()
    for server in servers:
        await server.stop()


async def test_nbbo_from_live_edges_is_rebuilt_identically_from_the_log(
    bus: Bus, market: tuple[list[SimServer], list[EdgeRunner], NbboPublisher]
) -> None:
    servers, runners, publisher = market
    for runner in runners:
        start = runner.counters["updates"]
        await runner.wait_until(lambda r: r.counters["updates"] >= start + 10 and not r.is_stale(r.venue_symbols[0]))
    # Faults while the NBBO is being published: stale books must drop out, then come back.
    await servers[0].inject("gap")
    await servers[1].inject("bad_checksum")
    await runners[0].wait_until(lambda r: r.counters["integrity_failures"] >= 1)
    await runners[1].wait_until(lambda r: r.counters["integrity_failures"] >= 1)
    for runner in runners:
        start = runner.counters["updates"]
        await runner.wait_until(lambda r: r.counters["updates"] >= start + 20 and not r.is_stale(r.venue_symbols[0]))
    # Freeze the markets and let everything drain into the log and the publisher: every frame the
    # venues sent is handled and on the log (no edge may still be publishing while we audit).
    await freeze(bus, servers, runners)
    await publisher.follower.wait_caught_up()
    await publisher.flush()
    published_before = publisher.published_count
    assert published_before > 10

    # Quiet markets publish nothing.
    assert await publisher.flush() == 0

    # Audit: refold the MD log; every NBBO event equals the fold at the sequence it names,
    # lists only uncrossed venue books, and the final fold equals the live projection.
    log = [d async for d in bus.replay("MD", ["md.>", "nbbo.>"])]
    pending = sorted((d.event for d in log if isinstance(d.event, NbboChanged)), key=lambda e: e.md_seq)
    replayed = MarketBooks()
    checked = 0
    for d in log:
        if isinstance(d.event, NbboChanged):
            continue
        while pending and pending[0].md_seq < d.seq:
            checked += _check_nbbo(replayed, pending.pop(0))
        replayed.apply(d.event, d.seq)
    for e in pending:
        checked += _check_nbbo(replayed, e)
    assert checked == published_before
    assert replayed.dump() == publisher.books.dump()
    for server in servers:
        server.resume()


def _check_nbbo(fold: MarketBooks, event: NbboChanged) -> int:
    nbbo = fold.nbbo(event.symbol)
    if not event.venues:  # "no usable venue": every book of the symbol was stale or crossed
        assert nbbo is None and event.bid_px_1e9 == event.ask_px_1e9 == 0
        return 1
    assert nbbo is not None, f"NBBO published at md seq {event.md_seq} with no usable book in the log"
    assert (nbbo.bid_px_1e9, nbbo.bid_qty_1e8, nbbo.ask_px_1e9, nbbo.ask_qty_1e8) == (
        event.bid_px_1e9,
        event.bid_qty_1e8,
        event.ask_px_1e9,
        event.ask_qty_1e8,
    )
    assert [v.venue for v in nbbo.venues] == [v.venue for v in event.venues]
    for v in event.venues:
        assert not fold.books[(v.venue, event.symbol)].stale
        assert v.bid_px_1e9 < v.ask_px_1e9 or not v.ask_px_1e9 or not v.bid_px_1e9
    return 1


def test_spot_and_perps_of_one_exchange_share_its_venue_id_and_go_stale_apart() -> None:
    books = MarketBooks()
    books.apply(snap("binance", [(BTC, 2)], [(BTC + 10, 4)]))
    books.apply(snap("binance", [(BTC + 50, 2)], [(BTC + 60, 4)], symbol="BTC-USDT-PERP"))
    for kind in ("spot", "perp"):
        books.apply(msgspec.structs.replace(status("binance", "connected"), instrument_type=kind))
    assert books.venues_for("BTC-USDT") == books.venues_for("BTC-USDT-PERP") == ["binance"]
    assert set(books.venue_state) == {("binance", "spot"), ("binance", "perp")}
    # The perp edge going down takes only the perp book with it.
    changed = books.apply(msgspec.structs.replace(status("binance", "down"), instrument_type="perp"))
    assert changed == ("BTC-USDT-PERP",)
    assert books.nbbo("BTC-USDT") is not None and books.nbbo("BTC-USDT-PERP") is None
    assert books.venue_state[("binance", "spot")].state == "connected"


def test_an_old_perp_edge_id_in_the_log_shows_under_its_exchange() -> None:
    books = MarketBooks()
    books.apply(snap("binance", [(BTC, 2)], [(BTC + 10, 4)]))
    books.apply(snap("binance_usdm", [(BTC + 50, 2)], [(BTC + 60, 4)], symbol="BTC-USDT-PERP"))
    assert books.venues_for("BTC-USDT-PERP") == ["binance"] and ("binance_usdm", "BTC-USDT-PERP") not in books.books
    # Its old venue-wide status covered only its perps: the spot book stays usable.
    assert books.apply(status("binance_usdm", "down")) == ("BTC-USDT-PERP",)
    assert books.nbbo("BTC-USDT") is not None
    assert books.venue_state[("binance", "perp")].venue == "binance"


class GatedBus:
    """The real bus, with its first `publish_many` held until the test opens the gate (or made
    to fail): a publish that is slow, or lost, at a moment the test chooses."""

    def __init__(self, bus: Bus, fail: bool = False) -> None:
        self.bus, self.fail = bus, fail
        self.entered, self.gate = asyncio.Event(), asyncio.Event()
        self.calls = 0

    async def publish_many(self, events: list[NbboChanged]) -> object:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.gate.wait()
            if self.fail:
                raise BusError("no JetStream answer")
        return await self.bus.publish_many(events)


async def test_a_flush_waits_for_the_one_in_flight_so_the_log_ends_on_the_current_nbbo(bus: Bus) -> None:
    # Arrange: a flush whose publish is held; meanwhile the NBBO moves and a second flush starts.
    publisher = NbboPublisher(bus, tick_ms=10)
    gated = GatedBus(bus)
    publisher.bus = gated  # type: ignore[assignment]
    publisher._apply(snap("okx", [(BTC, 5)], [(BTC + 20, 3)]), 1)
    first = asyncio.create_task(publisher.flush())
    await gated.entered.wait()
    publisher._apply(snap("okx", [(BTC + 5, 5)], [(BTC + 20, 3)]), 2)
    second = asyncio.create_task(publisher.flush())
    # Act
    gated.gate.set()
    counts = await asyncio.gather(first, second)
    # Assert: both NBBOs are on the log, in the order of the books (the newer last), and counted.
    log = [d.event async for d in bus.replay("MD", ["nbbo.>"])]
    assert [e.bid_px_1e9 for e in log if isinstance(e, NbboChanged)] == [BTC, BTC + 5]
    assert counts == [1, 1] and publisher.published_count == 2


async def test_an_nbbo_whose_publish_failed_is_published_again(bus: Bus) -> None:
    publisher = NbboPublisher(bus, tick_ms=10)
    gated = GatedBus(bus, fail=True)
    publisher.bus = gated  # type: ignore[assignment]
    publisher._apply(snap("okx", [(BTC, 5)], [(BTC + 20, 3)]), 1)
    gated.gate.set()
    with pytest.raises(BusError):
        await publisher.flush()
    # The next tick publishes it: it was never stored, so it is not "already published".
    assert await publisher.flush() == 1
    log = [d.event async for d in bus.replay("MD", ["nbbo.>"])]
    assert [e.bid_px_1e9 for e in log if isinstance(e, NbboChanged)] == [BTC]
