"""Errors raised by the sandbox on programming or configuration mistakes.

Venue-like refusals (unknown symbol, stale book, FOK not fillable) are not errors: they come
back as `Rejected` outcomes, exactly as a live venue answers them.
"""

from __future__ import annotations

from services.errors import ConfigError, CrossbookError


class SandboxError(CrossbookError):
    """The sandbox was called with arguments no venue would ever send."""


class UnknownFeeVenue(ConfigError):
    """No default fee schedule exists for this venue name."""

    def __init__(self, venue: str) -> None:
        super().__init__(f"no default sandbox fee schedule for venue={venue!r}")
        self.venue = venue


class InvalidBookUpdate(SandboxError):
    """A book level has a non-positive price or a negative size."""
