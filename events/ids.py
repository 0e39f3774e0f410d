"""Time-ordered event ids (UUIDv7) with injectable clock and randomness.

Live code uses `new_event_id()`; deterministic paths (replay, backtest) build an `IdFactory`
from a seed and a virtual clock so the same inputs give the same ids.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable


def _uuid7(unix_ms: int, rand_a: int, rand_b: int) -> str:
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand_a & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def new_event_id() -> str:
    """Return a fresh UUIDv7 from the wall clock and the OS random source."""
    rnd = int.from_bytes(os.urandom(10), "big")
    return _uuid7(time.time_ns() // 1_000_000, rnd >> 62, rnd)


class IdFactory:
    """Deterministic UUIDv7 source: same seed and clock readings give the same ids."""

    def __init__(self, seed: int, clock_ns: Callable[[], int]) -> None:
        self._rng = random.Random(seed)
        self._clock_ns = clock_ns

    def __call__(self) -> str:
        return _uuid7(self._clock_ns() // 1_000_000, self._rng.getrandbits(12), self._rng.getrandbits(62))


def derive_id(namespace: str, *parts: str) -> str:
    """Return a stable id derived from other ids (e.g. a child client order id from an event id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, namespace + ":" + ":".join(parts)))
