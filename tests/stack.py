"""The running trading stack for end-to-end tests: local venue servers streaming BTC-USDT over
real sockets into edges, and the trader parts (graph engine, router, sandbox execution)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from projections.follower import SharedFollower
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges import registry
from services.edges.runtime import EdgeRunner, EdgeTiming
from services.edges.sandbox.service import SandboxBook, SandboxExecutor
from services.edges.service import BusSink
from services.edges.sim.market import SimInstrument
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.graph.service import GraphEngineService
from services.kernel.jetstream import JetStreamKernel
from services.risk import RiskLimits
from services.runtime import Service, hand_over
from services.sor.service import RouterService
from services.tca.service import TcaService


# Quick reconnects and resyncs for test edges. A paused venue (a frozen market, `freeze`) sends
# nothing at all, not even heartbeats, so the silence watchdog must outlast any test (pytest's
# timeouts are at most 150 s) or it reads the pause as a dead wire and reconnects, which marks
# the books stale mid-test. Tests of the watchdog itself set their own.
EDGE_TIMING = EdgeTiming(reconnect_base_s=0.05, reconnect_max_s=0.5, silence_timeout_s=300.0, snapshot_retry_s=0.1)


async def freeze(bus: Bus, servers: list[SimServer], runners: list[EdgeRunner], timeout: float = 30.0) -> None:
    """Pause the venues, then wait until each edge has handled every frame its venue sent and
    JetStream holds everything the edges published: from here on the books on the log stand
    still (an edge's snapshot refresh repeats its book). `runners[i]` streams `servers[i]`."""
    for server in servers:
        await server.pause()
    for server, runner in zip(servers, runners, strict=True):
        [conn] = server.conns  # the edge's one connection (a pause does not drop it)
        await runner.wait_until(
            lambda r, conn=conn: r.session_frames >= conn.frames_sent and not any(map(r.is_stale, r.venue_symbols)),
            timeout=timeout,
        )
    await bus.js.publish_async_completed()


@dataclass
class Market:
    servers: list[SimServer]
    runners: list[EdgeRunner]
    parts: list[Service]  # the trader parts: a test may stop one and put a new one in its place
    trader: str = "services"  # or "kernel": one JetStreamKernel is the only part


TRADERS = ("services", "kernel")


def default_trader() -> str:
    """The trader mode of stacks that do not name one: CROSSBOOK_TRADER, as `crossbook trader`."""
    return os.environ.get("CROSSBOOK_TRADER", "services")


def trader_parts(bus: Bus, trader: str, limits: RiskLimits | None = None, *, live: bool = False) -> list[Service]:
    """The trader's parts in one process, as `crossbook trader` builds them for `trader`; `live`:
    a live executor runs beside them (CROSSBOOK_LIVE_ORDERS), so the kernel leaves live children to it."""
    if trader == "kernel":
        return [JetStreamKernel(bus, limits=limits, simulate_live=not live)]
    ledger = SharedFollower(bus, "LEDGER")  # one read of the ledger for every part, as `crossbook trader` runs
    parts: list[Service] = [
        GraphEngineService(bus, ledger=ledger),
        RouterService(bus, limits=limits, ledger=ledger),
        SandboxExecutor(as_writer(bus, "executor"), ledger=ledger),
        TcaService(as_writer(bus, "tca"), ledger=ledger),
    ]
    hand_over(parts)
    return parts


@contextlib.asynccontextmanager
async def trading_stack(
    bus: Bus,
    venues: list[str],
    seed: int,
    symbols: dict[str, list[str]] | None = None,
    instruments: dict[str, list[SimInstrument]] | None = None,
    trader: str | None = None,
    live: bool = False,
) -> AsyncIterator[Market]:
    """`symbols` per venue (default BTC-USDT on each); `instruments` replaces a venue's simulated
    instruments (e.g. a thin, coarse-ticked BTC-USDT book); `trader`: "services" or "kernel"
    (default: `default_trader()`); `live`: a live executor runs beside the trader."""
    trader = trader or default_trader()
    protocols, adapters = registry.sim_protocols(), registry.adapters()
    instruments = {**registry.sim_instruments(), **(instruments or {})}
    servers, runners = [], []
    for i, name in enumerate(venues):
        streamed = (symbols or {}).get(name, ["BTC-USDT"])
        inst = [x for x in instruments[name] if x.symbol in streamed]
        server = await SimServer(protocols[name](), inst, tick_ms=50, seed=seed + i).start()
        runner = EdgeRunner(
            adapters[name](VenueEndpoints(server.ws_url, server.rest_url)),
            streamed,
            BusSink(bus),
            timing=EDGE_TIMING,
        )
        await runner.start()
        await runner.wait_until(lambda r: all(not r.is_stale(vs) for vs in r.venue_symbols))
        servers.append(server)
        runners.append(runner)
    # Large test orders sweep more than any venue's visible levels: allow that notional.
    limits = RiskLimits(max_order_notional_usd_1e9=100_000_000 * 10**9, max_position_usd_1e9=None)
    parts = trader_parts(bus, trader, limits, live=live)
    for part in parts:
        await part.start()
    try:
        yield Market(servers, runners, parts, trader)
    finally:
        for part in reversed(parts):
            await part.stop()
        for runner in runners:
            await runner.stop()
        for server in servers:
            await server.stop()


@contextlib.asynccontextmanager
async def kernel(bus: Bus, limits: RiskLimits | None = None) -> AsyncIterator[RouterService]:
    """The parts that run the front doors' commands, without venues or order execution: the graph
    engine (writer of the graphs), the router with risk (writer of accounts and kill switches)
    and the executor's sandbox book (writer of paper funding)."""
    ledger = SharedFollower(bus, "LEDGER")
    router = RouterService(bus, limits=limits, ledger=ledger)
    parts: list[Service] = [
        GraphEngineService(bus, ledger=ledger), router, SandboxBook(as_writer(bus, "executor"), ledger=ledger),
    ]
    for part in parts:
        await part.start()
    try:
        yield router
    finally:
        for part in reversed(parts):
            await part.stop()
