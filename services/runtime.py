"""Process entry points shared by the CLI and the Procfile: connect, run, shut down cleanly."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from typing import Protocol

from projections.follower import SharedFollower
from projections.market_follower import MD_STREAM, MarketFollower
from projections.health import StreamHealthProjection
from projections.runner import Projection, ProjectionRunner
from projections.store import open_store
from services.bus import Bus
from services.bus.writer import as_writer
from services.readiness import ReadinessBeacon
from services.settings import Settings

log = logging.getLogger("crossbook")


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


# Young-generation threshold after start-up (CPython's default is 700 allocations): the order
# path allocates thousands of short-lived objects per order, so the default runs several
# collections per order, each walking the young objects again. Gen 1 and the full collection
# keep their relative cadence.
GC_THRESHOLDS = (10_000, 10, 10)


def settle_gc() -> None:
    """Call once a long-lived process has started: what it built so far (modules, settings,
    rebuilt folds) moves to the collector's permanent generation, which no collection walks
    again -- a full collection otherwise re-walks all of it and stalls the order path for tens of
    milliseconds (the p99) -- and young collections run less often. Garbage made later is
    collected as before."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def wait_for_shutdown() -> None:
    """Block until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def durable_projection(name: str, stream: str) -> Projection:
    if name == "stream_health":
        return StreamHealthProjection(stream)
    if name == "positions":
        from projections.positions import PositionsProjection

        return PositionsProjection()
    if name == "orders":
        from projections.orders import OrdersProjection

        return OrdersProjection()
    raise SystemExit(f"unknown projection {name!r}; known: stream_health, positions, orders")


async def run_projection(settings: Settings, name: str, stream: str) -> None:
    configure_logging()
    bus = await Bus.connect(settings, name=f"projection-{name}", user="reader")
    await bus.ensure_streams()
    store = open_store(settings)
    runner = ProjectionRunner(bus, store, durable_projection(name, stream))
    await runner.start()
    settle_gc()
    log.info("projection %s on %s running from position %s", name, stream, runner.position)
    stopper = asyncio.create_task(wait_for_shutdown())
    running = runner._task
    assert running is not None  # start() made it
    done, _ = await asyncio.wait({stopper, running}, return_when=asyncio.FIRST_COMPLETED)
    await runner.stop()
    await bus.close()
    store.close()
    for task in done:
        error = None if task is stopper else task.exception()
        if error is not None:
            raise error


TRADER_ROLES = ("graph", "router", "sandbox", "tca", "live", "dex")  # live: only with CROSSBOOK_LIVE_ORDERS


def dex_on() -> bool:
    """The DEX executor runs in the trader when a chain is configured (CROSSBOOK_DEX_ETHEREUM_RPC_URL)."""
    return bool(os.environ.get("CROSSBOOK_DEX_ETHEREUM_RPC_URL"))


def trader_part(
    role: str, bus: Bus, settings: Settings, ledger: SharedFollower | None = None, md: SharedFollower | None = None
) -> Service:
    """One part of the trader; each can run in its own process (they meet only on the bus).
    Parts in one process may share one read of the ledger (`ledger`) and one of market data
    (`md`). Each appends as its declared writer (events/subjects.py WRITERS); the router holds
    both router and risk."""
    if role == "graph":
        from services.graph.service import GraphEngineService

        return GraphEngineService(bus, ledger=ledger)
    if role == "router":
        from services.sor.service import RouterService

        return RouterService(bus, ledger=ledger, md=None if md is None else (lambda apply: md.view(["md.>"], apply)))
    if role == "sandbox":
        from services.edges.sandbox.service import SandboxExecutor

        return SandboxExecutor(as_writer(bus, "executor"), seed=settings.sim_seed, ledger=ledger, md=md)
    if role == "tca":
        from services.tca.service import TcaService

        return TcaService(as_writer(bus, "tca"), ledger=ledger)
    if role == "live":
        from services.edges.live.service import LiveExecutor

        return LiveExecutor.from_settings(as_writer(bus, "executor"), settings, ledger)
    if role == "dex":
        from services.edges.evm.service import from_env
        from services.vault import open_vault

        return from_env(as_writer(bus, "executor"), open_vault(settings), ledger)
    raise ValueError(f"unknown trader role {role!r}")


def hand_over(parts: list[Service]) -> None:
    """Graph engine and router in one process, sharing one read of the ledger: the router routes
    a new graph's roots before it is appended and appends it with their verdicts, plans and
    children in one round trip; it starts on the engine's later appends once they are acked,
    instead of when they come back from the log."""
    from services.graph.service import GraphEngineService
    from services.sor.service import RouterService

    engines = [p for p in parts if isinstance(p, GraphEngineService)]
    routers = [p for p in parts if isinstance(p, RouterService)]
    # Only over one shared read of the ledger: the router's folds then hold everything the
    # engine had read when it decided (e.g. the funding before a tenant's first order).
    if engines and routers and getattr(engines[0].follower, "_shared", None) is getattr(routers[0].ledger, "_shared", 0):
        engines[0].outbox.on_appended = routers[0].take
        engines[0].carry_to = routers[0].carry  # a new graph goes out with its routing: one append


KERNEL_PARTS = ("graph", "router", "sandbox", "tca")  # the roles the kernel announces readiness for


# LEDGER inputs between the kernel's snapshots while it runs: a restart folds at most this many
# events after loading one (a snapshot costs an encode of the fold, a few ms on a busy kernel).
KERNEL_SNAPSHOT_EVERY = 10_000


def kernel_trader(bus: Bus, settings: Settings, md: SharedFollower | None = None) -> Service:
    """The whole trader as one kernel on JetStream (`CROSSBOOK_TRADER=kernel`); the live
    executor, when on, runs beside it and the kernel leaves live children to it."""
    from services.kernel.jetstream import JetStreamKernel

    return JetStreamKernel(bus, seed=settings.sim_seed, simulate_live=not settings.live_orders, md=md,
                           snapshots=settings.data_dir / "kernel", snapshot_every=KERNEL_SNAPSHOT_EVERY)


async def run_trader(settings: Settings, role: str = "all") -> None:
    """The graph engine, router (risk + SOR), sandbox execution and TCA: one `role`, or all of
    them (as separate services, or as the one kernel: `settings.trader`)."""
    if role != "all" and role not in TRADER_ROLES:
        raise SystemExit(f"unknown trader role {role!r}; known: {', '.join(TRADER_ROLES)}, all")
    if settings.trader == "kernel":
        await run_kernel_trader(settings, role)
        return
    if role == "live" and not settings.live_orders:
        raise SystemExit("live order entry is off: set CROSSBOOK_LIVE_ORDERS=1 to send live children to venues")
    roles = tuple(r for r in TRADER_ROLES if (r != "live" or settings.live_orders) and (r != "dex" or dex_on())
                  ) if role == "all" else (role,)
    configure_logging()
    bus = await Bus.connect(settings, name="trader" if role == "all" else f"trader-{role}", user="trader")
    await bus.ensure_streams()
    # One read of the ledger for every part of this process, not one each (CPU on the order path).
    ledger = SharedFollower(bus, "LEDGER") if len(roles) > 1 else None
    # Likewise one read of market data for the router's and the sandbox's books: each otherwise
    # pulls, decodes and folds every MD event itself, on the event loop the order path runs on.
    md_readers = [r for r in roles if r in ("router", "sandbox")]
    shared_md = len(md_readers) > 1
    md = SharedFollower(bus, MD_STREAM, follower=lambda apply: MarketFollower(bus, apply)) if shared_md else None
    parts = [trader_part(r, bus, settings, ledger, md) for r in roles]
    hand_over(parts)
    for part in parts:
        await part.start()
    beacon = await ReadinessBeacon(bus, zip(roles, parts)).start()  # what the API's readiness waits for
    settle_gc()
    log.info("trader running: %s", ", ".join(roles))
    await wait_for_shutdown()
    await beacon.stop()
    for part in reversed(parts):
        await part.stop()
    await bus.close()


async def run_kernel_trader(settings: Settings, role: str = "all") -> None:
    """The kernel trader: one process decides for every role (the live executor beside it)."""
    if role not in ("all", "live"):
        raise SystemExit(f"the kernel trader runs as one process (role 'all', or 'live' alone), not {role!r}; "
                         "CROSSBOOK_TRADER=services runs one role per process")
    if role == "live" and not settings.live_orders:
        raise SystemExit("live order entry is off: set CROSSBOOK_LIVE_ORDERS=1 to send live children to venues")
    configure_logging()
    bus = await Bus.connect(settings, name="trader", user="trader")
    await bus.ensure_streams()
    parts: list[tuple[tuple[str, ...], Service]] = []
    if role == "all":
        parts.append((KERNEL_PARTS, kernel_trader(bus, settings)))
    if settings.live_orders:
        parts.append((("live",), trader_part("live", bus, settings)))
    if role == "all" and dex_on():  # swaps for children at pools: the kernel reads their facts back
        parts.append((("dex",), trader_part("dex", bus, settings)))
    for _, part in parts:
        await part.start()
    beacon = await ReadinessBeacon(bus, [(r, p) for roles, p in parts for r in roles]).start()
    settle_gc()
    log.info("trader running: kernel (%s)", ", ".join(r for roles, _ in parts for r in roles))
    await wait_for_shutdown()
    await beacon.stop()
    for _, part in reversed(parts):
        await part.stop()
    await bus.close()
