"""SOR errors: bad inputs are refused with the field and value named, never routed around."""

from __future__ import annotations

from services.errors import CrossbookError


class SorError(CrossbookError):
    """Root of the router's errors."""


class InvalidBook(SorError):
    """A venue's input (levels, fee, lot, minimum, cap, latency) is malformed."""


class InvalidOrder(SorError):
    """The order handed to the planner is malformed (side, qty, mid, duplicate venues)."""
