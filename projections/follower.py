"""Follow a stream in order into an in-memory projection (hot views: books, NBBO).

Rebuilt from the log on every start: reads from `start_seq` with an ephemeral, ack-less pull
consumer and never waits on a database. The position only moves over sequences the read
delivered (consumer sequences checked unbroken) or that its consumer vouched for in an idle
heartbeat after delivering all it had (services/bus/pull.py). Any sign of loss (an error
status, a gap, no heartbeat for a few beats: a cluster node or the server gone) recreates
the consumer from position + 1, so nothing is skipped, applied twice, or waited on for ever.
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
from events.subjects import subject_for
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.pull import PullFeed

log = logging.getLogger("crossbook.projections")

Apply = Callable[[AnyEvent, int], object]
CREATE_TIMEOUT_S = 2.0


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
        self._deleting: set[asyncio.Task[None]] = set()
        self.feed: PullFeed | None = None  # the current read

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
        await asyncio.gather(*self._deleting, return_exceptions=True)

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
        # An R1 consumer even on a cluster: recreating it from position + 1 is how every loss
        # is recovered (a replicated one's new leader may vouch for a state it never had).
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=self.position + 1,
            inactive_threshold=60.0,
            mem_storage=True,
            num_replicas=1,
        )
        if len(self.subjects) == 1:
            config.filter_subject = self.subjects[0]
        else:
            config.filter_subjects = self.subjects
        # A short answer time: while the cluster elects, a request can go unanswered, and the
        # next try (not the client's default wait) is what reaches the new leader.
        consumer = (await self.bus.js.add_consumer(self.stream, config, timeout=CREATE_TIMEOUT_S)).name
        self.feed = await PullFeed(self.bus.nc, self.stream, consumer, batch=self.batch).open()
        return consumer, self.feed

    async def _run(self) -> None:
        while True:
            try:
                consumer, feed = await self._subscribe()
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                log.warning("follower %s: cannot subscribe (%s); retrying", self.stream, exc)
                await asyncio.sleep(0.25)  # a cluster electing a leader: nothing to wait on but time
                continue
            try:
                await self._consume(feed)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the outermost loop: log, count, recreate from position + 1
                log.warning("follower %s: read lost at %s (%r); recreating", self.stream, self.position, exc)
                async with self._advanced:
                    self.restarts += 1
                    self._advanced.notify_all()
            finally:
                await feed.close()
                self._forget(consumer)

    def _forget(self, consumer: str) -> None:
        # In the background: on a lost node the request would hold the new read up for the
        # client's API timeout; its inactive_threshold removes it if this fails.
        async def delete() -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.bus.js.delete_consumer(self.stream, consumer), 5.0)

        task = asyncio.create_task(delete(), name=f"forget-{consumer}")
        self._deleting.add(task)
        task.add_done_callback(self._deleting.discard)

    async def _consume(self, feed: PullFeed) -> None:
        """Apply what the feed hands over. The position moves only over sequences this read
        delivered in an unbroken run of consumer sequences, or that the consumer vouched for
        after delivering all of it (an idle heartbeat): never over a sequence it has not seen."""
        while True:
            msgs = await feed.next_batch()
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
            reached = max(last, feed.scanned)
            if reached <= self.position and not msgs:
                continue
            async with self._advanced:
                self.position = max(self.position, reached)
                if self.position >= self._catch_up_to:
                    self.caught_up.set()
                self._advanced.notify_all()


def covers(pattern: str, subject: str) -> bool:
    """Whether NATS subject `pattern` matches every subject `subject` (itself possibly a pattern)
    matches: `*` takes one token, a trailing `>` the rest."""
    return _covers(pattern.split("."), subject.split("."))


def _covers(p: list[str], s: list[str]) -> bool:
    for i, token in enumerate(p):
        if token == ">":
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]) or (token == "*" and s[i] == ">"):
            return False
    return len(p) == len(s)


def follow(
    bus: Bus, stream: str, subjects: list[str], apply: Apply, shared: SharedFollower | None = None
) -> StreamFollower | SharedView:
    """A fold's read of `stream`: a view of the process's shared read if there is one, else its own."""
    if shared is None:
        return StreamFollower(bus, stream, subjects, apply)
    assert shared.stream == stream, f"a view of {shared.stream} cannot follow {stream}"
    return shared.view(subjects, apply)


class SharedFollower:
    """One ordered read of a stream, fanned out to several folds of one process.

    Each fold gets a `view` that behaves as its own StreamFollower of its subjects (start, stop,
    caught_up, position, wait_for, ...), but the stream is read and decoded once: the trader's
    roles in one process otherwise each pull and decode every ledger event (and every market
    data event: `follower` makes the one read, e.g. a MarketFollower). The read starts once
    every view has started, so no fold sees an event before its service is up; the trader
    builds all its parts, then starts them."""

    def __init__(
        self, bus: Bus, stream: str, *, batch: int = 1024, follower: Callable[[Apply], StreamFollower] | None = None
    ) -> None:
        self.stream = stream
        self._folds: list[tuple[tuple[str, ...], Apply]] = []
        self._tokens: list[list[list[str]]] = []  # each fold's patterns, split once (hot path)
        self._started: set[int] = set()
        self._stopped: set[int] = set()  # folds whose service stopped: no more events for them
        self._all_want_all = False  # every fold wants everything the read gets (set at start)
        self._follower = (
            follower(self._apply) if follower is not None else StreamFollower(bus, stream, [], self._apply, batch=batch)
        )
        assert self._follower.stream == stream, f"a read of {self._follower.stream} cannot share {stream}"

    def view(self, subjects: list[str], apply: Apply) -> SharedView:
        if self._started:
            raise RuntimeError(f"shared follower of {self.stream} already started: a new view would miss events")
        self._folds.append((tuple(subjects), apply))
        self._tokens.append([p.split(".") for p in subjects])
        return SharedView(self, len(self._folds) - 1)

    def _apply(self, event: AnyEvent, seq: int) -> None:
        # The event's subject only when some fold wants less than the whole read (not market
        # data's folds: both want all of md.>; it is the costliest part of fanning an event out).
        subject = subject_for(event).split(".") if not self._all_want_all else []
        for index, (_, apply) in enumerate(self._folds):
            if index not in self._stopped and (
                self._all_want_all or any(_covers(p, subject) for p in self._tokens[index])
            ):
                try:
                    apply(event, seq)
                except Exception as exc:  # one fold's bug must not starve the others of the event
                    self._follower.apply_errors += 1
                    log.error(
                        "follower %s: applying %s at seq %s failed: %r", self.stream, type(event).__name__, seq, exc
                    )

    async def _start(self, index: int) -> None:
        if index in self._stopped:
            raise RuntimeError(f"a stopped view of {self.stream} cannot start again: it has missed events")
        self._started.add(index)
        if len(self._started) == len(self._folds):
            wanted = {p for subjects, _ in self._folds for p in subjects}
            # A consumer refuses overlapping filters: keep only those no other one covers.
            self._follower.subjects = sorted(
                p for p in wanted if not any(q != p and covers(q, p) for q in wanted)
            )
            self._all_want_all = all(
                any(covers(mine, read) for mine in subjects)
                for subjects, _ in self._folds
                for read in self._follower.subjects
            )
            await self._follower.start()

    async def _stop(self, index: int) -> None:
        self._stopped.add(index)
        if len(self._stopped) == len(self._folds):
            await self._follower.stop()


class SharedView:
    """A fold's handle on a SharedFollower: the StreamFollower interface its service uses."""

    def __init__(self, shared: SharedFollower, index: int) -> None:
        self._shared = shared
        self._index = index
        self._follower = shared._follower

    async def start(self) -> None:
        await self._shared._start(self._index)  # the last view to start starts the read for all

    async def stop(self) -> None:
        await self._shared._stop(self._index)  # the last view to stop ends the read

    @property
    def caught_up(self) -> asyncio.Event:
        return self._follower.caught_up

    @property
    def position(self) -> int:
        return self._follower.position

    @property
    def apply_errors(self) -> int:
        return self._follower.apply_errors

    @property
    def bad_events(self) -> int:
        return self._follower.bad_events

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        await self._follower.wait_for(seq, timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        await self._follower.wait_until(predicate, timeout)

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        await self._follower.wait_caught_up(timeout)
