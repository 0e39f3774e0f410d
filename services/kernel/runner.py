"""The in-process runner: the graph engine and the router (risk + SOR) over one InProcessLog,
with a virtual clock. Inputs (commands, market data, execution facts) are appended one at a
time; the clock moves to each input's timestamp and the kernel settles before the next. The
same inputs give the same log, byte for byte -- the base for deterministic backtests.

Sandbox matching and TCA do not run under it yet: execution facts are inputs here."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from events import AnyEvent
from services.bus.memory import InProcessLog
from services.graph.service import GraphEngineService
from services.kernel.ports import VirtualClock
from services.risk import RiskLimits
from services.sor.service import RouterService

SETTLE_ROUNDS = 20  # loop turns without a new entry after which the kernel counts as settled


class InProcessKernel:
    def __init__(self, *, limits: RiskLimits | None = None, start_ns: int = 0) -> None:
        self.clock = VirtualClock(start_ns)
        self.log = InProcessLog()
        shared = self.log.shared()
        self.engine = GraphEngineService(self.log, clock_ns=self.clock.now_ns, ledger=shared)  # type: ignore[arg-type]
        self.router = RouterService(
            self.log,  # type: ignore[arg-type]
            limits=limits,
            clock_ns=self.clock.now_ns,
            ledger=shared,  # type: ignore[arg-type]
            md=lambda apply: self.log.follower(["md.>"], apply),  # type: ignore[arg-type,return-value]
        )

    async def __aenter__(self) -> InProcessKernel:
        await self.engine.start()
        await self.router.start()
        await self.settle()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.router.stop()
        await self.engine.stop()

    async def feed(self, inputs: Iterable[AnyEvent]) -> None:
        """Append each input at its own time and let the kernel settle after it."""
        for event in inputs:
            self.clock.advance_to(event.ts_ns)
            self.log.append(event)
            await self.settle()

    async def settle(self) -> None:
        """Run the loop until the kernel's tasks are idle: nothing queued and no new entry for
        SETTLE_ROUNDS turns (nothing in it waits on a socket or a timer, so it is then done)."""
        quiet, seen = 0, len(self.log.entries)
        while quiet < SETTLE_ROUNDS:
            await asyncio.sleep(0)  # one turn of the loop: a yield, not a wait for time
            busy = not self.engine.outbox.queue.empty() or not self.router.pending.empty()
            if busy or len(self.log.entries) != seen:
                quiet, seen = 0, len(self.log.entries)
            else:
                quiet += 1
