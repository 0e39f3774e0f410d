"""Process entry points shared by the CLI and the Procfile: connect, run, shut down cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal

from projections.health import StreamHealthProjection
from projections.runner import Projection, ProjectionRunner
from projections.store import open_store
from services.bus import Bus
from services.settings import Settings

log = logging.getLogger("crossbook")


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


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
    raise SystemExit(f"unknown projection {name!r}; known: stream_health, positions")


async def run_projection(settings: Settings, name: str, stream: str) -> None:
    configure_logging()
    bus = await Bus.connect(settings, name=f"projection-{name}")
    await bus.ensure_streams()
    store = open_store(settings)
    runner = ProjectionRunner(bus, store, durable_projection(name, stream))
    await runner.start()
    log.info("projection %s on %s running from position %s", name, stream, runner.position)
    stopper = asyncio.create_task(wait_for_shutdown())
    done, _ = await asyncio.wait({stopper, runner._task}, return_when=asyncio.FIRST_COMPLETED)  # type: ignore[arg-type]
    await runner.stop()
    await bus.close()
    store.close()
    for task in done:
        if task is not stopper and task.exception():
            raise task.exception()  # type: ignore[misc]


async def run_trader(settings: Settings) -> None:
    """Graph engine, router (risk + SOR) and sandbox execution in one process."""
    from services.edges.sandbox.service import SandboxExecutor
    from services.graph.service import GraphEngineService
    from services.sor.service import RouterService
    from services.tca.service import TcaService

    configure_logging()
    bus = await Bus.connect(settings, name="trader")
    await bus.ensure_streams()
    parts = [GraphEngineService(bus), RouterService(bus), SandboxExecutor(bus, seed=settings.sim_seed), TcaService(bus)]
    for part in parts:
        await part.start()
    log.info("trader running: graph engine, router, sandbox execution, TCA")
    await wait_for_shutdown()
    for part in reversed(parts):
        await part.stop()
    await bus.close()
