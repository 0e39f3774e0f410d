"""An instance's orders: its actions as commands, and its account folded from the ledger.

Pure functions and folds (no I/O, no clock): the runner (services/algos/runner.py) calls them.

Each new-order action becomes its own one-node graph owned by the instance, `algo_<deployment
id>_<instance index>_<run>_<order id>` (the algo's u64 order id, per start of the instance, so a
restarted module that counts from 1 again never meets its earlier graphs), submitted as a
`SubmitGraph` command on `cmd.<tenant>` like any API order: the graph engine, risk and the router
handle it from there. A cancel is `CancelGraph`, an amend `AmendNode` of that graph. Command ids
derive from the graph and the action, so a runner re-running the same callback output after a
crash appends nothing twice.

Order types: limit = GTC limit; market = no limit, `urgency: high` (one sweep); IOC and FOK =
limit with that TIF; post-only = the `passive` policy (the router rests it GTC at its limit or
behind the touch, never taking), and refused here (a reject to the algo) when it would cross the
instance venue's book as the runner sees it, since the sandbox has no native post-only. All orders
are pinned to the instance's venue (or the venue an action's `venue_id` names).

The account (`Account`) is authoritative on our side: position, average entry, realised and
session PnL, fills and open orders, folded from the instance's fills and its graphs' events.
Realised PnL is net of fees; unrealised is marked to the venue book's mid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import msgspec

from events import AnyEvent
from events.base import Side
from events.commands import AmendNode, CancelGraph, SubmitGraph
from events.execution import ChildAcked, FillRecorded
from events.graph import (
    ExecutionSpec,
    GraphCancelled,
    GraphCompleted,
    GraphSubmitted,
    Instrument,
    NodeActivated,
    NodeCancelled,
    NodeCompleted,
    NodeSpec,
)
from events.ids import derive_id

NODE_ID = "order"
MAX_OPEN_ORDERS = 32
ENDED_KEPT = 4096  # ended graphs remembered per instance (a late replayed submit is not an open order)
DAY_NS = 86_400 * 10**9

# OpenOrder.status values of the ABI
PENDING, ACKED, PARTIAL, DEAD = 0, 1, 2, 3
# Action.order_type values of the ABI
LIMIT, MARKET, IOC, FOK, POST_ONLY = 0, 1, 2, 3, 4
ORDER_TYPES = {LIMIT: "limit", MARKET: "market", IOC: "ioc", FOK: "fok", POST_ONLY: "post_only"}

# Reject codes given to algo_on_reject: the ABI's RejectCode values (services/algos/abi.py)
REJECT_UNKNOWN = 0  # the venue (sandbox) rejected or failed the child
REJECT_INSUFFICIENT_BALANCE = 1
REJECT_INVALID = 2  # INVALID_PARAMS: qty <= 0, no price, unknown or closed order id, post-only that would cross
REJECT_RISK = 100  # risk or the router refused the order
REJECT_POSITION_LIMIT = 101
REJECT_KILL_SWITCH = 102
REJECT_POST_ONLY = REJECT_INVALID  # as venues without a native post-only answer (upstream's docs)
REJECT_TOO_MANY_ORDERS = REJECT_RISK  # 32 open orders already


def reject_code(status: str, reason: str | None) -> int:
    """The ABI reject code for a node that ended REJECTED or FAILED with `reason`."""
    text = (reason or "").lower()
    if "kill" in text:
        return REJECT_KILL_SWITCH
    if "balance" in text or "insufficient" in text:
        return REJECT_INSUFFICIENT_BALANCE
    if "position" in text:
        return REJECT_POSITION_LIMIT
    return REJECT_RISK if status == "REJECTED" else REJECT_UNKNOWN

@dataclass(frozen=True)
class Action:
    """One action read back from the guest (the ABI's 32-byte Action)."""

    kind: Literal["new", "cancel", "amend"]
    order_id: int
    side: int = 0  # 1 buy, -1 sell
    qty_1e8: int = 0
    px_1e9: int = 0
    order_type: int = LIMIT
    venue: str | None = None  # None = the instance's venue


@dataclass
class Order:
    order_id: int
    graph_id: str
    side: int
    qty_1e8: int
    px_1e9: int
    filled_1e8: int = 0
    status: int = PENDING
    cancel_requested: bool = False  # the algo cancelled it: no longer one of its open orders
    on_log: bool = False  # its GraphSubmitted has been read back from the ledger
    held: list[CancelGraph | AmendNode] = field(default_factory=list)  # until then (see `command_for`)


@dataclass
class Account:
    """One instance's position, PnL and orders (every run of it: the position outlives a restart)."""

    position_1e8: int = 0
    avg_entry_1e9: int = 0
    realized_pnl_1e9: int = 0
    session_pnl_1e9: int = 0
    session_day: int = -1  # UTC day of the session PnL
    fill_count: int = 0
    orders: dict[str, Order] = field(default_factory=dict)  # graph_id -> order, open ones only
    orders_sent: int = 0
    fill_ids: set[str] = field(default_factory=set)
    ended: dict[str, None] = field(default_factory=dict)  # graphs that ended, newest last (bounded)

    def end(self, graph_id: str) -> None:
        self.orders.pop(graph_id, None)
        self.ended[graph_id] = None
        while len(self.ended) > ENDED_KEPT:
            del self.ended[next(iter(self.ended))]

    def open_orders(self) -> list[Order]:
        """The orders the algo still works (written into AlgoState; at most 32): not ended, not
        cancelled by it (a cancel in flight no longer counts; a fill that beats it still does)."""
        return [o for o in self.orders.values() if o.status != DEAD and not o.cancel_requested]

    def unrealized_pnl_1e9(self, mid_1e9: int | None) -> int:
        if not mid_1e9 or not self.position_1e8:
            return 0
        return self.position_1e8 * (mid_1e9 - self.avg_entry_1e9) // 10**8

    def apply_fill(self, fill: FillRecorded) -> Order | None:
        """Fold one fill of this instance; the order it filled (None for a fill seen before)."""
        if fill.fill_id in self.fill_ids:
            return None
        self.fill_ids.add(fill.fill_id)
        self.fill_count += 1
        signed = fill.qty_1e8 if fill.side == "buy" else -fill.qty_1e8
        realized = -fill.fee_usd_1e9
        pos, avg = self.position_1e8, self.avg_entry_1e9
        if pos == 0 or (pos > 0) == (signed > 0):
            total = abs(pos) + abs(signed)
            self.avg_entry_1e9 = (avg * abs(pos) + fill.px_1e9 * abs(signed)) // total
            self.position_1e8 = pos + signed
        else:
            closed = min(abs(pos), abs(signed))
            realized += closed * (fill.px_1e9 - avg) // 10**8 * (1 if pos > 0 else -1)
            self.position_1e8 = pos + signed
            if self.position_1e8 == 0:
                self.avg_entry_1e9 = 0
            elif (self.position_1e8 > 0) != (pos > 0):
                self.avg_entry_1e9 = fill.px_1e9  # flipped: the rest opened at this price
        self.realized_pnl_1e9 += realized
        day = (fill.ts_event_ns or fill.ts_ns) // DAY_NS
        if day != self.session_day:
            self.session_day, self.session_pnl_1e9 = day, 0
        self.session_pnl_1e9 += realized
        order = self.orders.get(fill.graph_id)
        if order is not None:
            order.filled_1e8 += fill.qty_1e8
            order.status = DEAD if order.filled_1e8 >= order.qty_1e8 else PARTIAL
            return order
        # A fill that lands after its order ended here (it raced a cancel): still the algo's fill.
        parsed = parse_graph_id(fill.graph_id)
        side = 1 if fill.side == "buy" else -1
        return Order(parsed[3] if parsed else 0, fill.graph_id, side, fill.qty_1e8, fill.px_1e9, fill.qty_1e8, DEAD)


def graph_id_of(deployment_id: str, index: int, run: int, order_id: int) -> str:
    return f"algo_{deployment_id}_{index}_{run}_{order_id}"


def parse_graph_id(graph_id: str) -> tuple[str, int, int, int] | None:
    """(deployment id, instance index, run, order id) of an algo-owned graph, else None."""
    if not graph_id.startswith("algo_"):
        return None
    head, *tail = graph_id[5:].rsplit("_", 3)
    if len(tail) != 3 or not all(t.isdigit() for t in tail):
        return None
    return head, int(tail[0]), int(tail[1]), int(tail[2])


@dataclass(frozen=True)
class Held:
    """An action kept back until its order's graph is on the log (then sent, in order)."""

    order_id: int


@dataclass(frozen=True)
class Refused:
    order_id: int
    code: int
    reason: str


def would_cross(side: int, px_1e9: int, best_bid_1e9: int | None, best_ask_1e9: int | None) -> bool:
    if side > 0:
        return best_ask_1e9 is not None and px_1e9 >= best_ask_1e9
    return best_bid_1e9 is not None and px_1e9 <= best_bid_1e9


def command_for(
    action: Action,
    *,
    tenant: str,
    deployment_id: str,
    index: int,
    run: int,
    symbol: str,
    venue: str,
    account: Account,
    touch: tuple[int | None, int | None],
    now_ns: int,
    seq: int,
) -> SubmitGraph | CancelGraph | AmendNode | Refused | Held:
    """The command an action becomes, or why it is refused (given back to the algo as a reject).
    `touch` = (best bid, best ask) of the instance's venue book; `seq` numbers the instance's
    actions (for amend ids: two amends of one order are two commands)."""
    if action.kind in ("cancel", "amend"):
        graph_id = _graph_of(account, action.order_id)
        if graph_id is None:
            return Refused(action.order_id, REJECT_INVALID, f"{action.kind} of unknown or closed order {action.order_id}")
        order = account.orders[graph_id]
        command: CancelGraph | AmendNode
        if action.kind == "cancel":
            order.cancel_requested = True
            command = CancelGraph(event_id=derive_id("algo-cancel", graph_id), ts_ns=now_ns, tenant=tenant,
                                  correlation_id=graph_id, graph_id=graph_id, reason="algo")
        else:
            command = AmendNode(
                event_id=derive_id("algo-amend", graph_id, str(seq)), ts_ns=now_ns, tenant=tenant,
                correlation_id=graph_id, graph_id=graph_id, node_id=NODE_ID, new_qty_1e8=action.qty_1e8 or None,
                new_limit_px_1e9=action.px_1e9 or None,
            )
        if not order.on_log:
            # A cancel or amend appended right behind its submit can reach the ledger ahead of the
            # graph (the engine appends it while the router still carries the new graph), and is
            # then lost: hold it until the graph is on the log (`apply_order_event` releases it).
            order.held.append(command)
            return Held(action.order_id)
        return command
    if action.side not in (1, -1) or action.qty_1e8 <= 0 or action.order_type not in ORDER_TYPES:
        return Refused(action.order_id, REJECT_INVALID, "a new order needs side 1/-1, qty_1e8 > 0 and a known type")
    if action.order_type != MARKET and action.px_1e9 <= 0:
        return Refused(action.order_id, REJECT_INVALID, f"{ORDER_TYPES[action.order_type]} order needs px_1e9 > 0")
    if len(account.open_orders()) >= MAX_OPEN_ORDERS:
        return Refused(action.order_id, REJECT_TOO_MANY_ORDERS, f"{MAX_OPEN_ORDERS} orders are open already")
    graph_id = graph_id_of(deployment_id, index, run, action.order_id)
    if graph_id in account.orders:
        return Refused(action.order_id, REJECT_INVALID, f"order id {action.order_id} is in use")
    if action.order_type == POST_ONLY and would_cross(action.side, action.px_1e9, *touch):
        return Refused(action.order_id, REJECT_POST_ONLY, "post-only order would cross the book")
    side: Side = "buy" if action.side > 0 else "sell"
    tif = {IOC: "ioc", FOK: "fok"}.get(action.order_type, "gtc")
    node = NodeSpec(
        node_id=NODE_ID,
        instrument=Instrument(symbol=symbol, venue=action.venue or venue),
        side=side,
        qty_1e8=action.qty_1e8,
        limit_px_1e9=None if action.order_type == MARKET else action.px_1e9,
        execution=ExecutionSpec(
            urgency="high" if action.order_type == MARKET else "medium", tif=tif,  # type: ignore[arg-type]
            policy="passive" if action.order_type == POST_ONLY else "sor",
        ),
    )
    body_sha256 = hashlib.sha256(msgspec.json.encode(node)).hexdigest()
    account.orders[graph_id] = Order(action.order_id, graph_id, action.side, action.qty_1e8, action.px_1e9)
    account.orders_sent += 1
    return SubmitGraph(
        event_id=derive_id("algo-submit", graph_id, body_sha256), ts_ns=now_ns, tenant=tenant, correlation_id=graph_id,
        graph_id=graph_id, nodes=[node], edges=[], is_sandbox=True, body_sha256=body_sha256,
    )


def _graph_of(account: Account, order_id: int) -> str | None:
    # The newest run's order with that id first (a restarted module may reuse an id).
    live = [o for o in account.orders.values() if o.order_id == order_id and o.status != DEAD]
    if not live:
        return None
    return max(live, key=lambda o: _run_of(o.graph_id)).graph_id


def _run_of(graph_id: str) -> int:
    parsed = parse_graph_id(graph_id)
    return parsed[2] if parsed is not None else -1


@dataclass(frozen=True)
class Ended:
    """An order of the instance ended without (fully) filling: what the algo hears as a reject."""

    order_id: int
    code: int
    reason: str


def apply_order_event(account: Account, event: AnyEvent) -> Ended | list[CancelGraph | AmendNode] | None:
    """Fold a graph or child event of one of the instance's orders (not fills): how the order
    ended if it did without filling (the algo hears a reject), or the commands held for it now
    that its graph is on the log."""
    graph_id = getattr(event, "graph_id", "")
    order = account.orders.get(graph_id)
    if order is None:
        if isinstance(event, GraphSubmitted) and event.nodes and graph_id not in account.ended:
            # An order of an earlier life of this runner: known again from the log.
            node = event.nodes[0]
            parsed = parse_graph_id(graph_id)
            if parsed is not None:
                account.orders[graph_id] = Order(parsed[3], graph_id, 1 if node.side == "buy" else -1, node.qty_1e8,
                                                 node.limit_px_1e9 or 0, on_log=True)
                account.orders_sent += 1
        return None
    match event:
        case GraphSubmitted():
            order.on_log = True
            held, order.held = order.held, []
            return held or None
        case NodeActivated() | ChildAcked():
            if order.status == PENDING:
                order.status = ACKED
        case NodeCompleted(status=status, reason=reason):
            was_open = order.status != DEAD
            account.end(graph_id)
            if was_open and status in ("REJECTED", "FAILED") and order.filled_1e8 < order.qty_1e8:
                return Ended(order.order_id, reject_code(status, reason), reason or status)
        case NodeCancelled() | GraphCancelled():
            account.end(graph_id)  # by the algo, a kill switch or the user: not a reject
        case GraphCompleted(status=status, reason=reason) if status in ("REJECTED", "FAILED"):
            account.end(graph_id)
            return Ended(order.order_id, reject_code(status, reason), reason or status)
    return None


Touch = tuple[int | None, int | None]  # (best bid, best ask) px_1e9 of a venue book


def commands_for_actions(
    actions: Iterable[Action],
    *,
    tenant: str,
    deployment_id: str,
    index: int,
    run: int,
    symbol: str,
    venue: str,
    account: Account,
    touch_of: Callable[[str], Touch],
    now_ns: int,
    seq: int,
) -> tuple[list[SubmitGraph | CancelGraph | AmendNode], list[Refused], int]:
    """One callback's actions as commands, in order (held ones left out: `apply_order_event`
    releases them), the refused ones (each a reject for the algo), and the instance's action
    sequence after them. `touch_of(venue)` is that venue's touch as the caller sees it; `seq`
    the sequence before. The live runner and the backtest share this mapping."""
    commands: list[SubmitGraph | CancelGraph | AmendNode] = []
    refused: list[Refused] = []
    for action in actions:
        seq += 1
        command = command_for(
            action, tenant=tenant, deployment_id=deployment_id, index=index, run=run, symbol=symbol, venue=venue,
            account=account, touch=touch_of(action.venue or venue), now_ns=now_ns, seq=seq,
        )
        if isinstance(command, Refused):
            refused.append(command)
        elif not isinstance(command, Held):
            commands.append(command)
    return commands, refused, seq


@dataclass(frozen=True)
class Filled:
    """A fill of one of the instance's orders, as the algo hears it (on_fill)."""

    order_id: int
    px_1e9: int
    qty_1e8: int
    side: int  # 1 buy, -1 sell
    recv_ns: int


def apply_ledger_event(account: Account, event: AnyEvent) -> Filled | Ended | list[CancelGraph | AmendNode] | None:
    """Fold any event of one of the instance's orders (fills included): the fill the algo hears,
    how an order ended without filling (a reject), or the commands held for it now released."""
    if isinstance(event, FillRecorded):
        order = account.apply_fill(event)
        if order is None:
            return None
        return Filled(order.order_id, event.px_1e9, event.qty_1e8, 1 if event.side == "buy" else -1,
                      event.ts_event_ns or event.ts_ns)
    return apply_order_event(account, event)
