"""Errors raised by the risk package (data-level refusals are `RiskRejected` values, not errors)."""

from __future__ import annotations

from services.errors import ConfigError, CrossbookError


class RiskError(CrossbookError):
    """A risk function was called with inputs that break its contract (a wiring bug)."""


class RiskConfigError(RiskError, ConfigError):
    """A risk limit or instrument rule is invalid."""


class WrongTenant(RiskError):
    """An event for another tenant was applied to an account fold."""

    def __init__(self, expected: str, got: str, event_type: str) -> None:
        super().__init__(f"account fold for tenant {expected!r} got {event_type} for tenant {got!r}")
        self.expected = expected
        self.got = got
