"""Balance reservations: decide, reserve, and release, as events for the account subject.

A buy reserves the quote asset (cost at the worst-case price plus the venue's reserved fee);
a sell reserves the base asset. The reservations ride inside the RiskCheckPassed that decides
them (one append). Fills consume reservations inside the fold; what is left of a node's
reservations is released when the node (or its graph) ends or its check is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from events.base import Event
from events.graph import GraphCancelled, GraphCompleted, NodeCancelled, NodeCompleted
from events.ids import derive_id
from events.risk import RejectCode, ReservationMade, ReservationReleased, RiskCheckPassed, RiskCheckRejected
from events.venues import account_venue
from services.risk.account import AccountState
from services.risk.config import RiskLimits, RulesBook
from services.risk.errors import RiskError
from services.risk.money import cost_usd_1e9, fee_usd_1e9, fmt_qty, usd_to_quote_qty_up
from services.risk.rules import (
    OrderIntent,
    RiskAccepted,
    RiskDecision,
    RiskRejected,
    check_instrument,
    check_order,
)

NewId = Callable[[], str]
ReleaseReason = Literal["filled", "cancelled", "rejected", "expired", "completed"]

_RELEASE_NS = "crossbook.risk.release"


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskOutcome:
    """A decision and the event that records it (a 1-tuple; empty when `already_passed`), to
    append on the account subject with one expected last subject sequence. A RiskCheckPassed
    carries the node's reservations.

    `already_passed` means the node's pass is already on the log: publish nothing, route on.
    """

    decision: RiskDecision
    events: tuple[RiskCheckPassed | RiskCheckRejected, ...]
    already_passed: bool = False


def reservation_needs(accepted: RiskAccepted, venue_amounts: Mapping[str, int], rules: RulesBook) -> (
    dict[tuple[str, str], int] | RiskRejected
):
    """Return what must be held per (venue, asset) to trade `venue_amounts` (venue -> base qty_1e8)."""
    intent = accepted.intent

    def reject(code: RejectCode, message: str) -> RiskRejected:
        return RiskRejected(intent=intent, code=code, message=message)

    needs: dict[tuple[str, str], int] = {}
    total = 0
    for venue in sorted(venue_amounts):
        qty = venue_amounts[venue]
        fit = accepted.fit(venue)
        if fit is None:
            allowed = ", ".join(f.venue for f in accepted.venues)
            return reject("BAD_VENUE", f"allocation to {venue!r} is not among the accepted venues ({allowed})")
        rule = rules[venue][intent.symbol]
        base = rule.base_asset
        if qty <= 0 or qty % rule.lot_1e8 or qty < rule.min_qty_1e8:
            return reject(
                "BAD_QUANTITY",
                f"allocation {fmt_qty(qty)} {base} on {venue} must be > 0, a multiple of the lot "
                f"{fmt_qty(rule.lot_1e8)} and at least the minimum {fmt_qty(rule.min_qty_1e8)}",
            )
        total += qty
        if intent.side == "buy":
            # Orders go out at the venue's tick-rounded limit (never above the intent's limit).
            px = fit.limit_px_1e9 if fit.limit_px_1e9 is not None else accepted.worst_px_1e9
            cost = cost_usd_1e9(px, qty)
            key, amount = (account_venue(venue), rule.quote_asset), usd_to_quote_qty_up(cost + fee_usd_1e9(cost, rule.fee_ppm))
        else:
            key, amount = (account_venue(venue), base), qty  # a pool's leg spends its chain wallet's
        needs[key] = needs.get(key, 0) + amount
    if total > intent.qty_1e8:
        return reject(
            "BAD_QUANTITY",
            f"allocations total {fmt_qty(total)} but the order is for {fmt_qty(intent.qty_1e8)} {intent.symbol}",
        )
    return needs


def reserve(
    state: AccountState,
    accepted: RiskAccepted,
    venue_amounts: Mapping[str, int],
    rules: RulesBook,
    *,
    new_id: NewId,
    now_ns: int,
) -> list[ReservationMade] | RiskRejected:
    """Return the reservations for `venue_amounts` (to embed in the node's RiskCheckPassed), or
    an INSUFFICIENT_BALANCE rejection.

    Re-run safe: what the node already holds on a (venue, asset) is subtracted, so a re-decision
    (an amended node, or an older log with standalone reservations but no pass) only reserves
    the rest. All or nothing: one short asset rejects all.
    """
    intent = accepted.intent
    needs = reservation_needs(accepted, venue_amounts, rules)
    if isinstance(needs, RiskRejected):
        return needs
    held: dict[tuple[str, str], int] = {}
    for res in state.node_reservations(intent.graph_id, intent.node_id):
        held[(res.venue, res.asset)] = held.get((res.venue, res.asset), 0) + res.qty_1e8
    made: list[ReservationMade] = []
    for (venue, asset), need in needs.items():
        delta = need - held.get((venue, asset), 0)
        if delta <= 0:
            continue
        available = state.available(venue, asset)
        if delta > available:
            return RiskRejected(
                intent=intent,
                code="INSUFFICIENT_BALANCE",
                message=(
                    f"{intent.side} {fmt_qty(sum(venue_amounts.values()))} {intent.symbol} needs "
                    f"{fmt_qty(delta)} {asset} on {venue}, available {fmt_qty(available)} "
                    f"(balance {fmt_qty(state.balance(venue, asset))}, "
                    f"reserved {fmt_qty(state.reserved_qty(venue, asset))})"
                ),
            )
        rid = new_id()
        made.append(
            ReservationMade(
                event_id=rid,
                ts_ns=now_ns,
                tenant=intent.tenant,
                reservation_id=rid,
                graph_id=intent.graph_id,
                node_id=intent.node_id,
                venue=venue,
                asset=asset,
                qty_1e8=delta,
            )
        )
    return made


def check_event(
    decision: RiskDecision, *, event_id: str, now_ns: int, reservations: Sequence[ReservationMade] = ()
) -> RiskCheckPassed | RiskCheckRejected:
    """Return the event that records a decision; a pass carries `reservations` (its own holds)."""
    intent = decision.intent
    if isinstance(decision, RiskAccepted):
        return RiskCheckPassed(
            event_id=event_id,
            ts_ns=now_ns,
            tenant=intent.tenant,
            graph_id=intent.graph_id,
            node_id=intent.node_id,
            notional_usd_1e9=decision.notional_usd_1e9,
            reservations=tuple(reservations),
        )
    if reservations:
        raise RiskError(f"a rejection of {intent.graph_id}/{intent.node_id} cannot carry reservations")
    return RiskCheckRejected(
        event_id=event_id,
        ts_ns=now_ns,
        tenant=intent.tenant,
        graph_id=intent.graph_id,
        node_id=intent.node_id,
        code=decision.code,
        message=decision.message,
    )


def decide_and_reserve(
    state: AccountState,
    intent: OrderIntent,
    *,
    limits: RiskLimits,
    rules: RulesBook,
    mark_px_1e9: int | None,
    now_ns: int,
    new_id: NewId,
    venue_amounts: Mapping[str, int] | None = None,
) -> RiskOutcome:
    """Check `intent` and reserve its balance on the state read at account-subject sequence N.

    One event comes back: a RiskCheckPassed carrying the reservations it makes, or a
    RiskCheckRejected (none when the pass is already on the log). `venue_amounts` (venue -> base
    qty_1e8, e.g. from the SOR plan) defaults to the whole lot-rounded quantity on a pinned
    venue; an unpinned intent must pass it (RiskError otherwise). Pure and safe to re-run on a
    newer state.
    """
    if (intent.graph_id, intent.node_id) in state.passed_nodes:
        shaped = check_instrument(intent, limits, rules, mark_px_1e9)
        return RiskOutcome(decision=shaped, events=(), already_passed=True)
    decision = check_order(intent, state, limits, rules, mark_px_1e9, now_ns)
    if isinstance(decision, RiskAccepted):
        if venue_amounts is None:
            if intent.venue is None:
                raise RiskError(f"venue_amounts is required for unpinned order {intent.graph_id}/{intent.node_id}")
            venue_amounts = {intent.venue: decision.qty_1e8}
        made = reserve(state, decision, venue_amounts, rules, new_id=new_id, now_ns=now_ns)
        if isinstance(made, RiskRejected):
            decision = made
        else:
            # Ids drawn in the same order as when reservations were events of their own.
            passed = check_event(decision, event_id=new_id(), now_ns=now_ns, reservations=made)
            return RiskOutcome(decision=decision, events=(passed,))
    return RiskOutcome(decision=decision, events=(check_event(decision, event_id=new_id(), now_ns=now_ns),))


def release_node(
    state: AccountState,
    graph_id: str,
    node_id: str | None,
    reason: ReleaseReason,
    *,
    cause: Event,
    now_ns: int,
) -> list[ReservationReleased]:
    """Release everything a node (or, with `node_id` None, a whole graph) still holds.

    Event ids derive from (reservation, cause) so a retried release is deduplicated by JetStream.
    """
    return [
        ReservationReleased(
            event_id=derive_id(_RELEASE_NS, res.reservation_id, cause.event_id),
            ts_ns=now_ns,
            tenant=state.tenant,
            causation_id=cause.event_id,
            correlation_id=cause.correlation_id,
            reservation_id=res.reservation_id,
            qty_1e8=res.qty_1e8,
            reason=reason,
        )
        for res in state.node_reservations(graph_id, node_id)
    ]


_NODE_REASON: dict[str, ReleaseReason] = {
    "FILLED": "completed",
    "CANCELLED": "cancelled",
    "REJECTED": "rejected",
    "FAILED": "rejected",
    "EXPIRED": "expired",
}


def releases_for(state: AccountState, event: Event, *, now_ns: int) -> list[ReservationReleased]:
    """Return the releases an event calls for ([] when none): publish them on the account subject.

    Fills need none (the fold consumes the reservation with the balance). Child cancels and
    rejects need none either: the node may route again (TWAP slices, re-routes), so what it holds
    is released only when the node or graph ends, or its risk check was rejected.
    """
    match event:
        case NodeCompleted(graph_id=g, node_id=n, status=status):
            return release_node(state, g, n, _NODE_REASON[status], cause=event, now_ns=now_ns)
        case NodeCancelled(graph_id=g, node_id=n):
            return release_node(state, g, n, "cancelled", cause=event, now_ns=now_ns)
        case RiskCheckRejected(graph_id=g, node_id=n):
            return release_node(state, g, n, "rejected", cause=event, now_ns=now_ns)
        case GraphCompleted(graph_id=g, status=status):
            reason: ReleaseReason = "completed" if status == "COMPLETED" else "rejected"
            return release_node(state, g, None, reason, cause=event, now_ns=now_ns)
        case GraphCancelled(graph_id=g):
            return release_node(state, g, None, "cancelled", cause=event, now_ns=now_ns)
    return []
