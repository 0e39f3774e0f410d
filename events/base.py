"""The envelope every event carries."""

from __future__ import annotations

from typing import Literal

import msgspec

# One price level: (px_1e9, qty_1e8). In deltas qty 0 deletes the level.
Level = tuple[int, int]
# The side of an order, a fill or a plan: the one definition every package uses.
Side = Literal["buy", "sell"]

SCHEMA_VERSION = 1


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Base of all events: id, publish time and the causal chain.

    `event_id` is a UUIDv7 and becomes the JetStream `Nats-Msg-Id` (publish is idempotent).
    `ts_ns` is when the event was created by its writer (our clock).
    """

    event_id: str
    ts_ns: int
    tenant: str = ""
    causation_id: str | None = None
    correlation_id: str | None = None
    schema: int = SCHEMA_VERSION
