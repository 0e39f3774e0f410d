"""Run a projection over a JetStream stream: fetch a batch, fold it, commit view + position.

Exactly once: the view writes and the batch's last stream sequence are committed in one
transaction (tracking); messages at or below the tracked position are acked without being
applied. Ack happens only after commit, so a crash in between redelivers, and tracking drops
the repeat. On start the durable consumer is reset to `tracked + 1` when it had delivered
messages that were never committed (otherwise JetStream could hand out newer messages before
redelivering them, and they would be lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Literal, Protocol

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.api import AckPolicy

from events import AnyEvent, EventDecodeError, decode
from projections.store import AlreadyApplied, Doc, ViewStore
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.bus import FAILOVER_RETRY_S, TRANSIENT, fetch_batch
from services.errors import CrossbookError

# A fetch of messages the server says are pending: they come at once; the bound only ends the
# wait for one that stopped being pending meanwhile (a loaded machine can take seconds to answer).
DRAIN_FETCH_S = 5.0

log = logging.getLogger("crossbook.projections")


class ProjectionHalted(CrossbookError):
    """A projection stopped on an event it cannot apply; nothing of that batch was committed."""


class ViewTx(Protocol):
    def get(self, collection: str, key: str) -> Doc | None: ...

    def put(self, collection: str, key: str, doc: Doc) -> None: ...

    def delete(self, collection: str, key: str) -> None: ...


class Projection(Protocol):
    name: str
    stream: str
    subjects: list[str]
    on_bad_event: Literal["halt", "record"]

    def apply(self, tx: ViewTx, event: AnyEvent, seq: int) -> None: ...

    def record_bad(self, tx: ViewTx, seq: int, subject: str, error: str) -> None: ...


class BatchTx:
    """Writes of one batch, read-your-writes, committed together with the position."""

    def __init__(self, store: ViewStore, projection: str) -> None:
        self.store = store
        self.projection = projection
        self.writes: dict[tuple[str, str], Doc | None] = {}

    def get(self, collection: str, key: str) -> Doc | None:
        k = (collection, key)
        if k in self.writes:
            return self.writes[k]
        return self.store.load(self.projection, collection, key)

    def put(self, collection: str, key: str, doc: Doc) -> None:
        self.writes[(collection, key)] = doc

    def delete(self, collection: str, key: str) -> None:
        self.writes[(collection, key)] = None


class ProjectionRunner:
    def __init__(
        self,
        bus: Bus,
        store: ViewStore,
        projection: Projection,
        *,
        batch: int = 256,
        linger_s: float = 0.0,
    ) -> None:
        self.bus = bus
        self.store = store
        self.projection = projection
        self.batch = batch
        # After the first message of a quiet spell, wait this long for the rest of its burst (an
        # order's events arrive over a few ms): one batch, one commit instead of several, and the
        # view's work out of the way of whatever caused the burst (the order path).
        self.linger_s = linger_s
        self._ack_all = False  # the consumer acks cumulatively: one ack per batch, not one per message
        self.durable = f"proj-{projection.name}"
        self.position = 0
        self.applied = 0
        self.skipped_redeliveries = 0  # messages seen again after their batch was committed
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Condition()
        self._stop = asyncio.Event()
        self.error: BaseException | None = None
        self._sub: Any = None
        self._inflight: asyncio.Future[None] | None = None
        self.consumer_was_reset = False  # delivered-but-uncommitted messages forced a restart at tracked + 1

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self.position = await asyncio.to_thread(self.store.max_position, self.projection.name)
        await self._reset_consumer_if_needed()
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"projection-{self.projection.name}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._inflight is not None:
            await asyncio.wait({self._inflight})
            self._inflight = None
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def rebuild(self) -> None:
        """Drop the view and its tracking, then replay the stream from the start."""
        await self.stop()
        await self.bus.delete_consumer(self.projection.stream, self.durable)
        await asyncio.to_thread(self.store.drop, self.projection.name)
        self.position = 0
        await self.start()
        await self.wait_caught_up()

    async def wait_for(self, position: int, timeout: float = 10.0) -> None:
        """Wait until the view has applied everything up to stream sequence `position`."""
        await self.wait_until(lambda r: r.position >= position, timeout)

    async def wait_until(self, predicate: Callable[[ProjectionRunner], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate(self)` holds after a batch (raises the runner's error if it halted)."""
        async with asyncio.timeout(timeout):
            async with self._advanced:
                await self._advanced.wait_for(lambda: predicate(self) or self.error is not None)
        if self.error is not None:
            raise self.error

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        info = await self.bus.js.stream_info(self.projection.stream)
        await self.wait_for(info.state.last_seq, timeout)

    # --- internals --------------------------------------------------------------------------
    async def _reset_consumer_if_needed(self) -> None:
        stream, durable = self.projection.stream, self.durable
        try:
            info = await self.bus.js.consumer_info(stream, durable)
        except nats.js.errors.NotFoundError:
            info = None
        if info is not None and info.delivered is not None and (info.delivered.stream_seq or 0) > self.position:
            log.warning(
                "projection %s: consumer delivered up to %s but only %s was committed; resetting",
                self.projection.name,
                info.delivered.stream_seq,
                self.position,
            )
            await self.bus.delete_consumer(stream, durable)
            self.consumer_was_reset = True
        self._sub = await self.bus.durable_pull(
            stream, durable, filter_subjects=self.projection.subjects, start_seq=self.position + 1,
            ack_policy=AckPolicy.ALL,
        )
        # A consumer made before cumulative acks keeps its explicit policy: ack each message there.
        self._ack_all = (await self._sub.consumer_info()).config.ack_policy == AckPolicy.ALL

    async def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    try:
                        msgs = await fetch_batch(self._sub, self.batch, 1.0)
                    except TimeoutError:  # nats-py raises both its own and asyncio's
                        await self._mark_caught_up()
                        continue
                except TRANSIENT as exc:
                    # A cluster node went away: the consumer (replicated with its stream) has a
                    # new leader shortly; the view waits for it instead of halting.
                    log.warning("projection %s: %r; waiting for the stream's new leader", self.projection.name, exc)
                    await asyncio.sleep(FAILOVER_RETRY_S)
                    continue
                if self.linger_s and len(msgs) < self.batch:
                    await asyncio.sleep(self.linger_s)  # batching, not a wait for anything in particular
                    msgs += await self._drain(self.batch - len(msgs))
                await self._process(msgs)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            log.error("projection %s halted: %s", self.projection.name, exc)
            async with self._advanced:
                self._advanced.notify_all()
            raise

    async def _drain(self, room: int) -> list[Msg]:
        """What the consumer holds now, up to `room` messages: those already delivered to us (an
        earlier pull can have taken more than it returned), and those the server says are pending,
        fetched with a bound long enough for a loaded machine (a fetch with a 2 ms timeout found
        none of them whenever the machine was slower than that: a lingering batch then committed
        only its first message). One fetch can return only part, so ask again until none."""
        out: list[Msg] = []
        while len(out) < room:
            try:
                pending = (await self._sub.consumer_info()).num_pending
                wanted, wait_s = (min(pending, room - len(out)), DRAIN_FETCH_S) if pending else (room - len(out), 0.002)
                more = await self._sub.fetch(wanted, timeout=wait_s)  # takes the delivered ones first
            except (TimeoutError, *TRANSIENT):  # nothing more (or a node away): the next fetch takes the rest
                break
            if not more:
                break
            out += more
        return out

    async def _mark_caught_up(self) -> None:
        # An idle fetch means everything matching was delivered; non-matching stream sequences
        # past our position do not concern this view, so waiters on them can proceed.
        info = await self.bus.js.stream_info(self.projection.stream)
        pending = (await self.bus.js.consumer_info(self.projection.stream, self.durable)).num_pending
        if pending == 0 and info.state.last_seq > self.position:
            async with self._advanced:
                self.position = info.state.last_seq
                self._advanced.notify_all()

    async def _process(self, msgs: list[Msg]) -> None:
        tx = BatchTx(self.store, self.projection.name)
        last = self.position
        fresh = 0
        for msg in msgs:
            seq = msg.metadata.sequence.stream
            if seq <= last:
                # A redelivery of something already committed, or of a message earlier in this
                # batch (a lingering batch can outlast the ack wait).
                self.skipped_redeliveries += 1
                continue
            try:
                event = decode(msg.data)
            except EventDecodeError as exc:
                if self.projection.on_bad_event == "halt":
                    raise ProjectionHalted(
                        f"projection {self.projection.name} cannot apply stream seq {seq} on {msg.subject}: {exc}"
                    ) from exc
                log.error("projection %s: recording bad event at seq %s: %s", self.projection.name, seq, exc)
                self.projection.record_bad(tx, seq, msg.subject, str(exc))
            else:
                self.projection.apply(tx, event, seq)
            last = seq
            fresh += 1
        if fresh:
            # Shielded: a commit that started must finish before the store can be closed
            # (stop() waits for it); cancelling the await must not strand the DB thread.
            self._inflight = asyncio.ensure_future(
                asyncio.to_thread(self.store.commit, self.projection.name, tx.writes, last)
            )
            try:
                await asyncio.shield(self._inflight)
            except AlreadyApplied:
                log.warning("projection %s: batch up to %s was already applied", self.projection.name, last)
            self.applied += fresh
        await self._ack(msgs)
        async with self._advanced:
            self.position = max(self.position, last)
            self._advanced.notify_all()

    async def _ack(self, msgs: list[Msg]) -> None:
        if self._ack_all:
            if msgs:  # acks everything up to the batch's highest sequence (a redelivery may come last)
                await max(msgs, key=lambda m: m.metadata.sequence.stream).ack()
            return
        for msg in msgs:
            await msg.ack()


ProjectionFactory = Callable[[], Projection]
