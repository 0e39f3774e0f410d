"""Ordered appends by the single writer of aggregate subjects, pipelined: a batch of decided
facts goes out in one round trip (`Bus.publish_chained`), not one append after another.

Why a pipelined batch keeps every single-writer guarantee of appending one by one, each under
its subject's expected last sequence:
- The batch's first append to each aggregate subject names the last sequence the writer's fold
  has seen there (`Nats-Expected-Last-Subject-Sequence`): stored, it proves nobody wrote to the
  subject since the decision was made. The next appends to it cannot name their predecessor's
  subject sequence (the stream assigns it, and other subjects interleave), so instead
- every append after the first names its predecessor in the batch as the stream's last message
  (`Nats-Expected-Last-Msg-Id`). One connection delivers the batch in order, so an append is
  stored only if the one before it was stored and nothing came between: what is stored is always
  a prefix of the batch, and no foreign message sits between two of ours. A refused append (a
  second writer, a stale fold) takes everything after it with it -- a plan is never stored
  without the risk verdict before it.
- Another publisher's message landing between two of ours (any subject of the stream) breaks the
  chain without anything being wrong (`BrokenChain`): the rest is sent again as a new batch,
  whose first append per subject is checked against the sequences just acked -- exact arithmetic,
  not hope. Each round stores at least its first append or fails for a real reason, so it ends.
A retried append of a stored event is answered by JetStream's dedup (`Nats-Msg-Id`) first; the
writer's ids derive from the cause, so a re-decision after a crash appends nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from events import AnyEvent
from events.subjects import subject_for
from services.bus.bus import Bus
from services.kernel.ports import Ack, AppendLog
from services.bus.outbox import Outbox
from services.errors import BrokenChain, BusError, ConcurrencyConflict

log = logging.getLogger("crossbook.kernel")

PUBLISH_ATTEMPTS = 5
CHAIN_ROUNDS = 20  # a batch re-sent after interleaving: each round stores at least one append


async def append_chain(
    bus: AppendLog, events: Sequence[AnyEvent], expected: dict[str, int]
) -> tuple[list[tuple[AnyEvent, Ack]], BusError | None, list[AnyEvent]]:
    """Append `events` in order, pipelined, the first append to each subject of `expected`
    checked; re-sends what another publisher's interleaving left out. Returns the stored
    (event, ack) pairs, the first real failure (None when all are stored) and the events after
    it, none of them stored. `expected` moves to our own acked sequences."""
    stored: list[tuple[AnyEvent, Ack]] = []
    rest = list(events)
    for _ in range(CHAIN_ROUNDS):
        answers = await bus.publish_chained(rest, expected)
        for index, (event, answer) in enumerate(zip(rest, answers)):
            if isinstance(answer, BusError):
                break
            stored.append((event, answer))
            if (subject := subject_for(event)) in expected:
                expected[subject] = answer.seq
        else:
            return stored, None, []
        if not isinstance(answer, BrokenChain):  # a round's first append is never chained: progress
            return stored, answer, rest[index + 1:]
        rest = rest[index:]
    return stored, BusError(f"{len(rest)} appends still interleaved after {CHAIN_ROUNDS} rounds"), rest


class AggregateAppender(Outbox):
    """An ordered outbox whose every append names its subject's last sequence."""

    def __init__(self, bus: Bus, name: str) -> None:
        super().__init__(bus, name)
        self.last_seq: dict[str, int] = {}  # subject -> the last sequence seen or appended on it
        self.conflicts = 0
        self.on_appended: Callable[[AnyEvent], None] | None = None  # told of each acked append
        # Told of the events a conflict kept off the log, with the expected sequence refused.
        self.on_refused: Callable[[list[AnyEvent], int], None] | None = None
        # Which subjects an append checks (default: all); a subject another role may also write
        # (events/subjects.py ALSO_WRITTEN_BY) is left unchecked by a writer that cannot know it.
        self.checks: Callable[[str], bool] = lambda subject: True
        # A writer whose state already holds what it decided (the kernel) cannot go on after a
        # conflict: everything after the refused append, and everything queued, was decided on a
        # view the log contradicts. It halts: the rest is refused too (`on_refused`) until the
        # writer has rebuilt its state from the log and calls `resume`.
        self.halt_on_conflict = False
        self.halted = False

    def saw(self, subject: str, seq: int) -> None:
        if seq > self.last_seq.get(subject, 0):
            self.last_seq[subject] = seq

    async def append(self, event: AnyEvent) -> None:
        await self.append_batch([event])

    async def append_batch(self, events: list[AnyEvent]) -> None:
        """Append `events` in order, in one round trip; a conflict drops its subject's events
        (the writer decided on a view someone else changed), a bus error retries the rest."""
        attempt = 0
        while events:
            expected = {s: self.last_seq.get(s, 0) for s in {subject_for(e) for e in events} if self.checks(s)}
            stored, failure, rest = await append_chain(self.bus, events, expected)
            for event, ack in stored:
                self.saw(subject_for(event), ack.seq)
                self.published += 1
                if self.on_appended is not None:
                    self.on_appended(event)
            if failure is None:
                return
            if isinstance(failure, ConcurrencyConflict) and self.halt_on_conflict:
                self.conflicts += 1
                self.halted = True
                log.warning("%s: %d appends not made after a conflict on %s; halted", self.name, len(rest) + 1,
                            failure.subject)
                if self.on_refused is not None:
                    self.on_refused([events[len(stored)], *rest], failure.expected_seq)
                return
            if isinstance(failure, ConcurrencyConflict):
                self.conflicts += 1
                dropped = [e for e in rest if subject_for(e) == failure.subject]
                if self.on_refused is not None:
                    self.on_refused([events[len(stored)], *dropped], failure.expected_seq)
                log.error("%s: %d appends to %s not made: %s", self.name, len(dropped) + 1, failure.subject, failure)
                events = [e for e in rest if subject_for(e) != failure.subject]
                continue
            attempt += 1
            if attempt >= PUBLISH_ATTEMPTS:
                self.failures += len(rest) + 1
                log.error("%s: giving up on %d appends: %s", self.name, len(rest) + 1, failure)
                return
            log.warning("%s: append failed (%s), retry %s", self.name, failure, attempt)
            events = [events[len(stored)], *rest]  # the failed one and all after it
            await asyncio.sleep(0.2 * attempt)  # backoff: the bus was failing a moment ago

    def resume(self) -> None:
        """The writer's state is the log's again: what is still queued was decided before, on
        the old view, and is dropped; appends go out again."""
        dropped: list[AnyEvent] = []
        while not self.queue.empty():
            dropped.append(self.queue.get_nowait())
            self.queue.task_done()
        if dropped and self.on_refused is not None:
            self.on_refused(dropped, 0)
        self.halted = False

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            while not self.queue.empty():  # everything decided meanwhile goes in the same round trip
                batch.append(self.queue.get_nowait())
            try:
                if self.halted:  # decided on a view a conflict showed stale: never appended
                    if self.on_refused is not None:
                        self.on_refused(batch, 0)
                    continue
                await self.append_batch(batch)
            finally:
                for _ in batch:
                    self.queue.task_done()
