"""Execution: what each child order did at its venue, fills, and balance changes.

Subject `exec.<venue>.<tenant>`; live and sandbox fills look the same.
"""

from __future__ import annotations

from typing import Literal

from events.base import Event, Side


class ChildSubmitted(Event, frozen=True, kw_only=True, tag="exec.child_submitted.v1"):
    child_id: str
    client_order_id: str
    graph_id: str
    node_id: str
    venue: str
    symbol: str
    side: Side
    qty_1e8: int
    limit_px_1e9: int | None


class ChildAcked(Event, frozen=True, kw_only=True, tag="exec.child_acked.v1"):
    child_id: str
    venue: str
    client_order_id: str
    venue_order_id: str
    ts_event_ns: int = 0
    graph_id: str = ""  # the graph and node the child belongs to ("" in logs written before they carried it)
    node_id: str = ""


class ChildRejected(Event, frozen=True, kw_only=True, tag="exec.child_rejected.v1"):
    child_id: str
    venue: str
    client_order_id: str
    code: str
    message: str
    graph_id: str = ""  # the graph and node the child belongs to ("" in logs written before they carried it)
    node_id: str = ""


class ChildCancelled(Event, frozen=True, kw_only=True, tag="exec.child_cancelled.v1"):
    child_id: str
    venue: str
    client_order_id: str
    filled_qty_1e8: int
    cancelled_qty_1e8: int
    reason: str
    graph_id: str = ""  # the graph and node the child belongs to ("" in logs written before they carried it)
    node_id: str = ""


class ChildAmended(Event, frozen=True, kw_only=True, tag="exec.child_amended.v1"):
    child_id: str
    venue: str
    client_order_id: str
    new_qty_1e8: int
    new_limit_px_1e9: int | None
    mode: Literal["native_atomic", "cancel_replace"]
    new_client_order_id: str | None = None
    graph_id: str = ""  # the graph and node the child belongs to ("" in logs written before they carried it)
    node_id: str = ""


class FillRecorded(Event, frozen=True, kw_only=True, tag="exec.fill.v1"):
    fill_id: str  # venue trade id where the venue gives one: dedups replayed venue fills
    child_id: str
    client_order_id: str
    graph_id: str
    node_id: str
    venue: str
    symbol: str
    side: Side
    qty_1e8: int
    px_1e9: int
    fee_usd_1e9: int  # the fee in USD at the fill's time (positive = paid)
    liquidity: Literal["maker", "taker"]
    is_sandbox: bool
    ts_event_ns: int = 0
    venue_order_id: str = ""
    # The fee as the venue charged it (asset and amount, positive = paid); `fee_usd_1e9` is the
    # same fee in USD at the fill's time (0 when it could not be priced there, e.g. BNB).
    fee_asset: str = ""
    fee_qty_1e8: int = 0


class BalanceAdjusted(Event, frozen=True, kw_only=True, tag="exec.balance_adjusted.v1"):
    """A balance change not caused by a fill (paper funding, deposit seen, reconciliation)."""

    venue: str
    asset: str
    delta_qty_1e8: int
    reason: str
    is_sandbox: bool


class PositionRedeemed(Event, frozen=True, kw_only=True, tag="exec.position_redeemed.v1"):
    """A resolved prediction-market position paid out: `qty_1e8` contracts of `symbol` leave the
    account at `settle_px_1e9` ($1 for the winning outcome, $0 for the losing one), in dollars.

    The id derives from tenant, book, venue and symbol: a repeated redemption is one event."""

    venue: str
    symbol: str  # the outcome contract (canonical)
    slug: str  # the market
    qty_1e8: int
    settle_px_1e9: int
    mode: Literal["auto_settled", "relayer_submitted"]
    is_sandbox: bool


class VenueReconciled(Event, frozen=True, kw_only=True, tag="exec.venue_reconciled.v1"):
    """The live executor brought the ledger in line with one venue account (on start, after a
    reconnect, or for a `SyncPositions` command, its `causation_id`): what it checked and appended."""

    venue: str
    trigger: str  # start | reconnect | request
    orders_checked: int  # our children the ledger thought working, looked up at the venue
    orders_resolved: int  # of those, ended by what the venue said (filled, cancelled, unknown there)
    fills_added: int  # venue fills the ledger lacked
    balances_adjusted: int  # assets whose ledger balance was moved to the venue's
    open_at_venue: int  # open orders the venue lists for the account (ours or not)


EXECUTION_EVENTS = (
    VenueReconciled,
    ChildSubmitted,
    ChildAcked,
    ChildRejected,
    ChildCancelled,
    ChildAmended,
    FillRecorded,
    BalanceAdjusted,
    PositionRedeemed,
)
