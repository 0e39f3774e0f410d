"""The edge process: `VENUE=<name> crossbook edge` streams one venue's books into JetStream."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

from events import AnyEvent, encode
from events.subjects import subject_for
from services.bus import Bus
from services.edges import registry
from services.edges.runtime import EdgeRunner
from services.edges.venue import VenueAdapter, VenueEndpoints
from services.runtime import configure_logging, settle_gc, wait_for_shutdown
from services.settings import Settings

log = logging.getLogger("crossbook.edges")


class BusSink:
    """Publish edge events without waiting for each ack (pipelined; order kept per subject).

    A failed publish is logged and counted; the edge keeps streaming (market data is
    superseded by the next snapshot after any resync)."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.failures = 0

    async def emit(self, events: Sequence[AnyEvent]) -> None:
        js = self.bus.js
        for event in events:
            future = await js.publish_async(subject_for(event), encode(event), headers={"Nats-Msg-Id": event.event_id})
            future.add_done_callback(self._check)

    def _check(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is not None:
            self.failures += 1
            log.error("md publish failed: %r", None if future.cancelled() else future.exception())


def sim_port(settings: Settings, venue: str) -> int:
    """The local venue server port for `venue`: base port + its rank among simulated venues."""
    return settings.sim_base_port + sorted(registry.sim_protocols()).index(venue)


def endpoints_for(cls: type[VenueAdapter], settings: Settings) -> VenueEndpoints:
    """`CROSSBOOK_<VENUE>_WS_URL`/`_REST_URL` win; else the local server (market=sim) or the venue."""
    prefix = f"CROSSBOOK_{cls.name.upper()}_"
    ws, rest = os.environ.get(prefix + "WS_URL"), os.environ.get(prefix + "REST_URL")
    if ws:
        return VenueEndpoints(ws, rest or cls.default_rest_url)
    if settings.market == "sim":
        port = sim_port(settings, cls.name)
        path = registry.sim_protocols()[cls.name].ws_path
        return VenueEndpoints(f"ws://127.0.0.1:{port}{path}", f"http://127.0.0.1:{port}")
    return VenueEndpoints(cls.default_ws_url, cls.default_rest_url)


def symbols_for(cls: type[VenueAdapter]) -> list[str]:
    configured = os.environ.get(f"CROSSBOOK_{cls.name.upper()}_SYMBOLS", "")
    if configured:
        return [s.strip() for s in configured.split(",") if s.strip()]
    return [inst.symbol for inst in registry.sim_instruments().get(cls.name, [])]


async def run_edge(settings: Settings, venue: str) -> None:
    configure_logging()
    adapters = registry.adapters()
    if venue not in adapters:
        raise SystemExit(f"unknown venue {venue!r}; known: {', '.join(sorted(adapters))}")
    cls = adapters[venue]
    endpoints = endpoints_for(cls, settings)
    adapter = cls(endpoints)
    # An edge whose instruments come from its venue's own configuration (the DEX edge's pools)
    # lists them itself, and may bring its own runner (one connection, several venues).
    configured = getattr(adapter, "configured_symbols", None)
    symbols = symbols_for(cls) or (configured() if configured is not None else [])
    bus = await Bus.connect(settings, name=f"edge-{venue}", user="edge")
    await bus.ensure_streams()
    make_runner = getattr(adapter, "make_runner", None)
    runner = make_runner(symbols, BusSink(bus)) if make_runner is not None else EdgeRunner(adapter, symbols, BusSink(bus))
    await runner.start()
    log.info("edge %s streaming %s from %s", venue, ", ".join(symbols), endpoints.ws_url)
    settle_gc()
    await wait_for_shutdown()
    await runner.stop()
    await bus.close()
