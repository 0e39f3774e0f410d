"""Outcomes to `events.execution` events, so sandbox fills look exactly like live ones.

Every child event names its graph and node (`ChildRef`), so no reader keeps a child -> graph map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from events.execution import (
    BalanceAdjusted,
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    FillRecorded,
)
from events.ids import derive_id
from services.edges.sandbox.balances import FundingPlan, Grant, paper_funding
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Outcome, Rejected

ExecutionEvent = ChildAcked | ChildRejected | ChildCancelled | ChildAmended | FillRecorded


class _Envelope(TypedDict):
    event_id: str
    ts_ns: int
    tenant: str
    causation_id: str | None
    correlation_id: str | None
    graph_id: str
    node_id: str


@dataclass(frozen=True, slots=True)
class ChildRef:
    """Who the child order belongs to; constant across a cancel-replace."""

    child_id: str
    graph_id: str
    node_id: str
    venue: str
    tenant: str = ""


def to_event(
    outcome: Outcome,
    ref: ChildRef,
    *,
    event_id: str,
    ts_ns: int,
    causation_id: str | None = None,
    correlation_id: str | None = None,
) -> ExecutionEvent:
    """Return the execution event for one outcome (`ts_ns` = publish time, our clock)."""
    env = _Envelope(
        event_id=event_id, ts_ns=ts_ns, tenant=ref.tenant, causation_id=causation_id, correlation_id=correlation_id,
        graph_id=ref.graph_id, node_id=ref.node_id,
    )
    match outcome:
        case Acked():
            return ChildAcked(
                **env,
                child_id=ref.child_id,
                venue=ref.venue,
                client_order_id=outcome.client_order_id,
                venue_order_id=outcome.venue_order_id,
                ts_event_ns=outcome.ts_ns,
            )
        case Filled():
            return FillRecorded(
                **env,
                fill_id=outcome.fill_id,
                child_id=ref.child_id,
                client_order_id=outcome.client_order_id,
                venue_order_id=outcome.venue_order_id,
                venue=ref.venue,
                symbol=outcome.symbol,
                side=outcome.side,
                qty_1e8=outcome.qty_1e8,
                px_1e9=outcome.px_1e9,
                fee_usd_1e9=outcome.fee_usd_1e9,
                fee_asset=outcome.fee_asset,
                fee_qty_1e8=outcome.fee_qty_1e8,
                liquidity=outcome.liquidity,
                is_sandbox=True,
                ts_event_ns=outcome.ts_ns,
            )
        case Rejected():
            return ChildRejected(
                **env,
                child_id=ref.child_id,
                venue=ref.venue,
                client_order_id=outcome.client_order_id,
                code=outcome.code,
                message=outcome.message,
            )
        case Cancelled():
            return ChildCancelled(
                **env,
                child_id=ref.child_id,
                venue=ref.venue,
                client_order_id=outcome.client_order_id,
                filled_qty_1e8=outcome.filled_qty_1e8,
                cancelled_qty_1e8=outcome.cancelled_qty_1e8,
                reason=outcome.reason,
            )
        case Amended():
            return ChildAmended(
                **env,
                child_id=ref.child_id,
                venue=ref.venue,
                client_order_id=outcome.client_order_id,
                new_qty_1e8=outcome.new_qty_1e8,
                new_limit_px_1e9=outcome.new_limit_px_1e9,
                mode=outcome.mode,
                new_client_order_id=outcome.new_client_order_id,
            )


def grant_event(grant: Grant, *, event_id: str, ts_ns: int, tenant: str = "") -> BalanceAdjusted:
    """Return the paper-funding event for one grant."""
    return BalanceAdjusted(
        event_id=event_id,
        ts_ns=ts_ns,
        tenant=tenant,
        venue=grant.venue,
        asset=grant.asset,
        delta_qty_1e8=grant.qty_1e8,
        reason="paper_funding",
        is_sandbox=True,
    )


def funding_events(
    tenant: str, venues: list[str], ts_ns: int, plan: FundingPlan | None = None
) -> list[BalanceAdjusted]:
    """Paper balances for a new sandbox tenant (`plan`: its settings, else the default); ids
    derive from the tenant, so funding twice within the dedup window is stored once (callers
    also check the account first)."""
    return [
        grant_event(g, event_id=derive_id("paper_funding", tenant, g.venue, g.asset), ts_ns=ts_ns, tenant=tenant)
        for g in paper_funding(venues, plan)
    ]
