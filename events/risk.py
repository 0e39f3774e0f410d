"""Pre-trade risk: checks, balance reservations, kill switch.

Reservations live on the account aggregate subject `risk.<tenant>.acct`, written with
`Nats-Expected-Last-Subject-Sequence`, so two concurrent orders can never spend one balance.
A pass carries the reservations it makes (one append per decision).
"""

from __future__ import annotations

from typing import Literal

from events.base import Event

RejectCode = Literal[
    "BAD_VENUE",
    "BAD_SYMBOL",
    "BAD_QUANTITY",
    "MIN_NOTIONAL",
    "MAX_ORDER_NOTIONAL",
    "POSITION_LIMIT",
    "DAILY_LOSS_LIMIT",
    "MAX_OPEN_ORDERS",
    "INSUFFICIENT_BALANCE",
    "KILL_SWITCH",
    "STALE_VENUE",
    "PRICE_DEVIATION",
]


class ReservationMade(Event, frozen=True, kw_only=True, tag="risk.reservation_made.v1"):
    reservation_id: str
    graph_id: str
    node_id: str
    venue: str
    asset: str
    qty_1e8: int


class RiskCheckPassed(Event, frozen=True, kw_only=True, tag="risk.check_passed.v1"):
    graph_id: str
    node_id: str
    notional_usd_1e9: int
    # The balance this pass holds, folded with it: the decision and its reservations are one
    # append under one expected sequence, so no crash can leave reservations without a verdict.
    # Older logs carry them as standalone ReservationMade events before the pass.
    reservations: tuple[ReservationMade, ...] = ()


class RiskCheckRejected(Event, frozen=True, kw_only=True, tag="risk.check_rejected.v1"):
    graph_id: str
    node_id: str
    code: RejectCode
    message: str


class ReservationReleased(Event, frozen=True, kw_only=True, tag="risk.reservation_released.v1"):
    reservation_id: str
    qty_1e8: int  # amount returned to available balance (partial releases allowed)
    reason: Literal["filled", "cancelled", "rejected", "expired", "completed"]


class KillSwitchEngaged(Event, frozen=True, kw_only=True, tag="risk.kill_switch_engaged.v1"):
    reason: str | None


class KillSwitchCleared(Event, frozen=True, kw_only=True, tag="risk.kill_switch_cleared.v1"):
    pass


RISK_EVENTS = (
    RiskCheckPassed,
    RiskCheckRejected,
    ReservationMade,
    ReservationReleased,
    KillSwitchEngaged,
    KillSwitchCleared,
)
