"""`crossbook sim`: every venue's local server in one process, on fixed loopback ports."""

from __future__ import annotations

import logging
import time

from services.edges import registry
from services.edges.service import sim_port
from services.edges.sim.server import SimServer
from services.runtime import configure_logging, settle_gc, wait_for_shutdown
from services.settings import Settings

log = logging.getLogger("crossbook.sim")


async def run_sims(settings: Settings, venues: list[str] | None = None) -> None:
    configure_logging()
    protocols = registry.sim_protocols()
    instruments = registry.sim_instruments()
    servers: list[SimServer] = []
    epoch_ns = time.time_ns()
    for name in sorted(venues or protocols):
        server = SimServer(
            protocols[name](),
            instruments[name],
            seed=settings.sim_seed + len(servers),
            tick_ms=settings.sim_tick_ms,
            port=sim_port(settings, name),
            anchor_epoch_ns=epoch_ns,  # every venue on one anchor path, whatever its tick load
        )
        await server.start()
        servers.append(server)
        symbols = ", ".join(i.symbol for i in instruments[name])
        log.info("sim %-13s %s  (%s)", name, server.ws_url, symbols)
    settle_gc()
    await wait_for_shutdown()
    for server in servers:
        await server.stop()
