"""`crossbook nbbo`: follow books from the present (MarketFollower), publish `NbboChanged` when it changes.

Quiet markets publish nothing; bursts coalesce: changed symbols are collected between ticks
(`CROSSBOOK_NBBO_TICK_MS`) and each publishes at most one event per tick, only if its NBBO
(price, size or per-venue BBO) differs from the last one published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from events import AnyEvent, new_event_id
from events.market import NbboChanged
from projections.market_follower import MarketFollower, last_per_subject
from projections.market import MarketBooks, Nbbo, nbbo_event
from services.aio import cancel_and_wait
from services.bus import Bus
from services.runtime import configure_logging, settle_gc, wait_for_shutdown
from services.settings import Settings

log = logging.getLogger("crossbook.md")


class NbboPublisher:
    def __init__(
        self,
        bus: Bus,
        tick_ms: int,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        new_id: Callable[[], str] = new_event_id,
    ) -> None:
        self.bus = bus
        self.books = MarketBooks()
        self.tick_ms = tick_ms
        self.clock_ns = clock_ns
        self.new_id = new_id
        self.dirty: set[str] = set()
        self.published: dict[str, tuple[object, ...]] = {}
        self.published_count = 0
        self.follower = MarketFollower(bus, self._apply)
        self._task: asyncio.Task[None] | None = None
        self._flushing = asyncio.Lock()

    def _apply(self, event: AnyEvent, seq: int) -> None:
        self.dirty.update(self.books.apply(event, seq))

    async def start(self) -> None:
        await self._load_last_published()
        await self.follower.start()
        self._task = asyncio.create_task(self._tick_loop(), name="nbbo-tick")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self.follower.stop()

    async def _load_last_published(self) -> None:
        # A restart must not republish an unchanged NBBO: remember the last one per symbol.
        for latest in await last_per_subject(self.bus, "MD", ["nbbo.>"]):
            e: object = latest.event
            if not isinstance(e, NbboChanged):
                continue
            venues = tuple((v.venue, v.bid_px_1e9, v.bid_qty_1e8, v.ask_px_1e9, v.ask_qty_1e8) for v in e.venues)
            self.published[e.symbol] = (e.bid_px_1e9, e.bid_qty_1e8, e.ask_px_1e9, e.ask_qty_1e8, venues)

    async def flush(self) -> int:
        """Publish NBBO changes for symbols touched since the last flush; return how many."""
        # One flush at a time: a second caller waits for the one in flight, so NBBO events reach
        # the log in the order of the books they describe, and its return finds them counted.
        async with self._flushing:
            dirty, self.dirty = self.dirty, set()
            events, keys = [], {}
            for symbol in sorted(dirty):
                nbbo: Nbbo | None = self.books.nbbo(symbol)
                if nbbo is None:
                    key: tuple[object, ...] = (0, 0, 0, 0, ())
                    nbbo = Nbbo(symbol, 0, 0, "", 0, 0, "", ())
                else:
                    key = nbbo.key
                if self.published.get(symbol) == key:
                    continue
                keys[symbol] = key
                events.append(nbbo_event(nbbo, self.new_id(), self.clock_ns(), self.books.position))
            if events:
                try:
                    await self.bus.publish_many(events)
                except BaseException:
                    self.dirty |= dirty  # not known to be on the log: publish them again next tick
                    raise
                self.published.update(keys)  # only once stored: a failed publish is not "published"
                self.published_count += len(events)
            return len(events)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            try:
                await self.flush()
            except Exception as exc:  # the outermost loop: log, count, keep going
                log.error("nbbo publish failed: %s", exc)


async def run_nbbo(settings: Settings) -> None:
    configure_logging()
    bus = await Bus.connect(settings, name="nbbo", user="nbbo")
    await bus.ensure_streams()
    publisher = NbboPublisher(bus, settings.nbbo_tick_ms)
    await publisher.start()
    log.info("nbbo publisher running (tick %s ms)", settings.nbbo_tick_ms)
    settle_gc()
    await wait_for_shutdown()
    await publisher.stop()
    await bus.close()



