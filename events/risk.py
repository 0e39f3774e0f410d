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
    "NO_LIVE_VENUE",  # a live order: no venue it may trade live at (credentials, live order entry) has a book
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


class FactRefused(Event, frozen=True, kw_only=True, tag="risk.fact_refused.v1"):
    """An execution fact (fill, ack, cancel) the ledger cannot place: its child was never
    allocated or submitted, or it names a venue other than the child's. The folds leave balances
    and positions untouched and the risk writer records it here (`risk.<tenant>.anomaly`) once,
    for reconciliation to explain or raise. The id derives from the refused fact's id."""

    fact_event_id: str
    fact_type: str  # "FillRecorded", "ChildAcked", "ChildCancelled"
    reason: Literal["unknown_child", "venue_mismatch"]
    child_id: str
    graph_id: str
    venue: str  # the venue the fact names
    child_venue: str = ""  # the venue the child was sent to ("" when the child is unknown)
    symbol: str = ""
    side: str = ""
    qty_1e8: int = 0
    px_1e9: int = 0


RISK_EVENTS = (
    FactRefused,
    RiskCheckPassed,
    RiskCheckRejected,
    ReservationMade,
    ReservationReleased,
    KillSwitchEngaged,
    KillSwitchCleared,
)
