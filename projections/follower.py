"""Follow a stream in order into an in-memory projection (hot views: books, NBBO).

Rebuilt from the log on every start: reads from `start_seq` with an ephemeral, ack-less pull
consumer and never waits on a database. If the consumer is lost (server restart, inactivity),
it is recreated from the last applied sequence + 1, so nothing is skipped or applied twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events import AnyEvent, EventDecodeError, decode
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.pull import PullFeed

log = logging.getLogger("crossbook.projections")

Apply = Callable[[AnyEvent, int], object]


class StreamFollower:
    def __init__(self, bus: Bus, stream: str, subjects: list[str], apply: Apply, *, batch: int = 1024) -> None:
        self.bus = bus
        self.stream = stream
        self.subjects = subjects
        self.apply = apply
        self.batch = batch
        self.position = 0
        self.bad_events = 0
        self.restarts = 0
        self.apply_errors = 0
        self._catch_up_to = 0
        self.caught_up = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self, start_seq: int = 1) -> None:
        self.position = start_seq - 1
        # Caught up = applied everything that was in the stream when we started (a busy
        # stream may never go idle).
        self._catch_up_to = (await self.bus.js.stream_info(self.stream)).state.last_seq
        if self._catch_up_to <= self.position:
            self.caught_up.set()
        self._task = asyncio.create_task(self._run(), name=f"follow-{self.stream}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            async with self._advanced:
                await self._advanced.wait_for(lambda: self.position >= seq)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        """Wait until `predicate()` holds after an applied batch."""
        async with asyncio.timeout(timeout):
            async with self._advanced:
                await self._advanced.wait_for(predicate)

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        info = await self.bus.js.stream_info(self.stream)
        await self.wait_for(info.state.last_seq, timeout)

    async def _subscribe(self) -> tuple[str, PullFeed]:
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.position + 1,
            inactive_threshold=60.0,
            mem_storage=True,
        )
        if len(self.subjects) == 1:
            config.filter_subject = self.subjects[0]
        else:
            config.filter_subjects = self.subjects
        consumer = (await self.bus.js.add_consumer(self.stream, config)).name
        return consumer, await PullFeed(self.bus.nc, self.stream, consumer, batch=self.batch).open()

    async def _run(self) -> None:
        while True:
            try:
                consumer, feed = await self._subscribe()
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                log.warning("follower %s: cannot subscribe (%s); retrying", self.stream, exc)
                await asyncio.sleep(0.5)
                continue
            try:
                await self._consume(consumer, feed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outermost loop: log, count, recreate from position + 1
                self.restarts += 1
                log.error("follower %s: consumer lost at %s (%r); recreating", self.stream, self.position, exc)
                await asyncio.sleep(0.2)
            finally:
                await feed.close()
                with contextlib.suppress(Exception):
                    await self.bus.js.delete_consumer(self.stream, consumer)

    async def _consume(self, consumer: str, feed: PullFeed) -> None:
        while True:
            try:
                msgs = await feed.next_batch(0.5)
            except TimeoutError:
                await self._mark_idle(consumer)
                continue
            last = self.position
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                if seq <= self.position:
                    continue
                try:
                    event = decode(msg.data)
                except EventDecodeError as exc:
                    self.bad_events += 1
                    log.error("follower %s: undecodable event at seq %s on %s: %s", self.stream, seq, msg.subject, exc)
                else:
                    try:
                        self.apply(event, seq)
                    except Exception as exc:  # one bad event must not wedge the whole view
                        self.apply_errors += 1
                        log.error(
                            "follower %s: applying %s at seq %s failed: %r", self.stream, type(event).__name__, seq, exc
                        )
                last = seq
            async with self._advanced:
                self.position = max(self.position, last)
                if self.position >= self._catch_up_to:
                    self.caught_up.set()
                self._advanced.notify_all()

    async def _mark_idle(self, consumer: str) -> None:
        # Read the stream's end first, then the consumer: if nothing matching is pending now,
        # nothing matching exists up to that end, so waiters on it may proceed. Unless the
        # consumer already handed us messages we have not applied (a pull that outlived our
        # wait on a stalled loop): skipping to the end would drop them, and calling this caught
        # up would let a restarted service act on a log it has not read yet.
        info = await self.bus.js.stream_info(self.stream)
        state = await self.bus.js.consumer_info(self.stream, consumer)
        handed_over = state.delivered.stream_seq if state.delivered is not None else 0
        if state.num_pending or (handed_over or 0) > self.position:
            return
        async with self._advanced:
            if info.state.last_seq > self.position:
                self.position = info.state.last_seq
            self.caught_up.set()
            self._advanced.notify_all()
