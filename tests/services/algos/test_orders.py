"""services/algos/orders.py: actions -> commands, and the instance's account folded from the ledger."""

from __future__ import annotations

import pytest

from events.commands import AmendNode, CancelGraph, SubmitGraph
from events.execution import FillRecorded
from events.graph import GraphSubmitted, NodeCancelled, NodeCompleted
from services.algos.orders import (
    ACKED,
    FOK,
    IOC,
    LIMIT,
    MARKET,
    MAX_OPEN_ORDERS,
    POST_ONLY,
    REJECT_INVALID,
    REJECT_INSUFFICIENT_BALANCE,
    REJECT_POST_ONLY,
    REJECT_TOO_MANY_ORDERS,
    Account,
    Action,
    Ended,
    Held,
    Refused,
    apply_order_event,
    command_for,
    graph_id_of,
    parse_graph_id,
)

BID, ASK = 99_000 * 10**9, 100_000 * 10**9


def act(action: Action, account: Account, seq: int = 1) -> object:
    return command_for(action, tenant="acme", deployment_id="dep_abc", index=1, run=2, symbol="BTC-USDT",
                       venue="binance", account=account, touch=(BID, ASK), now_ns=5, seq=seq)


def fill(graph_id: str, side: str, qty_1e8: int, px_1e9: int, fill_id: str, fee_usd_1e9: int = 0) -> FillRecorded:
    return FillRecorded(event_id=fill_id, ts_ns=1, tenant="acme", fill_id=fill_id, child_id="c", client_order_id="c",
                        graph_id=graph_id, node_id="order", venue="binance", symbol="BTC-USDT", side=side,  # type: ignore[arg-type]
                        qty_1e8=qty_1e8, px_1e9=px_1e9, fee_usd_1e9=fee_usd_1e9, liquidity="maker", is_sandbox=True)


def test_graph_ids_name_deployment_instance_run_and_order() -> None:
    graph_id = graph_id_of("dep_abc_1", 3, 7, 2**64 - 1)
    assert parse_graph_id(graph_id) == ("dep_abc_1", 3, 7, 2**64 - 1)
    assert parse_graph_id("g_user_graph") is None and parse_graph_id("algo_x_1_2") is None


@pytest.mark.parametrize(
    ("order_type", "px", "limit", "tif", "urgency"),
    [(LIMIT, ASK - 1, ASK - 1, "gtc", "medium"), (MARKET, 0, None, "gtc", "high"), (IOC, BID, BID, "ioc", "medium"),
     (FOK, BID, BID, "fok", "medium"), (POST_ONLY, BID, BID, "gtc", "medium")],
)
def test_each_order_type_is_one_pinned_node_graph(order_type: int, px: int, limit: int | None, tif: str, urgency: str) -> None:
    account = Account()
    command = act(Action(kind="new", order_id=9, side=1, qty_1e8=10**6, px_1e9=px, order_type=order_type), account)
    assert isinstance(command, SubmitGraph)
    assert command.graph_id == "algo_dep_abc_1_2_9" and command.tenant == "acme" and command.is_sandbox
    [node] = command.nodes
    assert (node.instrument.symbol, node.instrument.venue, node.side, node.qty_1e8) == ("BTC-USDT", "binance", "buy", 10**6)
    assert (node.limit_px_1e9, node.execution.tif, node.execution.urgency) == (limit, tif, urgency)
    assert node.execution.policy == ("passive" if order_type == POST_ONLY else "sor")
    assert account.orders["algo_dep_abc_1_2_9"].order_id == 9 and account.orders_sent == 1
    # the same action again (a re-run after a crash) derives the same command id
    assert act(Action(kind="new", order_id=9, side=1, qty_1e8=10**6, px_1e9=px, order_type=order_type), Account()
               ).event_id == command.event_id  # type: ignore[union-attr]


def on_log(command: object, account: Account) -> object:
    """Fold the engine's GraphSubmitted for a submit command (the graph is on the log)."""
    assert isinstance(command, SubmitGraph)
    return apply_order_event(account, GraphSubmitted(
        event_id="g" + command.graph_id, ts_ns=1, tenant="acme", graph_id=command.graph_id, nodes=command.nodes,
        edges=[], is_sandbox=True, body_sha256=command.body_sha256))


def test_cancel_amend_and_refusals() -> None:
    account = Account()
    on_log(act(Action(kind="new", order_id=1, side=-1, qty_1e8=10**6, px_1e9=ASK + 10), account), account)
    cancel = act(Action(kind="cancel", order_id=1), account)
    assert isinstance(cancel, CancelGraph) and cancel.graph_id == "algo_dep_abc_1_2_1"
    amend = act(Action(kind="amend", order_id=1, qty_1e8=2 * 10**6, px_1e9=ASK + 20), account, seq=2)
    assert isinstance(amend, AmendNode) and (amend.new_qty_1e8, amend.new_limit_px_1e9) == (2 * 10**6, ASK + 20)
    assert act(Action(kind="amend", order_id=1, px_1e9=ASK + 30), account, seq=3).event_id != amend.event_id  # type: ignore[union-attr]

    assert act(Action(kind="cancel", order_id=77), account) == Refused(77, REJECT_INVALID, "cancel of unknown or closed order 77")
    crossing = act(Action(kind="new", order_id=2, side=1, qty_1e8=1, px_1e9=ASK, order_type=POST_ONLY), account)
    assert isinstance(crossing, Refused) and crossing.code == REJECT_POST_ONLY
    assert isinstance(act(Action(kind="new", order_id=3, side=1, qty_1e8=0, px_1e9=BID), account), Refused)
    assert isinstance(act(Action(kind="new", order_id=4, side=1, qty_1e8=1, px_1e9=0), account), Refused)
    reused = act(Action(kind="new", order_id=1, side=1, qty_1e8=1, px_1e9=BID), account)
    assert isinstance(reused, Refused) and reused.code == REJECT_INVALID

    for order_id in range(100, 100 + MAX_OPEN_ORDERS):  # order 1 is cancelled: no longer open
        assert isinstance(act(Action(kind="new", order_id=order_id, side=1, qty_1e8=1, px_1e9=BID), account), SubmitGraph)
    full = act(Action(kind="new", order_id=999, side=1, qty_1e8=1, px_1e9=BID), account)
    assert isinstance(full, Refused) and full.code == REJECT_TOO_MANY_ORDERS


def test_account_position_average_entry_realized_and_unrealized_pnl() -> None:
    account = Account()
    act(Action(kind="new", order_id=1, side=1, qty_1e8=2 * 10**8, px_1e9=BID), account)
    graph_id = "algo_dep_abc_1_2_1"
    order = account.apply_fill(fill(graph_id, "buy", 10**8, 100 * 10**9, "f1"))
    assert order is not None and order.filled_1e8 == 10**8 and order.status != ACKED
    account.apply_fill(fill(graph_id, "buy", 10**8, 110 * 10**9, "f2", fee_usd_1e9=10**9))
    assert account.apply_fill(fill(graph_id, "buy", 10**8, 110 * 10**9, "f2")) is None  # a replay counts once
    assert (account.position_1e8, account.avg_entry_1e9, account.fill_count) == (2 * 10**8, 105 * 10**9, 2)
    assert account.realized_pnl_1e9 == -(10**9) and account.unrealized_pnl_1e9(120 * 10**9) == 30 * 10**9
    assert account.open_orders() == []  # filled in full

    account.apply_fill(fill("algo_dep_abc_1_2_5", "sell", 3 * 10**8, 125 * 10**9, "f3"))
    # closed 2 at +20 each (= +40), flipped to short 1 opened at 125
    assert (account.position_1e8, account.avg_entry_1e9) == (-(10**8), 125 * 10**9)
    assert account.realized_pnl_1e9 == 39 * 10**9 and account.session_pnl_1e9 == 39 * 10**9
    assert account.unrealized_pnl_1e9(120 * 10**9) == 5 * 10**9


def test_a_rejected_node_ends_the_order_as_a_reject() -> None:
    account = Account()
    act(Action(kind="new", order_id=4, side=1, qty_1e8=10**6, px_1e9=BID), account)
    graph_id = "algo_dep_abc_1_2_4"
    ended = apply_order_event(account, NodeCompleted(
        event_id="e", ts_ns=1, tenant="acme", graph_id=graph_id, node_id="order", status="REJECTED", filled_qty_1e8=0,
        avg_fill_px_1e9=None, reason="insufficient balance"))
    assert ended == Ended(4, REJECT_INSUFFICIENT_BALANCE, "insufficient balance")
    assert graph_id not in account.orders


def test_a_cancelled_order_leaves_the_open_orders_at_once_and_the_book_when_the_cancel_lands() -> None:
    account = Account()
    submit = act(Action(kind="new", order_id=7, side=1, qty_1e8=10**6, px_1e9=BID), account)
    graph_id = "algo_dep_abc_1_2_7"
    assert [o.order_id for o in account.open_orders()] == [7]
    # Cancelled before its graph is on the log: held (a cancel can otherwise overtake the graph).
    assert act(Action(kind="cancel", order_id=7), account) == Held(7)
    assert account.open_orders() == [] and graph_id in account.orders  # in flight: a fill may still beat it
    [released] = on_log(submit, account)  # type: ignore[misc]
    assert isinstance(released, CancelGraph) and released.graph_id == graph_id
    again = act(Action(kind="cancel", order_id=7), account)  # cancel_all again: the same command id
    assert isinstance(again, CancelGraph) and again.event_id == released.event_id
    assert apply_order_event(account, NodeCancelled(event_id="c", ts_ns=1, tenant="acme", graph_id=graph_id,
                                                    node_id="order", reason="algo")) is None
    assert graph_id not in account.orders
    assert on_log(submit, account) is None and graph_id not in account.orders  # a late replay: still ended
