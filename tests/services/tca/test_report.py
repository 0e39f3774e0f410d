"""Hand-built scenarios: every field of the report is checked against a value worked out by hand."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from events.execution import ChildAcked, ChildSubmitted, FillRecorded
from events.graph import NodeActivated, NodeCompleted
from events.routing import ChildAllocated, PlanMade
from events.tca import HopLatency, VenueMix
from services.tca import TcaInputError, build_report

G, N = "g1", "n1"
USD = 10**9  # px_1e9 / usd_1e9 of one dollar
BTC = 10**8  # qty_1e8 of one coin


def activation(ts: int = 1_000) -> NodeActivated:
    return NodeActivated(event_id="act", ts_ns=ts, tenant="t", graph_id=G, node_id=N, node_order_id=f"{G}:{N}:1")


def completed(qty: int, ts: int = 9_000) -> NodeCompleted:
    return NodeCompleted(
        event_id="done", ts_ns=ts, tenant="t", correlation_id="corr", graph_id=G, node_id=N, status="FILLED",
        filled_qty_1e8=qty, avg_fill_px_1e9=None,
    )


def plan(side: Literal["buy", "sell"], qty: int, best: str | None, best_cost: int | None, ts: int = 1_500) -> PlanMade:
    return PlanMade(
        event_id="plan", ts_ns=ts, tenant="t", plan_id="p", graph_id=G, node_id=N, symbol="BTC-USDT", side=side,
        qty_1e8=qty, allocations=[], arrival_mid_px_1e9=100_000 * USD, expected_avg_px_1e9=0,
        expected_slippage_bps=0.0, expected_cost_usd_1e9=0, best_single_venue=best,
        best_single_venue_cost_usd_1e9=best_cost,
    )


def fill(fid: str, venue: str, side: Literal["buy", "sell"], qty: int, px: int, fee: int, ts_event: int = 0, ts: int = 5_000) -> FillRecorded:
    return FillRecorded(
        event_id=f"e-{fid}", ts_ns=ts, tenant="t", fill_id=fid, child_id=f"c-{venue}", client_order_id=f"co-{venue}",
        graph_id=G, node_id=N, venue=venue, symbol="BTC-USDT", side=side, qty_1e8=qty, px_1e9=px, fee_usd_1e9=fee,
        liquidity="taker", is_sandbox=True, ts_event_ns=ts_event,
    )


def child(venue: str, ts: int) -> ChildAllocated:
    return ChildAllocated(
        event_id=f"alloc-{venue}", ts_ns=ts, tenant="t", plan_id="p", graph_id=G, node_id=N, child_id=f"c-{venue}",
        client_order_id=f"co-{venue}", venue=venue, symbol="BTC-USDT", side="buy", qty_1e8=BTC, order_type="limit",
        limit_px_1e9=None, tif="ioc", is_sandbox=True,
    )


def ack(venue: str, ts: int, ts_event: int = 0) -> ChildAcked:
    return ChildAcked(
        event_id=f"ack-{venue}", ts_ns=ts, tenant="t", child_id=f"c-{venue}", venue=venue, client_order_id=f"co-{venue}",
        venue_order_id="v1", ts_event_ns=ts_event, graph_id=G, node_id=N,
    )


def test_buy_split_over_two_venues_every_field_exact() -> None:
    # Arrange: buy 1.5 BTC against a 100,000 mid: 1 BTC at 100,010 on a (10 bp fee, 100.01 USD),
    # 0.5 BTC at 100,020 on b (5 bp, 25.005 USD). Sweeping a alone would have cost 1 BTC at
    # 100,010 + 0.5 at 100,030 = 150,025 USD + 10 bp = 150,175.025 USD.
    fills = [
        fill("f1", "a", "buy", BTC, 100_010 * USD, 100_010_000_000, ts_event=2_500),
        fill("f2", "b", "buy", BTC // 2, 100_020 * USD, 25_005_000_000, ts_event=2_400),
        fill("f1", "a", "buy", BTC, 100_010 * USD, 100_010_000_000, ts_event=2_500),  # replayed: same fill_id
    ]
    # Act
    report = build_report(
        activation=activation(1_000),
        completed=completed(150_000_000),
        plan=plan("buy", 150_000_000, "a", 150_175_025_000_000, ts=1_500),
        fills=fills,
        children=[child("a", 1_600), child("b", 1_650)],
        acks=[ack("a", 1_900), ack("b", 1_950, ts_event=2_100)],
        event_id="rep",
    )
    # Assert
    assert (report.event_id, report.ts_ns, report.tenant, report.causation_id, report.correlation_id) == (
        "rep", 9_000, "t", "done", "corr",
    )
    assert (report.graph_id, report.node_id, report.node_order_id, report.symbol, report.side) == (
        G, N, "g1:n1:1", "BTC-USDT", "buy",
    )
    assert report.filled_qty_1e8 == 150_000_000
    assert report.arrival_mid_px_1e9 == report.benchmark_vwap_1e9 == 100_000_000_000_000
    # 150,020 USD / 1.5 = 100,013.3333333333 -> half up
    assert report.achieved_vwap_1e9 == 100_013_333_333_333
    # (150,020 - 150,000) / 150,000 = 1.3333 bp; with 125.015 USD fees: 145.015 / 150,000
    assert report.slippage_bps == 20 / 15
    assert report.implementation_shortfall_bps == 145_015 / 15_000
    assert report.fees_usd_1e9 == 125_015_000_000
    assert report.fees_bps == 125_015 / 15_002  # 125.015 / 150,020 * 1e4
    assert report.best_single_venue == "a"
    # 150,175.025 / 1.5 = 100,116.6833333333 -> up (a buy's cost rounds against us)
    assert report.single_venue_vwap_1e9 == 100_116_683_333_334
    # 150,175.025 - (150,020 + 125.015) = 30.01 USD
    assert report.savings_usd_1e9 == 30_010_000_000
    assert report.savings_vs_single_venue_bps == 30_010 / 15_002
    assert report.venue_mix == [
        VenueMix(venue="a", qty_1e8=BTC, notional_usd_1e9=100_010_000_000_000, avg_px_1e9=100_010_000_000_000,
                 fees_usd_1e9=100_010_000_000),
        VenueMix(venue="b", qty_1e8=BTC // 2, notional_usd_1e9=50_010_000_000_000, avg_px_1e9=100_020_000_000_000,
                 fees_usd_1e9=25_005_000_000),
    ]
    assert report.fill_count == 2
    # accept 1,000 -> plan 1,500 -> first child 1,600 -> first ack 1,900 (no venue time: ts_ns)
    # -> first fill 2,400 (venue time)
    assert report.latencies == [
        HopLatency(hop="accept_to_route", ns=500),
        HopLatency(hop="route_to_send", ns=100),
        HopLatency(hop="send_to_ack", ns=300),
        HopLatency(hop="ack_to_fill", ns=500),
    ]
    assert report.interval_twap_1e9 is None and report.interval_vwap_1e9 is None


def test_sell_with_a_rebate_rounds_against_us_and_mirrors_the_signs() -> None:
    # Arrange: sell 0.3 BTC against a 100,000 mid: 0.1 at 99,990.000000001 on a (fee 0.003 USD),
    # 0.2 at 99,980 on b (rebate 0.001 USD). Gross proceeds 29,995.0000000001 USD.
    fills = [
        fill("s1", "a", "sell", 10_000_000, 99_990_000_000_001, 3_000_000, ts=7_000),
        fill("s2", "b", "sell", 20_000_000, 99_980_000_000_000, -1_000_000, ts=7_200),
    ]
    # The best single venue would have received 29,990 USD net: cost to us -29,990 USD.
    report = build_report(
        activation=activation(1_000),
        completed=completed(30_000_000),
        plan=plan("sell", 30_000_000, "b", -29_990_000_000_000, ts=1_200),
        fills=fills,
        event_id="rep2",
    )
    # Proceeds / 0.3 = 99,983.3333333333667 -> half up
    assert report.achieved_vwap_1e9 == 99_983_333_333_334
    # (30,000 - 29,995.0000000001) / 30,000 * 1e4, worse positive for a sell
    assert report.slippage_bps == 49_999_999_999 / 30_000_000_000
    assert report.implementation_shortfall_bps == 16_673_333_333 / 10_000_000_000  # plus 0.002 USD net fees
    assert report.fees_usd_1e9 == 2_000_000
    assert report.fees_bps == 200_000_000_000 / 299_950_000_000_001
    # Proceeds round down to 29,995 USD; net of fees the cost to us is -29,994.998 USD:
    # 4.998 USD better than the single venue's -29,990.
    assert report.savings_usd_1e9 == 4_998_000_000
    assert report.savings_vs_single_venue_bps == 4_998_000_000 * 10**12 / 2_999_500_000_000_010_000_000
    assert report.single_venue_vwap_1e9 == 99_966_666_666_666  # 29,990 / 0.3, down for a sell
    assert report.venue_mix == [
        VenueMix(venue="a", qty_1e8=10_000_000, notional_usd_1e9=9_999_000_000_000, avg_px_1e9=99_990_000_000_001,
                 fees_usd_1e9=3_000_000),
        VenueMix(venue="b", qty_1e8=20_000_000, notional_usd_1e9=19_996_000_000_000, avg_px_1e9=99_980_000_000_000,
                 fees_usd_1e9=-1_000_000),
    ]
    assert report.fill_count == 2
    # No child, ack or venue time: only the hop with both ends is reported.
    assert report.latencies == [HopLatency(hop="accept_to_route", ns=200)]


def test_send_time_prefers_child_submitted_over_the_allocation() -> None:
    submitted = ChildSubmitted(
        event_id="sub", ts_ns=1_700, tenant="t", child_id="c-a", client_order_id="co-a", graph_id=G, node_id=N,
        venue="a", symbol="BTC-USDT", side="buy", qty_1e8=BTC, limit_px_1e9=None,
    )
    report = build_report(
        activation=activation(1_000), completed=completed(BTC), plan=plan("buy", BTC, "a", 100_010 * USD),
        fills=[fill("f1", "a", "buy", BTC, 100_010 * USD, 0, ts=2_000)], children=[child("a", 1_600)],
        submitted=[submitted], acks=[ack("a", 1_800)], event_id="r",
    )
    assert [h.ns for h in report.latencies] == [500, 200, 100, 200]
    assert report.savings_usd_1e9 == 0 and report.savings_vs_single_venue_bps == 0.0


def test_an_order_filled_only_on_the_best_single_venue_saves_exactly_zero_even_after_the_book_moved() -> None:
    # The plan priced venue a at 100,010 USD; by the fills its book had moved up by 5 USD.
    fills = [fill("f1", "a", "buy", BTC // 2, 100_014 * USD, 20_000_000), fill("f2", "a", "buy", BTC // 2, 100_016 * USD, 20_000_000)]
    report = build_report(
        activation=activation(), completed=completed(BTC), plan=plan("buy", BTC, "a", 100_010 * USD), fills=fills,
        event_id="r", single_venue_qty_1e8=BTC,
    )
    assert report.savings_usd_1e9 == 0 and report.savings_vs_single_venue_bps == 0.0
    assert report.single_venue_vwap_1e9 == 100_015_040_000_000  # 100,015 USD + 0.04 USD fees for 1 BTC
    # The same fills split over two venues are compared with the plan's estimate of venue a.
    split = build_report(
        activation=activation(), completed=completed(BTC), plan=plan("buy", BTC, "a", 100_010 * USD),
        fills=[fills[0], msgspec.structs.replace(fills[1], venue="b")], event_id="r", single_venue_qty_1e8=BTC,
    )
    assert split.savings_usd_1e9 == 100_010 * USD - 100_015_040_000_000


def test_savings_are_none_when_the_single_venue_quantity_differs_or_there_is_no_single_venue() -> None:
    fills = [fill("f1", "a", "buy", BTC, 100_010 * USD, 0)]
    partial = build_report(
        activation=activation(), completed=completed(BTC), plan=plan("buy", BTC, "a", 50_010 * USD), fills=fills,
        event_id="r", single_venue_qty_1e8=BTC // 2,
    )
    assert partial.savings_usd_1e9 is None and partial.savings_vs_single_venue_bps is None
    assert partial.single_venue_vwap_1e9 == 100_020 * USD  # 50,010 USD for 0.5 BTC
    none = build_report(
        activation=activation(), completed=completed(BTC), plan=plan("buy", BTC, None, None), fills=fills, event_id="r"
    )
    assert (none.best_single_venue, none.single_venue_vwap_1e9, none.savings_usd_1e9, none.savings_vs_single_venue_bps) == (
        None, None, None, None,
    )


def test_no_fills_or_another_nodes_fill_is_refused() -> None:
    with pytest.raises(TcaInputError, match="no fills"):
        build_report(activation=activation(), completed=completed(0), plan=plan("buy", BTC, None, None), fills=[], event_id="r")
    stray = FillRecorded(
        event_id="x", ts_ns=1, fill_id="x", child_id="c", client_order_id="c", graph_id=G, node_id="other", venue="a",
        symbol="BTC-USDT", side="buy", qty_1e8=1, px_1e9=1, fee_usd_1e9=0, liquidity="taker", is_sandbox=True,
    )
    with pytest.raises(TcaInputError, match="belongs to"):
        build_report(activation=activation(), completed=completed(1), plan=plan("buy", 1, None, None), fills=[stray], event_id="r")
