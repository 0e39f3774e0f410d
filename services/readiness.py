"""Readiness of the trader's parts, announced on core NATS with a heartbeat.

Each trader process publishes, for each role it hosts (graph, router, sandbox, ...), whether
that part can do its work now, on `crossbook.ready.<role>` every `HEARTBEAT_S` and at once when
it changes. A part is ready when every stream it reads has caught up with what was there when
it started, and, when it holds market books, each symbol a connected venue quotes has a usable
book updated within `BOOK_AGE_NS` (the sandbox refuses older books as stale).

The API watches these (services/api/readiness.py): a role counts as ready only while a fresh
heartbeat says so, so a killed process stops counting after `EXPIRES_S`. Core NATS rather than
a stream: readiness is a present-tense fact, nothing to keep or replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from projections.market import MarketBooks
from services.aio import cancel_and_wait
from services.bus import Bus
from services.edges.sandbox.config import DEFAULT_MAX_BOOK_AGE_NS

log = logging.getLogger("crossbook.readiness")

READY_SUBJECT = "crossbook.ready"  # + ".<role>"; captured by no stream
HEARTBEAT_S = 0.5
EXPIRES_S = 3.0  # a role whose last heartbeat is older than this is not ready (process gone)
BOOK_AGE_NS = DEFAULT_MAX_BOOK_AGE_NS  # the sandbox refuses older books as stale
TRADING_ROLES = ("graph", "router", "sandbox")  # what must be ready before an order is taken


def part_problem(part: object, now_ns: int, book_age_ns: int = BOOK_AGE_NS) -> str | None:
    """Why `part` cannot work yet, or None. Looks at what the part holds: followers (anything
    with a `caught_up` event) and market books, so it needs no hook in each service."""
    for name, value in vars(part).items():
        caught_up = getattr(value, "caught_up", None)
        if isinstance(caught_up, asyncio.Event) and not caught_up.is_set():
            return f"{name} has not caught up with its stream"
        if isinstance(value, MarketBooks):
            problem = value.freshness_problem(now_ns, book_age_ns)
            if problem:
                return problem
    return None


@dataclass
class Beat:
    role: str
    ready: bool
    reason: str
    instance: str
    ts_ns: int

    def encode(self) -> bytes:
        return json.dumps(vars(self)).encode()

    @classmethod
    def decode(cls, data: bytes) -> Beat:
        doc = json.loads(data)
        return cls(str(doc["role"]), bool(doc["ready"]), str(doc["reason"]), str(doc["instance"]), int(doc["ts_ns"]))


class ReadinessBeacon:
    """Announce the readiness of each (role, part) of this process until stopped."""

    def __init__(
        self,
        bus: Bus,
        parts: Iterable[tuple[str, object]],
        *,
        interval_s: float = HEARTBEAT_S,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.bus = bus
        self.parts = list(parts)
        self.interval_s = interval_s
        self.clock_ns = clock_ns
        self.instance = uuid.uuid4().hex
        self.last: dict[str, str | None] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> ReadinessBeacon:
        self._task = asyncio.create_task(self._run(), name="readiness-beacon")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        with contextlib.suppress(nats.errors.Error, OSError):  # say so at once rather than let it expire
            for role, _ in self.parts:
                await self._publish(role, "stopping")
            await self.bus.nc.flush(timeout=1)

    @property
    def ready(self) -> bool:
        return bool(self.last) and all(problem is None for problem in self.last.values())

    async def _publish(self, role: str, problem: str | None) -> None:
        beat = Beat(role, problem is None, problem or "", self.instance, self.clock_ns())
        await self.bus.nc.publish(f"{READY_SUBJECT}.{role}", beat.encode())

    async def _run(self) -> None:
        while True:
            now_ns = self.clock_ns()
            for role, part in self.parts:
                problem = part_problem(part, now_ns)
                if self.last.get(role, "") != problem:
                    log.info("%s: %s", role, "up to date" if problem is None else f"waiting: {problem}")
                self.last[role] = problem
                try:
                    await self._publish(role, problem)
                except (nats.errors.Error, OSError) as exc:  # reconnecting: the next beat retries
                    log.warning("readiness of %s not announced: %s", role, exc)
            await asyncio.sleep(self.interval_s)


class ReadinessWatch:
    """The newest heartbeat of every (role, instance); `problems(roles)` says what is not ready."""

    def __init__(self, bus: Bus, *, expires_s: float = EXPIRES_S, clock: Callable[[], float] = time.monotonic):
        self.bus = bus
        self.expires_s = expires_s
        self.clock = clock
        self.beats: dict[tuple[str, str], tuple[Beat, float]] = {}
        self._changed = asyncio.Event()
        self._sub: Subscription | None = None

    async def start(self) -> ReadinessWatch:
        self._sub = await self.bus.nc.subscribe(f"{READY_SUBJECT}.*", cb=self._on_beat)
        return self

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _on_beat(self, msg: Msg) -> None:
        try:
            beat = Beat.decode(msg.data)
        except (ValueError, KeyError, TypeError):
            return
        self.beats[(beat.role, beat.instance)] = (beat, self.clock())
        self._changed.set()

    def problems(self, roles: Iterable[str] = TRADING_ROLES) -> list[str]:
        now = self.clock()
        out = []
        for role in roles:
            fresh = [b for (r, _), (b, seen) in self.beats.items() if r == role and now - seen <= self.expires_s]
            if not fresh:
                out.append(f"trader {role}: no readiness heartbeat within {self.expires_s:g}s")
            elif not any(b.ready for b in fresh):
                out.append(f"trader {role}: {fresh[-1].reason}")
        return out

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait until `predicate()` holds, checked after each heartbeat received."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_ready(self, roles: Iterable[str] = TRADING_ROLES, timeout: float = 30.0) -> None:
        wanted = tuple(roles)
        await self.wait_until(lambda: not self.problems(wanted), timeout)
