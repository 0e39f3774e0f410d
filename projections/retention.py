"""When a finished aggregate (a graph, its children, its reservations) may leave hot state.

A fold marks a key `ended` at the log time of its end; the key is `due` once the log's clock
(the newest envelope timestamp the fold has read, never the wall clock, so a replay evicts the
same keys at the same point) has passed that end by `window_ns`. The window is the LEDGER
stream's dedup window: until it has passed, a writer may still re-send an event of the graph
(a retry, a restart re-deciding), and the fold must still recognise it; after it, JetStream no
longer drops repeats, and the durable views (projections/orders.py) answer for the history.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Retention(Generic[K]):
    def __init__(self, window_ns: int) -> None:
        self.window_ns = window_ns
        self.log_ns = 0  # the newest envelope timestamp read
        self._due: list[tuple[int, K]] = []  # (due ns, key), a heap; a key may appear twice (harmless)

    def __len__(self) -> int:
        return len(self._due)

    def read(self, ts_ns: int) -> None:
        """The fold read an event stamped `ts_ns`: the log's clock moves on."""
        if ts_ns > self.log_ns:
            self.log_ns = ts_ns

    def ended(self, key: K, at_ns: int | None = None) -> None:
        """`key` ended at `at_ns` (default: the log's clock now)."""
        heapq.heappush(self._due, ((self.log_ns if at_ns is None else at_ns) + self.window_ns, key))

    def due(self) -> list[K]:
        """The keys whose window has passed on the log's clock, each once, oldest first."""
        out: list[K] = []
        while self._due and self._due[0][0] <= self.log_ns:
            out.append(heapq.heappop(self._due)[1])
        return out


DEFAULT_WINDOW_S = 120.0  # nats/streams.json LEDGER duplicate_window_s


def window_ns(bus: object, retention_s: float | None = None) -> int:
    """`retention_s`, else the LEDGER stream's dedup window on `bus` (CROSSBOOK_DEDUP_WINDOW_S),
    else the default; the in-process log (services/bus/memory.py) has no stream definitions."""
    if retention_s is None:
        ledger = [s for s in getattr(bus, "streams", None) or () if getattr(s, "name", None) == "LEDGER"]
        retention_s = float(getattr(ledger[0], "duplicate_window_s", DEFAULT_WINDOW_S)) if ledger else DEFAULT_WINDOW_S
    return int(retention_s * 1_000_000_000)
