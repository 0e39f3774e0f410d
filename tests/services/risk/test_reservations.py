"""Reservations, decide-and-reserve and releases (services/risk/reservations.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pytest

from events.execution import ChildCancelled
from events.base import Event
from events.graph import GraphCancelled, NodeCompleted, NodeFinalStatus
from events.ids import derive_id
from events.risk import (
    KillSwitchEngaged,
    ReservationMade,
    ReservationReleased,
    RiskCheckPassed,
    RiskCheckRejected,
)
from services.risk.account import AccountState, apply, replay
from services.risk.config import RiskLimits
from services.risk.money import Side
from services.risk.errors import RiskError
from services.risk.reservations import RiskOutcome, check_event, decide_and_reserve, releases_for, reserve
from services.risk.rules import OrderIntent, RiskAccepted, RiskRejected, check_order
from tests.services.risk.factory import PX, QTY, RULES, T0, TENANT, child, fill, fund, id_source

MARK = 60_000 * PX
NOW = T0 + 1_000


def _funded() -> AccountState:
    return replay(
        TENANT,
        [fund("okx", "USDT", 100_000 * QTY), fund("okx", "BTC", QTY), fund("binance", "USDT", 50_000 * QTY)],
        RULES,
    )


def _intent(
    qty_1e8: int, *, side: Side = "buy", limit_px_1e9: int | None = 60_000 * PX, venue: str | None = "okx",
    node_id: str = "n1", graph_id: str = "g1",
) -> OrderIntent:
    return OrderIntent(
        tenant=TENANT, graph_id=graph_id, node_id=node_id, symbol="BTC-USDT", side=side,
        qty_1e8=qty_1e8, limit_px_1e9=limit_px_1e9, venue=venue,
    )


def _decide(
    state: AccountState,
    intent: OrderIntent,
    new_id: Callable[[], str] | None = None,
    venue_amounts: Mapping[str, int] | None = None,
) -> RiskOutcome:
    return decide_and_reserve(
        state, intent, limits=RiskLimits(), rules=RULES, mark_px_1e9=MARK, now_ns=NOW,
        new_id=new_id or id_source(), venue_amounts=venue_amounts,
    )


def _made(outcome: RiskOutcome) -> tuple[ReservationMade, ...]:
    """The reservations a decision makes: carried by its single RiskCheckPassed."""
    (passed,) = outcome.events
    assert isinstance(passed, RiskCheckPassed)
    return passed.reservations


def _publish(state: AccountState, events: Iterable[Event]) -> AccountState:
    for event in events:
        state = apply(state, event, RULES)
    return state


def test_buy_reserves_quote_at_the_tick_rounded_limit_plus_fee() -> None:
    outcome = _decide(_funded(), _intent(QTY // 2, limit_px_1e9=60_000_050_000_000))
    # One event: the pass carries its reservation, so both commit in one append.
    assert outcome.events == (
        RiskCheckPassed(
            event_id="e2", ts_ns=NOW, tenant=TENANT, graph_id="g1", node_id="n1",
            notional_usd_1e9=30_000_025_000_000,  # 0.5 x 60000.05
            reservations=(
                ReservationMade(event_id="e1", ts_ns=NOW, tenant=TENANT, reservation_id="e1", graph_id="g1",
                                node_id="n1", venue="okx", asset="USDT", qty_1e8=30_030 * QTY),  # 0.5 x 60000.0 + 10 bp
            ),
        ),
    )
    assert outcome.already_passed is False
    state = _publish(_funded(), outcome.events)
    assert state.reserved == {("okx", "USDT"): 30_030 * QTY}
    assert state.passed_nodes == {("g1", "n1"): 30_000_025_000_000}


def test_sell_reserves_the_base_asset() -> None:
    (made,) = _made(_decide(_funded(), _intent(QTY // 2, side="sell")))
    assert (made.venue, made.asset, made.qty_1e8) == ("okx", "BTC", QTY // 2)


def test_market_buy_reserves_at_mark_plus_collar() -> None:
    (made,) = _made(_decide(_funded(), _intent(QTY // 10, limit_px_1e9=None)))
    assert made.qty_1e8 == 630_630_000_000  # 0.1 x 63000 = 6300, + 6.3 fee


def test_insufficient_balance_names_asset_venue_and_amounts() -> None:
    outcome = _decide(_funded(), _intent(2 * QTY))
    assert isinstance(outcome.decision, RiskRejected)
    assert outcome.events == (
        RiskCheckRejected(
            event_id="e1", ts_ns=NOW, tenant=TENANT, graph_id="g1", node_id="n1", code="INSUFFICIENT_BALANCE",
            message="buy 2 BTC-USDT needs 120120 USDT on okx, available 100000 (balance 100000, reserved 0)",
        ),
    )


def test_reserved_balance_is_not_available_to_the_next_order() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY)).events)  # holds 60,060 USDT
    outcome = _decide(state, _intent(QTY, node_id="n2"))
    assert isinstance(outcome.decision, RiskRejected)
    assert outcome.decision.message == (
        "buy 1 BTC-USDT needs 60060 USDT on okx, available 39940 (balance 100000, reserved 60060)"
    )


def test_split_reserves_on_each_venue() -> None:
    amounts = {"okx": 30_000_000, "binance": 20_000_000}
    outcome = _decide(_funded(), _intent(QTY // 2, venue=None), venue_amounts=amounts)
    assert [(e.venue, e.asset, e.qty_1e8) for e in _made(outcome)] == [
        ("binance", "USDT", 12_012 * QTY),
        ("okx", "USDT", 18_018 * QTY),
    ]


def test_split_is_all_or_nothing() -> None:
    outcome = _decide(_funded(), _intent(QTY, venue=None), venue_amounts={"okx": 10_000_000, "binance": 90_000_000})
    assert [type(e) for e in outcome.events] == [RiskCheckRejected]
    assert isinstance(outcome.decision, RiskRejected)
    assert outcome.decision.message == (
        "buy 1 BTC-USDT needs 54054 USDT on binance, available 50000 (balance 50000, reserved 0)"
    )


def test_a_rejection_cannot_carry_reservations() -> None:
    rejected = _decide(_funded(), _intent(2 * QTY)).decision
    (made,) = _made(_decide(_funded(), _intent(QTY // 2)))
    with pytest.raises(RiskError, match="a rejection of g1/n1 cannot carry reservations"):
        check_event(rejected, event_id="x", now_ns=NOW, reservations=[made])


def test_unpinned_order_without_allocation_is_a_wiring_error() -> None:
    with pytest.raises(RiskError, match="venue_amounts is required for unpinned order g1/n1"):
        _decide(_funded(), _intent(QTY, venue=None))


@pytest.mark.parametrize(
    ("amounts", "code", "message"),
    [
        ({"kraken": QTY}, "BAD_VENUE", "allocation to 'kraken' is not among the accepted venues (okx)"),
        ({"okx": 12_345}, "BAD_QUANTITY",
         "allocation 0.00012345 BTC on okx must be > 0, a multiple of the lot 0.0001 and at least the minimum 0.0001"),
        ({"okx": 2 * QTY}, "BAD_QUANTITY", "allocations total 2 but the order is for 1 BTC-USDT"),
    ],
)
def test_bad_allocations_are_rejected(amounts: dict[str, int], code: str, message: str) -> None:
    accepted = check_order(_intent(QTY), _funded(), RiskLimits(), RULES, MARK, NOW)
    assert isinstance(accepted, RiskAccepted)
    rejected = reserve(_funded(), accepted, amounts, RULES, new_id=id_source(), now_ns=NOW)
    assert isinstance(rejected, RiskRejected)
    assert (rejected.code, rejected.message) == (code, message)


def test_rerun_after_commit_publishes_nothing() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY)).events)
    again = _decide(state, _intent(QTY), new_id=id_source("retry"))
    assert again.events == ()
    assert again.already_passed is True
    assert isinstance(again.decision, RiskAccepted)


def test_rerun_on_an_older_log_with_a_partial_publish_only_adds_the_missing_part() -> None:
    # Logs written before a pass carried its reservations can hold some standalone
    # ReservationMade events of a node and no pass (a crash in between).
    first = _decide(_funded(), _intent(QTY // 2, venue=None), venue_amounts={"okx": 30_000_000, "binance": 20_000_000})
    state = apply(_funded(), _made(first)[0], RULES)  # binance reservation landed on its own
    again = _decide(state, _intent(QTY // 2, venue=None), new_id=id_source("retry"),
                    venue_amounts={"okx": 30_000_000, "binance": 20_000_000})
    assert [type(e).__name__ for e in again.events] == ["RiskCheckPassed"]
    assert [(e.venue, e.qty_1e8) for e in _made(again)] == [("okx", 18_018 * QTY)]
    state = _publish(state, again.events)
    assert state.reserved == {("binance", "USDT"): 12_012 * QTY, ("okx", "USDT"): 18_018 * QTY}


def _node_completed(status: NodeFinalStatus = "FILLED") -> NodeCompleted:
    return NodeCompleted(event_id="nc1", ts_ns=NOW, tenant=TENANT, graph_id="g1", node_id="n1",
                         status=status, filled_qty_1e8=QTY // 2, avg_fill_px_1e9=59_000 * PX)


def test_fill_consumes_and_node_end_releases_the_worst_case_surplus() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY // 2)).events)  # holds 30,030 USDT
    state = _publish(state, [child("c1", "buy", QTY // 2), fill("f1", "buy", QTY // 2, 59_000 * PX,
                                                               fee_usd_1e9=29_500_000_000)])
    assert state.reservations["e1"].qty_1e8 == 50_050_000_000  # 30,030 - 29,500 - 29.5
    assert releases_for(state, fill("f1", "buy", QTY // 2, 59_000 * PX), now_ns=NOW) == []

    released = releases_for(state, _node_completed(), now_ns=NOW + 1)
    assert released == [
        ReservationReleased(event_id=derive_id("crossbook.risk.release", "e1", "nc1"), ts_ns=NOW + 1, tenant=TENANT,
                            causation_id="nc1", reservation_id="e1", qty_1e8=50_050_000_000, reason="completed"),
    ]
    state = _publish(state, [_node_completed(), *released])
    assert state.reserved == {}
    assert state.available("okx", "USDT") == 100_000 * QTY - 29_529_50_000_000
    assert releases_for(state, _node_completed(), now_ns=NOW + 2) == []


def test_cancelled_node_releases_everything_it_holds() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY // 2)).events)
    (released,) = releases_for(state, _node_completed("CANCELLED"), now_ns=NOW)
    assert (released.qty_1e8, released.reason) == (30_030 * QTY, "cancelled")


def test_child_cancel_keeps_the_node_reservation_for_a_reroute() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY // 2)).events)
    cancel = ChildCancelled(event_id="cc", ts_ns=NOW, tenant=TENANT, child_id="c1", venue="okx",
                            client_order_id="co-c1", filled_qty_1e8=0, cancelled_qty_1e8=QTY // 2, reason="timeout")
    assert releases_for(state, cancel, now_ns=NOW) == []


def test_graph_cancel_releases_every_node_of_that_graph_only() -> None:
    state = _funded()
    for intent in (_intent(10_000_000), _intent(20_000_000, node_id="n2"), _intent(30_000_000, graph_id="g2")):
        state = _publish(state, _decide(state, intent, new_id=id_source(intent.graph_id + intent.node_id)).events)
    cancel = GraphCancelled(event_id="gc", ts_ns=NOW, tenant=TENANT, graph_id="g1", reason="user")
    released = releases_for(state, cancel, now_ns=NOW)
    assert [(r.reservation_id, r.qty_1e8, r.reason) for r in released] == [
        ("g1n11", 6_006 * QTY, "cancelled"),
        ("g1n21", 12_012 * QTY, "cancelled"),
    ]
    state = _publish(state, [cancel, *released])
    assert state.reserved == {("okx", "USDT"): 18_018 * QTY}


def test_rejected_rerun_releases_a_partial_reservation() -> None:
    first = _decide(_funded(), _intent(QTY // 2))
    state = apply(_funded(), _made(first)[0], RULES)  # older log: reservation landed, pass did not
    state = apply(state, KillSwitchEngaged(event_id="k", ts_ns=NOW, tenant=TENANT, reason="halt"), RULES)
    again = _decide(state, _intent(QTY // 2), new_id=id_source("retry"))
    (rejected,) = again.events
    assert isinstance(rejected, RiskCheckRejected)
    assert (rejected.code, rejected.message) == ("KILL_SWITCH", "kill switch engaged: halt")
    (released,) = releases_for(state, rejected, now_ns=NOW)
    assert (released.qty_1e8, released.reason) == (30_030 * QTY, "rejected")


def test_kill_switch_blocks_new_orders_and_leaves_existing_ones_alone() -> None:
    state = _publish(_funded(), _decide(_funded(), _intent(QTY // 2)).events)
    state = _publish(state, [child("c1", "buy", QTY // 2)])
    engage = KillSwitchEngaged(event_id="k", ts_ns=NOW, tenant=TENANT, reason="desk halt")
    halted = apply(state, engage, RULES)
    outcome = _decide(halted, _intent(QTY // 10, node_id="n2"))
    assert isinstance(outcome.decision, RiskRejected)
    assert outcome.decision.code == "KILL_SWITCH"
    assert releases_for(halted, engage, now_ns=NOW) == []
    assert (halted.reservations, halted.open_children) == (state.reservations, state.open_children)
