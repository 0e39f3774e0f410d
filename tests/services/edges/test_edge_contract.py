"""One contract, every venue: the real edge runtime against the venue's local server over real
sockets. A gap, a corrupted checksum, a dropped connection and garbage frames are each detected,
the book goes stale, resyncs, and then equals the server's true book."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import websockets

from events.market import VenueStatusChanged

from services.edges import registry
from services.edges.runtime import EdgeRunner, EdgeTiming, MemorySink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueAdapter, VenueEndpoints

ADAPTERS = registry.adapters()
PROTOCOLS = registry.sim_protocols()
INSTRUMENTS = registry.sim_instruments()
VENUES = sorted(name for name in ADAPTERS if name in PROTOCOLS and INSTRUMENTS.get(name))

# Venues whose wire carries neither a sequence number nor a checksum: a dropped delta cannot be
# detected from the stream itself (Hyperliquid pushes full snapshots, so it heals on the next push;
# Polymarket's book hash algorithm is unpublished).
GAP_UNDETECTABLE = {"hyperliquid", "polymarket"}
COMPARE_DEPTH = 10


def has_checksum(adapter: VenueAdapter) -> bool:
    return type(adapter).checksum_ok is not VenueAdapter.checksum_ok


@pytest.fixture(params=VENUES)
async def edge(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EdgeRunner, SimServer, str]]:
    name = request.param
    instruments = INSTRUMENTS[name][:1]
    server = SimServer(PROTOCOLS[name](), instruments, tick_ms=20, heartbeat_s=0.5, seed=11)
    await server.start()
    adapter = ADAPTERS[name](VenueEndpoints(server.ws_url, server.rest_url))
    runner = EdgeRunner(
        adapter,
        [instruments[0].symbol],
        MemorySink(),
        # assert_equals_server pauses the venue: its silence must not read as a dead wire.
        timing=EdgeTiming(reconnect_base_s=0.05, reconnect_max_s=0.5, silence_timeout_s=300.0, snapshot_retry_s=0.1),
    )
    await runner.start()
    venue_symbol = adapter.to_venue(instruments[0].symbol)
    yield runner, server, venue_symbol
    await runner.stop()
    await server.stop()


def live(vs: str, min_updates: int) -> object:
    return lambda r: r.connected and not r.is_stale(vs) and r.counters["updates"] >= min_updates


async def assert_equals_server(runner: EdgeRunner, server: SimServer, vs: str) -> None:
    """Freeze the market, let the edge drain what was sent, then compare top levels."""
    await server.pause()
    try:
        [conn] = server.conns
        await runner.wait_until(
            lambda r: r.session_frames >= conn.frames_sent and not r.is_stale(vs), timeout=20
        )
        depth = min(COMPARE_DEPTH, runner.adapter.depth)
        (_, bids, asks), *_ = runner.adapter.derive_books(vs, runner.books[vs].book, depth)
        truth = server.true_book(vs)
        assert bids == truth.bids(depth)
        assert asks == truth.asks(depth)
        assert not runner.books[vs].book.is_crossed()
    finally:
        server.resume()


async def test_streams_a_book_equal_to_the_venue(edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, vs = edge
    await runner.wait_until(live(vs, 20))
    await assert_equals_server(runner, server, vs)
    assert runner.counters["integrity_failures"] == 0
    assert runner.counters["bad_frames"] == 0


async def test_gap_is_detected_and_resynced(edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, vs = edge
    if runner.venue in GAP_UNDETECTABLE:
        pytest.skip(f"{runner.venue} has no sequence number or checksum to detect a dropped delta")
    await runner.wait_until(live(vs, 5))
    # A checksum-only venue (Kraken) cannot see a dropped delta that touched only levels past
    # its checksum depth: that book is still right. Drop deltas until one matters.
    for _ in range(20):
        await server.inject("gap", vs)
        try:
            await runner.wait_until(lambda r: r.counters["integrity_failures"] >= 1, timeout=2)
            break
        except TimeoutError:
            continue
    assert runner.counters["integrity_failures"] >= 1
    assert runner.counters["resyncs"] + runner.counters["disconnects"] >= 1
    await runner.wait_until(live(vs, runner.counters["updates"] + 5))
    await assert_equals_server(runner, server, vs)


async def test_corrupt_checksum_is_detected_and_resynced(edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, vs = edge
    if not has_checksum(runner.adapter):
        pytest.skip(f"{runner.venue} sends no book checksum")
    await runner.wait_until(live(vs, 5))
    await server.inject("bad_checksum", vs)
    await runner.wait_until(lambda r: r.counters["integrity_checksum"] >= 1)
    await runner.wait_until(live(vs, runner.counters["updates"] + 5))
    await assert_equals_server(runner, server, vs)


async def test_dropped_connection_reconnects_and_resyncs(edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, vs = edge
    await runner.wait_until(live(vs, 5))
    snapshots = runner.counters["snapshots"]
    await server.inject("close")
    await runner.wait_until(lambda r: r.counters["reconnects"] >= 1)
    await runner.wait_until(lambda r: r.counters["snapshots"] > snapshots and not r.is_stale(vs))
    await runner.wait_until(live(vs, runner.counters["updates"] + 5))
    await assert_equals_server(runner, server, vs)


async def test_garbage_frames_are_counted_and_the_edge_keeps_running(edge: tuple[EdgeRunner, SimServer, str]) -> None:
    runner, server, vs = edge
    await runner.wait_until(live(vs, 5))
    await server.inject("garbage")
    await runner.wait_until(lambda r: r.counters["bad_frames"] >= 2)
    await runner.wait_until(live(vs, runner.counters["updates"] + 5))
    assert runner.counters["disconnects"] == 0
    await assert_equals_server(runner, server, vs)


async def test_a_stalled_connection_is_dropped_by_the_watchdog_and_resynced() -> None:
    # One venue is enough: the watchdog is framework code, the same for every venue.
    name = "okx"
    instruments = INSTRUMENTS[name][:1]
    server = await SimServer(PROTOCOLS[name](), instruments, tick_ms=20, heartbeat_s=0.2, seed=5).start()
    adapter = ADAPTERS[name](VenueEndpoints(server.ws_url, server.rest_url))
    runner = EdgeRunner(
        adapter,
        [instruments[0].symbol],
        MemorySink(),
        timing=EdgeTiming(reconnect_base_s=0.05, reconnect_max_s=0.5, silence_timeout_s=0.8, snapshot_retry_s=0.1),
    )
    await runner.start()
    vs = adapter.to_venue(instruments[0].symbol)
    try:
        await runner.wait_until(live(vs, 5))
        await server.inject("stall", stall_s=2.0)
        def downs(r: EdgeRunner) -> list[VenueStatusChanged]:
            return [e for e in r.sink.events if isinstance(e, VenueStatusChanged) and e.state == "down"]

        await runner.wait_until(lambda r: bool(downs(r)), timeout=10)
        assert "SilentConnection" in downs(runner)[0].reason
        await runner.wait_until(lambda r: r.counters["reconnects"] >= 1)
        await runner.wait_until(live(vs, runner.counters["updates"] + 5))
        await assert_equals_server(runner, server, vs)
    finally:
        await runner.stop()
        await server.stop()


async def test_a_paused_server_stops_even_while_a_client_frame_waits_for_the_market() -> None:
    # Arrange: a paused venue holding a client's frame (its handler waits for the market's lock).
    server = await SimServer(PROTOCOLS["okx"](), INSTRUMENTS["okx"][:1], tick_ms=20, seed=3).start()
    async with websockets.connect(server.ws_url) as ws:
        await server.pause()
        await ws.send("ping")
        async with asyncio.timeout(20):
            while not server._lock._waiters:  # the handler is parked on the lock (no event for it)
                await asyncio.sleep(0.01)
        # Act / Assert: stop releases the pause; it used to wait for that handler for ever.
        await asyncio.wait_for(server.stop(), 20)
