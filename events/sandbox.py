"""Sandbox account management: per-tenant paper balance settings and account resets.

Subject `exec._.<tenant>` (venue-wide), so every follower of `exec.>` that keeps balances or
positions (the positions view, the risk fold) sees them in log order with the fills.
A reset is recorded, never a deletion: its balance changes are ordinary `BalanceAdjusted`
events, and `SandboxReset` marks the moment the sandbox positions went flat.
"""

from __future__ import annotations

import msgspec

from events.base import Event


class PaperBalance(msgspec.Struct, frozen=True, kw_only=True):
    """One asset's paper amount, granted on every sandbox venue."""

    asset: str
    qty_1e8: int


class BalanceDelta(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    asset: str
    delta_qty_1e8: int


class PositionRef(msgspec.Struct, frozen=True, kw_only=True):
    venue: str
    symbol: str


class SandboxSettingsChanged(Event, frozen=True, kw_only=True, tag="exec.sandbox_settings_changed.v1"):
    """The paper balances the tenant's next funding or reset grants; empty means the defaults."""

    balances: list[PaperBalance]


class SandboxReset(Event, frozen=True, kw_only=True, tag="exec.sandbox_reset.v1"):
    """The tenant's sandbox positions go flat (its balance changes are BalanceAdjusted events).

    Published after those adjustments, with what the reset did, so a retried request (same
    `request_id`) can answer the same without doing it again."""

    request_id: str
    cancelled: int
    adjusted: list[BalanceDelta]
    flattened: list[PositionRef]
    is_sandbox: bool = True  # the book it belongs to (services/risk/books.py)


SANDBOX_EVENTS = (SandboxSettingsChanged, SandboxReset)
