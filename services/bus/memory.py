"""The in-process, deterministic adapter of the Bus port: a list with sequence numbers.

It keeps JetStream's append semantics: an event id already stored is answered as a duplicate
(`Nats-Msg-Id` dedup, without a window), an expected last subject sequence that does not hold
raises `ConcurrencyConflict`, and a handle made by `as_writer` refuses subjects declared for
another role. Appends are delivered at once, in order, to the followers of the log, which give
the services the StreamFollower interface they read through (`follow(..., shared=log.shared())`,
`md=log.follower(...)`). No clock, thread or socket is involved: with the time injected, the
same inputs give the same log, byte for byte (`dump`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from events import AnyEvent, encode
from events.subjects import subject_for
from projections.follower import Apply, covers
from services.bus.writer import check_writer
from services.errors import BrokenChain, BusError, ConcurrencyConflict


@dataclass(frozen=True, slots=True)
class Ack:
    stream: str
    seq: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    subject: str
    writer: str | None
    event: AnyEvent


@dataclass
class _Storage:
    entries: list[Entry] = field(default_factory=list)
    by_id: dict[str, int] = field(default_factory=dict)  # event id -> sequence
    last: dict[str, int] = field(default_factory=dict)  # subject -> last sequence
    followers: list[MemoryFollower] = field(default_factory=list)


class InProcessLog:
    def __init__(self, stream: str = "LEDGER") -> None:
        self.stream = stream
        self.writer: str | None = None  # set on a handle by services.bus.writer.as_writer
        self._storage = _Storage()

    @property
    def entries(self) -> list[Entry]:
        return self._storage.entries

    def append(self, event: AnyEvent, *, expected_last_subject_seq: int | None = None) -> Ack:
        store = self._storage
        subject = subject_for(event)
        writer = None if self.writer is None else check_writer(self.writer, subject)
        stored = store.by_id.get(event.event_id)
        if stored is not None:  # dedup first, as JetStream does
            return Ack(self.stream, stored, duplicate=True)
        last = store.last.get(subject, 0)
        if expected_last_subject_seq is not None and expected_last_subject_seq != last:
            raise ConcurrencyConflict(subject, expected_last_subject_seq, f"last sequence is {last}")
        entry = Entry(len(store.entries) + 1, subject, writer, event)
        store.entries.append(entry)
        store.by_id[event.event_id] = store.last[subject] = entry.seq
        for follower in list(store.followers):
            follower.deliver(entry)
        return Ack(self.stream, entry.seq)

    async def publish(self, event: AnyEvent, *, expected_last_subject_seq: int | None = None) -> Ack:
        return self.append(event, expected_last_subject_seq=expected_last_subject_seq)

    async def publish_many(self, events: Iterable[AnyEvent], **_: object) -> list[Ack]:
        events = list(events)
        if self.writer is not None:  # refuse the whole batch before any of it is stored
            for event in events:
                check_writer(self.writer, subject_for(event))
        return [self.append(e) for e in events]

    async def publish_chained(
        self, events: Sequence[AnyEvent], expected: Mapping[str, int], **_: object
    ) -> list[Ack | BusError]:
        """As Bus.publish_chained: what is stored is a prefix of `events`."""
        if self.writer is not None:  # refuse the whole batch before any of it is stored
            for event in events:
                check_writer(self.writer, subject_for(event))
        answers: list[Ack | BusError] = []
        checked: set[str] = set()
        for event in events:
            subject = subject_for(event)
            seq = None
            if subject in expected and subject not in checked:
                checked.add(subject)
                seq = expected[subject]
            if answers and isinstance(answers[-1], BusError):  # nothing interleaves here: only a refusal breaks it
                answers.append(BrokenChain(f"{subject}: not stored after a batch's refused append"))
                continue
            try:
                answers.append(self.append(event, expected_last_subject_seq=seq))
            except BusError as exc:
                answers.append(exc)
        return answers

    async def last_subject_seq(self, subject: str) -> int:
        return self._storage.last.get(subject, 0)

    def follower(self, subjects: list[str], apply: Apply) -> MemoryFollower:
        return MemoryFollower(self, subjects, apply)

    def shared(self) -> MemoryShared:
        return MemoryShared(self)

    def dump(self) -> bytes:
        """The whole log as bytes: (sequence, subject, writer, encoded event) per entry."""
        return msgspec.msgpack.encode([(e.seq, e.subject, e.writer, encode(e.event)) for e in self.entries])


class MemoryFollower:
    """A StreamFollower of an InProcessLog: applies each matching entry as it is appended."""

    def __init__(self, log: InProcessLog, subjects: list[str], apply: Apply) -> None:
        self.log = log
        self.subjects = subjects
        self.apply = apply
        self.position = 0
        self.apply_errors = 0
        self.bad_events = 0
        self.caught_up = asyncio.Event()
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    async def start(self) -> None:
        for entry in self.log.entries:
            self.deliver(entry)
        self.log._storage.followers.append(self)
        self.caught_up.set()

    async def stop(self) -> None:
        if self in self.log._storage.followers:
            self.log._storage.followers.remove(self)

    def deliver(self, entry: Entry) -> None:
        if any(covers(p, entry.subject) for p in self.subjects):
            self.apply(entry.event, entry.seq)
        self.position = entry.seq
        waiting, self._waiters = self._waiters, []
        for predicate, future in waiting:
            if future.done():
                continue
            if predicate():
                future.set_result(None)
            else:
                self._waiters.append((predicate, future))

    async def wait_for(self, seq: int, timeout: float = 10.0) -> None:
        await self.wait_until(lambda: self.position >= seq, timeout)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        if predicate():
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        async with asyncio.timeout(timeout):
            await future

    async def wait_caught_up(self, timeout: float = 30.0) -> None:
        await self.wait_for(len(self.log.entries), timeout)


class MemoryShared:
    """The `shared` read `projections.follower.follow` hands out views of: each view is a follower."""

    def __init__(self, log: InProcessLog) -> None:
        self.log = log
        self.stream = log.stream

    def view(self, subjects: list[str], apply: Apply) -> MemoryFollower:
        return MemoryFollower(self.log, subjects, apply)
