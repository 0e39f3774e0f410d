"""TCA errors."""

from __future__ import annotations

from services.errors import CrossbookError


class TcaError(CrossbookError):
    """Base of TCA errors."""


class TcaInputError(TcaError):
    """The facts given cannot make a report (no fills, no arrival mid, another node's events)."""
