"""The error tree: callers catch by meaning, not by library."""

from __future__ import annotations

from events.errors import CrossbookError  # the root lives with the vocabulary, the lowest layer


class ConfigError(CrossbookError):
    """A setting is missing or invalid."""


class BusError(CrossbookError):
    """JetStream refused or could not take a request."""


class ConcurrencyConflict(BusError):
    """Another writer appended to the aggregate subject first (optimistic concurrency)."""

    def __init__(self, subject: str, expected_seq: int, detail: str) -> None:
        super().__init__(
            f"concurrency conflict on {subject}: expected last subject sequence {expected_seq}, {detail}"
        )
        self.subject = subject
        self.expected_seq = expected_seq


class BrokenChain(BusError):
    """Not stored: the append before it in a chained batch was refused, or another publisher's
    message came between the two (services/bus/bus.py `publish_chained`)."""


class StoreError(CrossbookError):
    """A read-model store failed (named after PEP 249's DatabaseError)."""


class VenueError(CrossbookError):
    """A venue connection or request failed."""
