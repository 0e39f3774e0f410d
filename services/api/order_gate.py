"""Orders in flight in this API process, so work that can wait steps aside for them.

The durable views (positions, orders) fold every ledger event and commit it to the database in
this process, on the event loop the order path runs on: on a 2-core machine that work, landing
while an order is between its request and its answer, was a large part of the order path's
latency. The views' runners await `quiet()` before folding a batch: it returns at once when no
order is in flight, else when the last one is answered, and never later than `max_defer_s` (a
steady stream of orders must not starve the views: reads wait for them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

MAX_DEFER_S = 0.05


class OrderGate:
    def __init__(self, max_defer_s: float = MAX_DEFER_S) -> None:
        self.max_defer_s = max_defer_s
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @contextlib.contextmanager
    def order(self) -> Iterator[None]:
        """Held while one order is being placed (request in, answer ready)."""
        self.in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self._idle.set()

    async def quiet(self) -> None:
        """Return once no order is in flight, or after `max_defer_s` at most."""
        if self._idle.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), self.max_defer_s)
