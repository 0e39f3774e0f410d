"""Event ids: time-ordered (UUIDv7) fresh ones, and stable ones derived from other ids.

Live code uses `new_event_id()`; deterministic paths derive ids from the causing event
(`derive_id`), so the same inputs give the same ids.
"""

from __future__ import annotations

import os
import time
import uuid


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


def derive_id(namespace: str, *parts: str) -> str:
    """Return a stable id derived from other ids (e.g. a child client order id from an event id)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, namespace + ":" + ":".join(parts)))
