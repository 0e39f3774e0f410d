"""Ordered appends by the single writer of aggregate subjects, each under
`Nats-Expected-Last-Subject-Sequence`.

The writer's fold tells the appender the last sequence it has seen on each subject (`saw`);
its own appends advance it too. An append that finds another sequence on its subject means
someone else wrote there (or the decision was made on a stale view): it is refused by
JetStream (`ConcurrencyConflict`), logged and dropped, never stored on top of a foreign write.
A retried append of a stored event is answered by JetStream's dedup (`Nats-Msg-Id`) first."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from events import AnyEvent
from events.subjects import subject_for
from services.bus.bus import Bus
from services.bus.outbox import Outbox
from services.errors import BusError, ConcurrencyConflict

log = logging.getLogger("crossbook.kernel")

PUBLISH_ATTEMPTS = 5


class AggregateAppender(Outbox):
    """An ordered outbox whose every append names its subject's last sequence."""

    def __init__(self, bus: Bus, name: str) -> None:
        super().__init__(bus, name)
        self.last_seq: dict[str, int] = {}  # subject -> the last sequence seen or appended on it
        self.conflicts = 0
        self.on_appended: Callable[[AnyEvent], None] | None = None  # told of each acked append

    def saw(self, subject: str, seq: int) -> None:
        if seq > self.last_seq.get(subject, 0):
            self.last_seq[subject] = seq

    async def append(self, event: AnyEvent) -> None:
        subject = subject_for(event)
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                ack = await self.bus.publish(event, expected_last_subject_seq=self.last_seq.get(subject, 0))
            except ConcurrencyConflict as exc:
                self.conflicts += 1
                log.error("%s: %s %s not appended: %s", self.name, type(event).__name__, event.event_id, exc)
                return
            except BusError as exc:
                log.warning("%s: append of %s failed (%s), retry %s", self.name, type(event).__name__, exc, attempt)
                await asyncio.sleep(0.2 * (attempt + 1))  # backoff: the bus was failing a moment ago
                continue
            self.saw(subject, ack.seq)
            self.published += 1
            if self.on_appended is not None:
                self.on_appended(event)
            return
        self.failures += 1
        log.error("%s: giving up on %s %s", self.name, type(event).__name__, event.event_id)

    async def _run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.append(event)
            finally:
                self.queue.task_done()
