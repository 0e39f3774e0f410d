"""The in-process runner: the synchronous `Kernel` over one InProcessLog, with a virtual clock.

Each input is appended at its own time, after whatever the kernel had scheduled before it
(venue replies after their latency, graph timers, TWAP slices); the kernel's reactions are
appended right after it, each stamped with the role that declares its subject (graph, risk,
router, executor, tca). No event loop, no settling: `feed` returns when the log holds every
consequence of the inputs that is due by the last input's time (`finish` releases the rest).
The same inputs and seed give the same log, byte for byte (`log.dump()`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable

from events import AnyEvent
from services.bus.memory import InProcessLog
from services.bus.writer import ROLE_SEPARATOR
from services.edges.sandbox.config import SandboxConfig
from services.kernel.kernel import Kernel
from services.kernel.ports import VirtualClock
from services.risk import RiskLimits

KERNEL_ROLES = ("graph", "risk", "router", "executor", "tca")


class InProcessKernel:
    def __init__(
        self,
        *,
        limits: RiskLimits | None = None,
        start_ns: int = 0,
        seed: int = 0,
        sandbox: SandboxConfig | None = None,
    ) -> None:
        self.clock = VirtualClock(start_ns)
        self.log = InProcessLog()
        self.kernel = Kernel(clock=self.clock, rng=random.Random(seed), limits=limits, sandbox=sandbox)
        self._out = copy.copy(self.log)  # the same log, appending as the kernel's roles
        self._out.writer = ROLE_SEPARATOR.join(KERNEL_ROLES)

    def feed(self, inputs: Iterable[AnyEvent]) -> None:
        """Append each input at its own time, with everything due before it and what it caused."""
        for event in inputs:
            self._append(self.kernel.advance_to(event.ts_ns))
            self.log.append(event)
            self._append(self.kernel.handle(event))

    def finish(self, until_ns: int) -> None:
        """Release what is scheduled up to `until_ns` (replies still on their way, timers)."""
        self._append(self.kernel.advance_to(until_ns))

    def _append(self, events: list[AnyEvent]) -> None:
        for event in events:
            self._out.append(event)
