"""The account fold: balances, reservations, positions, realised PnL, open orders, kill switch.

One `AccountState` per tenant, built by folding that tenant's events in log order:
exec.* (balances, fills, child orders), route.* (the children the router allocated), risk.<tenant>.acct (check results and the reservations
a pass carries; standalone ReservationMade events in older logs),
risk.<tenant>.kill (kill switch) and ord.<tenant>.* (node/graph ends). Other events are ignored.

`apply` is pure (returns a new state); `fold_into` mutates in place for a replay/runner hot path.
Both need the instrument rules only to know a symbol's base and quote asset.

Facts must make sense: a fill for a child this book never saw allocated or submitted, or from a
venue other than the child's, moves no money. The fold counts it in `refused` (fact event id ->
reason) and the risk writer records a `FactRefused` for it (services/sor/service.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from events.base import Event
from events.execution import (
    BalanceAdjusted,
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    ChildSubmitted,
    FillRecorded,
    PositionRedeemed,
)
from events.graph import GraphCancelled, GraphCompleted, NodeAmended, NodeCancelled, NodeCompleted
from events.risk import (
    FactRefused,
    KillSwitchCleared,
    KillSwitchEngaged,
    ReservationMade,
    ReservationReleased,
    RiskCheckPassed,
)
from events.routing import ChildAllocated, PlanMade
from events.sandbox import SandboxReset
from events.venues import account_venue
from services.risk.config import RulesBook, assets_of
from services.risk.errors import WrongTenant
from services.risk.money import (
    Side,
    cost_usd_1e9,
    fee_split,
    notional_usd_1e9,
    usd_to_quote_qty_down,
    usd_to_quote_qty_up,
    utc_day,
)

VenueAsset = tuple[str, str]
NodeKey = tuple[str, str]  # (graph_id, node_id)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What is still held for one node on one (venue, asset); `qty_1e8` shrinks with fills/releases."""

    reservation_id: str
    graph_id: str
    node_id: str
    venue: str
    asset: str
    qty_1e8: int


@dataclass(frozen=True, slots=True)
class Position:
    """Net base quantity of a symbol over all venues and its average-cost basis.

    `basis_usd_1e9` has the sign of `qty_1e8`: paid for a long, received for a short.
    """

    qty_1e8: int = 0
    basis_usd_1e9: int = 0


@dataclass(frozen=True, slots=True)
class OpenChild:
    graph_id: str
    node_id: str
    venue: str
    symbol: str
    side: Side
    qty_1e8: int
    filled_qty_1e8: int = 0


@dataclass(slots=True, kw_only=True)
class AccountState:
    """One tenant's risk view. Treat it as a value: use `apply` or `copy()` before mutating."""

    tenant: str
    balances: dict[VenueAsset, int] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    reserved: dict[VenueAsset, int] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    pnl_day: int = 0  # UTC day that realised_today_usd_1e9 belongs to
    realised_today_usd_1e9: int = 0
    open_children: dict[str, OpenChild] = field(default_factory=dict)
    passed_nodes: dict[NodeKey, int] = field(default_factory=dict)  # -> checked notional_usd_1e9
    kill_engaged: bool = False
    kill_reason: str | None = None
    kill_since_ns: int | None = None
    fill_keys: set[tuple[str, str]] = field(default_factory=set)  # (venue, fill_id) already applied
    children: dict[str, str] = field(default_factory=dict)  # child id -> its venue (allocated or submitted)
    refused: dict[str, str] = field(default_factory=dict)  # fact event id -> why it was not booked

    def copy(self) -> AccountState:
        # Every value inside the containers is immutable, so shallow container copies suffice.
        return AccountState(
            tenant=self.tenant,
            balances=dict(self.balances),
            reservations=dict(self.reservations),
            reserved=dict(self.reserved),
            positions=dict(self.positions),
            pnl_day=self.pnl_day,
            realised_today_usd_1e9=self.realised_today_usd_1e9,
            open_children=dict(self.open_children),
            passed_nodes=dict(self.passed_nodes),
            kill_engaged=self.kill_engaged,
            kill_reason=self.kill_reason,
            kill_since_ns=self.kill_since_ns,
            fill_keys=set(self.fill_keys),
            children=dict(self.children),
            refused=dict(self.refused),
        )

    def balance(self, venue: str, asset: str) -> int:
        return self.balances.get((venue, asset), 0)

    def reserved_qty(self, venue: str, asset: str) -> int:
        return self.reserved.get((venue, asset), 0)

    def available(self, venue: str, asset: str) -> int:
        """Return balance minus reservations (may be negative if a fill overspent its reservation)."""
        return self.balance(venue, asset) - self.reserved_qty(venue, asset)

    def position(self, symbol: str) -> Position:
        return self.positions.get(symbol, Position())

    def realised_on(self, day: int) -> int:
        """Return realised PnL (USD_1e9) for UTC `day`: 0 once the day has rolled over."""
        return self.realised_today_usd_1e9 if day == self.pnl_day else 0

    def pending_qty(self, symbol: str, side: Side) -> int:
        """Return the unfilled quantity of open child orders on one side of a symbol."""
        return sum(
            c.qty_1e8 - c.filled_qty_1e8 for c in self.open_children.values() if c.symbol == symbol and c.side == side
        )

    def open_order_count(self) -> int:
        """Count open child orders, plus passed nodes with no open child yet (about to route).

        Passed nodes come from the account subject, so this count is covered by the same
        optimistic-concurrency check as reservations.
        """
        with_children = {(c.graph_id, c.node_id) for c in self.open_children.values()}
        waiting = sum(1 for key in self.passed_nodes if key not in with_children)
        return len(self.open_children) + waiting

    def node_reservations(self, graph_id: str, node_id: str | None = None) -> list[Reservation]:
        """Return the live reservations of a node (or of a whole graph when `node_id` is None)."""
        return [
            r
            for r in self.reservations.values()
            if r.graph_id == graph_id and (node_id is None or r.node_id == node_id)
        ]


# Execution facts about one child: each must name a child the ledger knows, at its venue.
CHILD_FACTS = (FillRecorded, ChildAcked, ChildCancelled)
ChildFact = FillRecorded | ChildAcked | ChildCancelled


def fact_problem(children: dict[str, str], fact: ChildFact) -> str | None:
    """Why `fact` cannot be booked against `children` (child id -> venue), or None if it can."""
    venue = children.get(fact.child_id)
    if venue is None:
        return "unknown_child"
    if venue != fact.venue:
        return "venue_mismatch"
    return None


def refusal_event(fact: ChildFact, reason: str, child_venue: str, event_id: str, ts_ns: int) -> FactRefused:
    """The `FactRefused` recording `fact` (`event_id` derived from the fact's, by the caller)."""
    fill = fact if isinstance(fact, FillRecorded) else None
    return FactRefused(
        event_id=event_id, ts_ns=ts_ns, tenant=fact.tenant, correlation_id=fact.correlation_id,
        causation_id=fact.event_id, fact_event_id=fact.event_id, fact_type=type(fact).__name__,
        reason="venue_mismatch" if reason == "venue_mismatch" else "unknown_child", child_id=fact.child_id,
        graph_id=getattr(fact, "graph_id", ""), venue=fact.venue, child_venue=child_venue,
        symbol=fill.symbol if fill else "", side=fill.side if fill else "",
        qty_1e8=fill.qty_1e8 if fill else 0, px_1e9=fill.px_1e9 if fill else 0,
    )


def new_account(tenant: str) -> AccountState:
    """Return the empty account of a tenant (the fold's initial state)."""
    return AccountState(tenant=tenant)


def apply(state: AccountState, event: Event, rules: RulesBook) -> AccountState:
    """Return the state after `event`; `state` is left unchanged."""
    nxt = state.copy()
    fold_into(nxt, event, rules)
    return nxt


def replay(tenant: str, events: Iterable[Event], rules: RulesBook) -> AccountState:
    """Fold events from the empty account (a rebuild gives the same state as the live fold)."""
    state = new_account(tenant)
    for event in events:
        fold_into(state, event, rules)
    return state


_TENANT_SCOPED = (
    ChildAllocated,
    BalanceAdjusted,
    FillRecorded,
    ChildSubmitted,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    ReservationMade,
    ReservationReleased,
    RiskCheckPassed,
    KillSwitchEngaged,
    KillSwitchCleared,
    NodeCompleted,
    NodeCancelled,
    NodeAmended,
    GraphCompleted,
    GraphCancelled,
    SandboxReset,
    PositionRedeemed,
)


def fold_into(state: AccountState, event: Event, rules: RulesBook) -> None:
    """Apply one event to `state` in place."""
    if isinstance(event, _TENANT_SCOPED) and event.tenant != state.tenant:
        raise WrongTenant(state.tenant, event.tenant, type(event).__name__)
    match event:
        case BalanceAdjusted(venue=venue, asset=asset, delta_qty_1e8=delta):
            _add_balance(state, venue, asset, delta)
        case SandboxReset():
            # The sandbox book starts over: its balances come back through the reset's
            # BalanceAdjusted events; its positions (exposure) are flat from here on.
            state.positions.clear()
        case ChildAllocated(child_id=cid, venue=venue):
            state.children.setdefault(cid, venue)
        case PlanMade(children=children):  # a child the router was killed before appending
            for allocated in children:
                state.children.setdefault(allocated.child_id, allocated.venue)
        case FillRecorded():
            problem = fact_problem(state.children, event)
            if problem is not None:
                state.refused[event.event_id] = problem
                return
            _fill(state, event, rules)
        case PositionRedeemed():
            _redeem(state, event, rules)
        case ReservationMade():  # standalone: logs written before a pass carried its reservations
            _reserve(state, event)
        case ReservationReleased(reservation_id=rid, qty_1e8=qty) if rid in state.reservations:
            _shrink(state, state.reservations[rid], qty)
        case RiskCheckPassed(graph_id=g, node_id=n, notional_usd_1e9=notional):
            # Same effect as folding each reservation before the pass; checked first so a bad
            # event changes nothing.
            foreign = next((m for m in event.reservations if m.tenant != state.tenant), None)
            if foreign is not None:
                raise WrongTenant(state.tenant, foreign.tenant, type(foreign).__name__)
            for made in event.reservations:
                _reserve(state, made)
            state.passed_nodes[(g, n)] = notional
        case KillSwitchEngaged(reason=reason):
            state.kill_engaged, state.kill_reason, state.kill_since_ns = True, reason, event.ts_ns
        case KillSwitchCleared():
            state.kill_engaged, state.kill_reason, state.kill_since_ns = False, None, None
        case ChildSubmitted(child_id=cid):
            state.children.setdefault(cid, event.venue)
            state.open_children[cid] = OpenChild(
                event.graph_id, event.node_id, event.venue, event.symbol, event.side, event.qty_1e8
            )
        case ChildAmended(child_id=cid, new_qty_1e8=new_qty) if cid in state.open_children:
            child = state.open_children[cid]
            if new_qty <= child.filled_qty_1e8:
                del state.open_children[cid]
            else:
                state.open_children[cid] = replace(child, qty_1e8=new_qty)
        case ChildCancelled(child_id=cid) | ChildRejected(child_id=cid):
            state.open_children.pop(cid, None)
        case NodeCompleted(graph_id=g, node_id=n) | NodeCancelled(graph_id=g, node_id=n):
            _forget_orders(state, g, n)
        case NodeAmended(graph_id=g, node_id=n):
            # A changed node must be decided again (it may need a larger reservation).
            state.passed_nodes.pop((g, n), None)
        case GraphCompleted(graph_id=g) | GraphCancelled(graph_id=g):
            _forget_orders(state, g, None)
        case _:
            pass


def _reserve(state: AccountState, made: ReservationMade) -> None:
    rid, qty = made.reservation_id, made.qty_1e8
    if rid in state.reservations or qty <= 0:
        return  # a duplicate (replayed) reservation holds nothing more
    state.reservations[rid] = Reservation(rid, made.graph_id, made.node_id, made.venue, made.asset, qty)
    _add_reserved(state, (made.venue, made.asset), qty)


def _add_balance(state: AccountState, venue: str, asset: str, delta: int) -> None:
    key = (venue, asset)
    state.balances[key] = state.balances.get(key, 0) + delta


def _add_reserved(state: AccountState, key: VenueAsset, delta: int) -> None:
    total = state.reserved.get(key, 0) + delta
    if total:
        state.reserved[key] = total
    else:
        state.reserved.pop(key, None)


def _shrink(state: AccountState, res: Reservation, qty: int) -> int:
    # A release or fill larger than what is left (late fill, duplicate release) is capped.
    taken = max(0, min(qty, res.qty_1e8))
    left = res.qty_1e8 - taken
    if left:
        state.reservations[res.reservation_id] = replace(res, qty_1e8=left)
    else:
        del state.reservations[res.reservation_id]
    _add_reserved(state, (res.venue, res.asset), -taken)
    return taken


def _forget_orders(state: AccountState, graph_id: str, node_id: str | None) -> None:
    # The node (or graph) is over: its children can no longer trade and its pass is spent.
    # Its reservations are NOT dropped here; `releases_for` turns them into release events.
    for cid, child in list(state.open_children.items()):
        if child.graph_id == graph_id and (node_id is None or child.node_id == node_id):
            del state.open_children[cid]
    for key in [k for k in state.passed_nodes if k[0] == graph_id and (node_id is None or k[1] == node_id)]:
        del state.passed_nodes[key]


def _fill(state: AccountState, fill: FillRecorded, rules: RulesBook) -> None:
    key = (fill.venue, fill.fill_id or fill.event_id)
    if key in state.fill_keys:
        return  # a venue fill replayed after a reconnect must not move money twice
    state.fill_keys.add(key)
    base, quote = assets_of(rules, fill.venue, fill.symbol)
    fee_quote, fee_elsewhere = fee_split(fill, quote)
    account = account_venue(fill.venue)  # a pool's fill moves its chain wallet's balances
    if fee_elsewhere is not None:  # paid in another asset (BNB, the base): booked there
        _add_balance(state, account, fee_elsewhere[0], -fee_elsewhere[1])
    if fill.side == "buy":
        spent_asset = quote
        spent = usd_to_quote_qty_up(cost_usd_1e9(fill.px_1e9, fill.qty_1e8)) + fee_quote
        _add_balance(state, account, base, fill.qty_1e8)
        _add_balance(state, account, quote, -spent)
    else:
        spent_asset = base
        spent = fill.qty_1e8
        proceeds = usd_to_quote_qty_down(notional_usd_1e9(fill.px_1e9, fill.qty_1e8)) - fee_quote
        _add_balance(state, account, base, -fill.qty_1e8)
        _add_balance(state, account, quote, proceeds)
    # The money just spent was what the node's reservation held: consume it together with the
    # balance so `available` does not dip in between.
    for res in list(state.reservations.values()):
        if spent <= 0:
            break
        if (res.graph_id, res.node_id, res.venue, res.asset) == (fill.graph_id, fill.node_id, account, spent_asset):
            spent -= _shrink(state, res, spent)
    pos, realised = trade_position(state.position(fill.symbol), fill.side, fill.qty_1e8, fill.px_1e9)
    state.positions[fill.symbol] = pos
    _book_pnl(state, utc_day(fill.ts_ns), realised - fill.fee_usd_1e9)
    child = state.open_children.get(fill.child_id)
    if child is not None:
        filled = child.filled_qty_1e8 + fill.qty_1e8
        if filled >= child.qty_1e8:
            del state.open_children[fill.child_id]
        else:
            state.open_children[fill.child_id] = replace(child, filled_qty_1e8=filled)


def _redeem(state: AccountState, redeemed: PositionRedeemed, rules: RulesBook) -> None:
    """The contracts leave at the settlement price, like a fee-free sell; the payout is dollars."""
    contract, quote = assets_of(rules, redeemed.venue, redeemed.symbol)
    _add_balance(state, redeemed.venue, contract, -redeemed.qty_1e8)
    payout = usd_to_quote_qty_down(notional_usd_1e9(redeemed.settle_px_1e9, redeemed.qty_1e8))
    _add_balance(state, redeemed.venue, quote, payout)
    pos, realised = trade_position(state.position(redeemed.symbol), "sell", redeemed.qty_1e8, redeemed.settle_px_1e9)
    state.positions[redeemed.symbol] = pos
    _book_pnl(state, utc_day(redeemed.ts_ns), realised)


def _book_pnl(state: AccountState, day: int, pnl_usd_1e9: int) -> None:
    if day > state.pnl_day:
        state.pnl_day, state.realised_today_usd_1e9 = day, 0
    if day == state.pnl_day:
        state.realised_today_usd_1e9 += pnl_usd_1e9
    # A fill stamped on an earlier day than the current one belongs to that day, not today.


def trade_position(pos: Position, side: Side, qty_1e8: int, px_1e9: int) -> tuple[Position, int]:
    """Return the position after a trade and the realised PnL in USD_1e9 (before fees).

    Average cost: reducing a position realises the difference to its average price; crossing
    zero closes the old side at `px_1e9` and opens the new side at the same price. Every
    rounding lowers the realised PnL.
    """
    net, basis = pos.qty_1e8, pos.basis_usd_1e9
    if net == 0 or (net > 0) == (side == "buy"):
        if side == "buy":
            return Position(net + qty_1e8, basis + cost_usd_1e9(px_1e9, qty_1e8)), 0
        return Position(net - qty_1e8, basis - notional_usd_1e9(px_1e9, qty_1e8)), 0
    close = min(qty_1e8, abs(net))
    if close == abs(net):
        removed = basis
    elif net > 0:
        removed = -(-basis * close // net)  # long basis leaves rounded up: lower profit
    else:
        removed = -(-basis * close // -net)  # |short basis| leaves rounded down: lower profit
    if net > 0:
        realised = notional_usd_1e9(px_1e9, close) - removed
        after = Position(net - close, basis - removed)
    else:
        realised = -removed - cost_usd_1e9(px_1e9, close)
        after = Position(net + close, basis - removed)
    rest = qty_1e8 - close
    if rest:
        after, _ = trade_position(after, side, rest, px_1e9)
    return after, realised
