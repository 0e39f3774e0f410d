"""A token bucket per tenant: capacity = 2 x qps, refilled at qps per second (the contract's rule).

Decided before any side effect (it runs in the auth dependency), so a 429 never follows a
persisted order. `Retry-After` is whole seconds, as the SDK honours numeric values only."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, qps: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.capacity = 2 * qps
        self.clock = clock
        self.buckets: dict[str, _Bucket] = {}

    def take(self, client: str) -> int:
        """Spend one token for `client`; return 0 when allowed, else seconds to wait (>= 1)."""
        if self.qps <= 0:
            return 0  # limiting switched off
        now = self.clock()
        bucket = self.buckets.get(client)
        if bucket is None:
            bucket = self.buckets[client] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.qps)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0
        return max(1, math.ceil((1 - bucket.tokens) / self.qps))
