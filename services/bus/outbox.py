"""An ordered outbox: synchronous fold callbacks queue events, one task publishes them in order.

Event ids are derived from the causing event by the caller, so a re-decision after a restart
republishes the same ids and JetStream drops the duplicates (`Nats-Msg-Id`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from events import AnyEvent
from services.aio import cancel_and_wait
from services.bus.bus import Bus
from services.errors import BusError

log = logging.getLogger("crossbook.bus")


class Outbox:
    def __init__(self, bus: Bus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.queue: asyncio.Queue[AnyEvent] = asyncio.Queue()
        self.published = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def put(self, events: Iterable[AnyEvent]) -> None:
        for event in events:
            self.queue.put_nowait(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def drain(self) -> None:
        await self.queue.join()

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                for attempt in range(5):
                    try:
                        await self.bus.publish(event)
                        self.published += 1
                        break
                    except BusError as exc:
                        log.warning("%s: publish of %s failed (%s), retry %s", self.name, type(event).__name__, exc, attempt)
                        await asyncio.sleep(0.2 * (attempt + 1))
                else:
                    self.failures += 1
                    log.error("%s: giving up on %s %s", self.name, type(event).__name__, event.event_id)
            finally:
                self.queue.task_done()
