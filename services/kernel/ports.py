"""The kernel's ports: time and ids are injected, so a decision is a function of its inputs.

- Time: a `Clock` (`now_ns`, `advance_to`): `VirtualClock` in tests and backtests (advanced to
  each input's timestamp), `WallClock` live (the JetStream runner, services/kernel/jetstream.py).
- `Ids`: ids derived from the causing event's id and a counter, so a re-run after a crash
  produces the same ids and the bus's dedup drops the repeats.
- The `Bus` port (`AppendLog`) is what a runner appends through: services/bus/bus.py (JetStream)
  and services/bus/memory.py (an in-process, deterministic log) both provide it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

from events import AnyEvent
from events.ids import derive_id
from services.errors import BusError


class Clock(Protocol):
    """The kernel's time: read it, and move it to an input's time (never backwards)."""

    def now_ns(self) -> int: ...

    def advance_to(self, ts_ns: int) -> None: ...


class WallClock:
    """The process's wall clock, never behind the newest input's time: an event stamped by
    another process's clock a little ahead of ours does not make time run backwards here."""

    def __init__(self, source: Callable[[], int] = time.time_ns) -> None:
        self._source = source
        self._floor_ns = 0

    def now_ns(self) -> int:
        now = self._source()
        return now if now > self._floor_ns else self._floor_ns

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._floor_ns:
            self._floor_ns = ts_ns


class VirtualClock:
    """Time that moves only when told: to each input's timestamp, never backwards."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ts_ns: int) -> None:
        if ts_ns > self._now_ns:
            self._now_ns = ts_ns


def derived_ids(cause_id: str, start: int = 0) -> Callable[[], str]:
    """Ids for the reactions to one event: the same cause always yields the same ids."""
    counter = itertools.count(start)
    return lambda: derive_id("react", cause_id, str(next(counter)))


class Ack(Protocol):
    seq: int


class AppendLog(Protocol):
    """The Bus port: idempotent appends (by event id), optionally under the subject's expected
    last sequence (`ConcurrencyConflict` otherwise)."""

    async def publish(self, event: AnyEvent, *, expected_last_subject_seq: int | None = None) -> Ack: ...

    async def publish_many(self, events: Iterable[AnyEvent]) -> Sequence[Ack]: ...

    async def publish_chained(self, events: Sequence[AnyEvent], expected: Mapping[str, int]) -> Sequence[Ack | BusError]:
        """One pipelined append; the first event on each subject of `expected` is checked."""
        ...
