"""The account fold (services/risk/account.py)."""

from __future__ import annotations

import pytest

from events.execution import ChildAmended, ChildCancelled
from events.graph import GraphCancelled, NodeCompleted
from events.risk import KillSwitchCleared, KillSwitchEngaged, ReservationMade, ReservationReleased, RiskCheckPassed
from services.risk.account import Position, Reservation, apply, fold_into, new_account, replay, trade_position
from services.risk.errors import WrongTenant
from tests.services.risk.factory import KNOWN, DAY_NS, PX, QTY, RULES, T0, TENANT, USD, child, fill, fund

D0 = T0 // DAY_NS


def _made(rid: str, qty_1e8: int, *, graph_id: str = "g1", node_id: str = "n1", asset: str = "USDT") -> ReservationMade:
    return ReservationMade(
        event_id=rid, ts_ns=T0, tenant=TENANT, reservation_id=rid, graph_id=graph_id, node_id=node_id,
        venue="okx", asset=asset, qty_1e8=qty_1e8,
    )


def _released(rid: str, qty_1e8: int) -> ReservationReleased:
    return ReservationReleased(event_id=f"rel-{rid}-{qty_1e8}", ts_ns=T0, tenant=TENANT, reservation_id=rid,
                               qty_1e8=qty_1e8, reason="cancelled")


def test_balance_adjusted_adds_to_venue_asset() -> None:
    state = replay(TENANT, [fund("okx", "USDT", 100 * QTY), fund("okx", "USDT", -30 * QTY, event_id="x")], RULES)
    assert state.balances == {("okx", "USDT"): 70 * QTY}
    assert state.available("okx", "USDT") == 70 * QTY


def test_buy_then_sell_moves_base_and_quote_with_fees() -> None:
    state = replay(
        TENANT,
        [
            *KNOWN,
            fund("okx", "USDT", 100_000 * QTY),
            fill("f1", "buy", QTY // 2, 60_000 * PX, fee_usd_1e9=30 * USD),
            fill("f2", "sell", QTY // 5, 70_000 * PX, fee_usd_1e9=14 * USD),
        ],
        RULES,
    )
    # buy: 30,000 + 30 fee out; sell: 14,000 - 14 fee in
    assert state.balance("okx", "USDT") == (100_000 - 30_030 + 13_986) * QTY
    assert state.balance("okx", "BTC") == 30_000_000
    assert state.position("BTC-USDT") == Position(30_000_000, 18_000 * USD)
    # (70,000 - 60,000) x 0.2 - fees 44
    assert state.realised_on(D0) == 1_956 * USD


def test_a_fee_paid_in_another_asset_is_booked_in_that_asset() -> None:
    # Binance charges in BNB when the account pays fees with it: the venue gives no USD price,
    # so the fee is 0 in USD, yet the BNB balance pays it and the quote pays only the trade.
    state = replay(
        TENANT,
        [
            *KNOWN,
            fund("okx", "USDT", 100_000 * QTY),
            fund("okx", "BNB", QTY),
            fill("f1", "buy", QTY // 2, 60_000 * PX, fee_asset="BNB", fee_qty_1e8=4_500_000),
            fill("f2", "sell", QTY // 4, 60_000 * PX, fee_asset="BTC", fee_qty_1e8=1_000, fee_usd_1e9=600 * USD // 1000),
        ],
        RULES,
    )
    assert state.balances[("okx", "BNB")] == QTY - 4_500_000
    assert state.balances[("okx", "USDT")] == (100_000 - 30_000 + 15_000) * QTY
    assert state.balances[("okx", "BTC")] == QTY // 2 - QTY // 4 - 1_000  # a fee in the base asset leaves the base


def test_sub_unit_fee_is_charged_rounded_up() -> None:
    state = replay(TENANT, [*KNOWN, fill("f1", "buy", QTY, 1 * PX, fee_usd_1e9=15)], RULES)
    assert state.balance("okx", "USDT") == -(QTY + 2)


def test_duplicate_fill_is_applied_once() -> None:
    state = replay(TENANT, [*KNOWN, fill("f1", "buy", QTY, 100 * PX), fill("f1", "buy", QTY, 100 * PX)], RULES)
    assert state.balance("okx", "BTC") == QTY


def test_fill_consumes_only_its_nodes_reservation_on_the_spent_asset() -> None:
    state = replay(
        TENANT,
        [
            *KNOWN,
            fund("okx", "USDT", 100_000 * QTY),
            _made("r1", 31_000 * QTY),
            _made("r2", 1_000 * QTY, graph_id="g2"),
            _made("r3", QTY, asset="BTC"),
            fill("f1", "buy", QTY // 2, 60_000 * PX, fee_usd_1e9=30 * USD),
        ],
        RULES,
    )
    assert state.reservations == {
        "r1": Reservation("r1", "g1", "n1", "okx", "USDT", 970 * QTY),
        "r2": Reservation("r2", "g2", "n1", "okx", "USDT", 1_000 * QTY),
        "r3": Reservation("r3", "g1", "n1", "okx", "BTC", QTY),
    }
    assert state.reserved_qty("okx", "USDT") == 1_970 * QTY
    assert state.available("okx", "USDT") == (69_970 - 1_970) * QTY


def test_fill_larger_than_reservation_empties_it_and_overspends_available() -> None:
    state = replay(
        TENANT,
        [*KNOWN, fund("okx", "USDT", 1_000 * QTY), _made("r1", 100 * QTY), fill("f1", "buy", QTY, 150 * PX)],
        RULES,
    )
    assert state.reservations == {}
    assert state.reserved == {}
    assert state.available("okx", "USDT") == 850 * QTY


def test_reservations_add_and_release_partially_and_capped() -> None:
    events = [fund("okx", "USDT", 1_000 * QTY), _made("r1", 300 * QTY), _made("r1", 300 * QTY)]
    state = replay(TENANT, events, RULES)
    assert state.reserved_qty("okx", "USDT") == 300 * QTY  # a duplicate ReservationMade is ignored
    state = apply(state, _released("r1", 100 * QTY), RULES)
    assert state.reservations["r1"].qty_1e8 == 200 * QTY
    assert state.available("okx", "USDT") == 800 * QTY
    state = apply(state, _released("r1", 999 * QTY), RULES)
    assert state.reservations == {}
    assert state.available("okx", "USDT") == 1_000 * QTY


def test_apply_is_pure() -> None:
    before = replay(TENANT, [fund("okx", "USDT", 1_000 * QTY)], RULES)
    after = apply(before, _made("r1", 300 * QTY), RULES)
    assert before.reserved == {}
    assert before.reservations == {}
    assert after.reserved == {("okx", "USDT"): 300 * QTY}


def test_kill_switch_engages_and_clears() -> None:
    engaged = KillSwitchEngaged(event_id="k1", ts_ns=T0 + 5, tenant=TENANT, reason="desk halt")
    state = replay(TENANT, [engaged], RULES)
    assert (state.kill_engaged, state.kill_reason, state.kill_since_ns) == (True, "desk halt", T0 + 5)
    state = apply(state, KillSwitchCleared(event_id="k2", ts_ns=T0 + 6, tenant=TENANT), RULES)
    assert (state.kill_engaged, state.kill_reason, state.kill_since_ns) == (False, None, None)


def test_open_children_follow_submit_fill_cancel_and_node_end() -> None:
    state = replay(
        TENANT,
        [
            *KNOWN,
            child("c1", "buy", QTY),
            child("c2", "buy", 2 * QTY),
            child("c3", "sell", 3 * QTY, node_id="n2"),
            fill("f1", "buy", 40_000_000, 100 * PX, child_id="c1"),
        ],
        RULES,
    )
    assert state.open_order_count() == 3
    assert state.pending_qty("BTC-USDT", "buy") == 60_000_000 + 2 * QTY
    assert state.pending_qty("BTC-USDT", "sell") == 3 * QTY
    state = apply(state, fill("f2", "buy", 60_000_000, 100 * PX, child_id="c1"), RULES)
    state = apply(
        state,
        ChildCancelled(event_id="x1", ts_ns=T0, tenant=TENANT, child_id="c2", venue="okx", client_order_id="co-c2",
                       filled_qty_1e8=0, cancelled_qty_1e8=2 * QTY, reason="user"),
        RULES,
    )
    assert set(state.open_children) == {"c3"}
    state = apply(
        state,
        NodeCompleted(event_id="x2", ts_ns=T0, tenant=TENANT, graph_id="g1", node_id="n2", status="CANCELLED",
                      filled_qty_1e8=0, avg_fill_px_1e9=None),
        RULES,
    )
    assert state.open_order_count() == 0


def test_amend_to_filled_quantity_closes_the_child() -> None:
    state = replay(TENANT, [child("c1", "buy", QTY), fill("f1", "buy", QTY // 2, 100 * PX, child_id="c1")], RULES)
    amended = ChildAmended(event_id="a1", ts_ns=T0, tenant=TENANT, child_id="c1", venue="okx", client_order_id="co-c1",
                           new_qty_1e8=QTY // 2, new_limit_px_1e9=None, mode="native_atomic")
    assert apply(state, amended, RULES).open_children == {}


def test_passed_node_counts_as_open_until_it_has_children_or_ends() -> None:
    passed = RiskCheckPassed(event_id="p1", ts_ns=T0, tenant=TENANT, graph_id="g1", node_id="n1", notional_usd_1e9=1)
    state = replay(TENANT, [passed], RULES)
    assert state.open_order_count() == 1
    assert apply(state, child("c1", "buy", QTY), RULES).open_order_count() == 1
    ended = apply(state, GraphCancelled(event_id="gc", ts_ns=T0, tenant=TENANT, graph_id="g1", reason="user"), RULES)
    assert ended.open_order_count() == 0
    assert ended.passed_nodes == {}


def test_average_cost_realises_on_reduce() -> None:
    pos, r1 = trade_position(Position(), "buy", QTY, 100 * PX)
    pos, r2 = trade_position(pos, "buy", QTY, 200 * PX)
    pos, r3 = trade_position(pos, "sell", QTY, 180 * PX)
    assert (r1, r2, r3) == (0, 0, 30 * USD)
    assert pos == Position(QTY, 150 * USD)


def test_short_cover_and_flip_through_zero() -> None:
    pos, _ = trade_position(Position(), "sell", 2 * QTY, 100 * PX)
    assert pos == Position(-2 * QTY, -200 * USD)
    pos, covered = trade_position(pos, "buy", QTY, 90 * PX)
    assert (pos, covered) == (Position(-QTY, -100 * USD), 10 * USD)
    pos, flipped = trade_position(pos, "buy", 2 * QTY, 80 * PX)
    assert (pos, flipped) == (Position(QTY, 80 * USD), 20 * USD)


def test_partial_close_rounds_realised_pnl_down() -> None:
    # 1e-8 units at 0.4 / 0.3 are worth 4 / 3 nano-USD; the basis leaving is 10/3 rounded against us.
    assert trade_position(Position(3, 10), "sell", 1, 4 * 10**8) == (Position(2, 6), 0)  # 10/3 -> 4
    assert trade_position(Position(-3, -10), "buy", 1, 3 * 10**8) == (Position(-2, -7), 0)  # 10/3 -> 3


def test_realised_pnl_resets_on_utc_day_rollover() -> None:
    state = replay(
        TENANT,
        [
            *KNOWN,
            fill("f1", "buy", QTY, 100 * PX, ts_ns=T0 + 1),
            fill("f2", "sell", QTY, 90 * PX, ts_ns=DAY_NS + T0 - 1),  # last ns of day D0
        ],
        RULES,
    )
    assert state.realised_on(D0) == -10 * USD
    assert state.realised_on(D0 + 1) == 0
    state = apply(state, fill("f3", "buy", QTY, 100 * PX, fee_usd_1e9=USD, ts_ns=T0 + DAY_NS), RULES)
    assert (state.pnl_day, state.realised_today_usd_1e9) == (D0 + 1, -USD)
    assert state.realised_on(D0) == 0


def test_late_fill_from_an_earlier_day_does_not_count_today() -> None:
    state = replay(TENANT, [*KNOWN, fill("f1", "buy", QTY, 100 * PX, fee_usd_1e9=USD, ts_ns=T0 + DAY_NS)], RULES)
    state = apply(state, fill("f0", "buy", QTY, 100 * PX, fee_usd_1e9=7 * USD, ts_ns=T0), RULES)
    assert state.realised_on(D0 + 1) == -USD
    assert state.balance("okx", "BTC") == 2 * QTY


def test_event_for_another_tenant_is_refused() -> None:
    with pytest.raises(WrongTenant, match=r"tenant 'other' got BalanceAdjusted for tenant 't1'"):
        replay("other", [fund("okx", "USDT", QTY)], RULES)


def test_rebuild_equals_incremental_fold() -> None:
    events = [
        fund("okx", "USDT", 10_000 * QTY),
        _made("r1", 5_000 * QTY),
        child("c1", "buy", QTY),
        fill("f1", "buy", QTY // 2, 100 * PX, fee_usd_1e9=USD, child_id="c1"),
        _released("r1", 10 * QTY),
    ]
    state = new_account(TENANT)
    for event in events:
        state = apply(state, event, RULES)
    assert state == replay(TENANT, events, RULES)


def _pass(*reservations: ReservationMade, node_id: str = "n1") -> RiskCheckPassed:
    return RiskCheckPassed(event_id=f"p-{node_id}", ts_ns=T0, tenant=TENANT, graph_id="g1", node_id=node_id,
                           notional_usd_1e9=7, reservations=reservations)


def test_a_pass_holds_the_reservations_it_carries_as_if_each_came_first() -> None:
    funded = [fund("okx", "USDT", 10_000 * QTY), fund("okx", "BTC", QTY)]
    carried = (_made("r1", 3_000 * QTY), _made("r2", QTY // 2, asset="BTC"))
    embedded = replay(TENANT, [*funded, _pass(*carried)], RULES)
    standalone = replay(TENANT, [*funded, *carried, _pass()], RULES)  # how older logs record it
    assert embedded == standalone
    assert embedded.reserved == {("okx", "USDT"): 3_000 * QTY, ("okx", "BTC"): QTY // 2}
    assert embedded.passed_nodes == {("g1", "n1"): 7}
    # Fills and releases work on them like on any reservation.
    after = replay(TENANT, [*funded, _pass(*carried), _released("r1", 1_000 * QTY), _pass(*carried)], RULES)
    assert after.reserved_qty("okx", "USDT") == 2_000 * QTY  # a replayed pass reserves nothing twice


def test_a_pass_carrying_another_tenants_reservation_is_refused_and_changes_nothing() -> None:
    state = replay(TENANT, [fund("okx", "USDT", 10_000 * QTY)], RULES)
    foreign = ReservationMade(event_id="x", ts_ns=T0, tenant="other", reservation_id="x", graph_id="g1",
                              node_id="n1", venue="okx", asset="USDT", qty_1e8=QTY)
    with pytest.raises(WrongTenant, match=r"got ReservationMade for tenant 'other'"):
        apply(state, _pass(_made("r1", QTY), foreign), RULES)
    with pytest.raises(WrongTenant):
        fold_into(state, _pass(_made("r1", QTY), foreign), RULES)
    assert (state.reservations, state.reserved, state.passed_nodes) == ({}, {}, {})


def test_a_fill_for_a_child_the_ledger_does_not_know_moves_no_money_and_is_refused() -> None:
    funded = replay(TENANT, [*KNOWN, fund("okx", "USDT", 1_000 * QTY)], RULES)
    forged = fill("forged", "buy", 100 * QTY, PX, child_id="c-forged", graph_id="g_forged")
    after = apply(funded, forged, RULES)
    assert after.balances == funded.balances
    assert after.positions == funded.positions
    assert after.fill_keys == funded.fill_keys
    assert after.refused == {"ev-forged": "unknown_child"}


def test_a_fill_from_a_venue_other_than_its_childs_is_refused() -> None:
    funded = replay(TENANT, [*KNOWN, fund("okx", "USDT", 1_000 * QTY)], RULES)
    elsewhere = fill("f1", "buy", QTY // 100, 100 * PX, venue="binance")  # c1 was allocated on okx
    after = apply(funded, elsewhere, RULES)
    assert after.balances == funded.balances and after.positions == funded.positions
    assert after.refused == {"ev-f1": "venue_mismatch"}
    booked = apply(funded, fill("f1", "buy", QTY // 100, 100 * PX), RULES)  # the same fill from okx books
    assert booked.position("BTC-USDT").qty_1e8 == QTY // 100 and booked.refused == {}
