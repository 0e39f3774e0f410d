"""The synchronous kernel (services/kernel/kernel.py): sandbox matching under it (queue position,
partial fills, fees, latency), TCA on a node's end, and bounded state (ended graphs leave)."""

from __future__ import annotations

import random
from typing import Any

from events import AnyEvent
from events.commands import AmendNode, CancelGraph, FundSandbox, ResetSandbox
from events.execution import BalanceAdjusted, ChildAcked, ChildAmended, ChildCancelled, FillRecorded
from events.graph import GraphCompleted, NodeCompleted
from events.market import BookSnapshot, TradePrinted
from events.routing import ChildAllocated, PlanMade
from events.sandbox import BalanceDelta, SandboxReset
from events.tca import TcaReported
from services.edges.sandbox.accounts import SandboxAccounts, command_id
from services.edges.sandbox.balances import paper_funding
from services.edges.sandbox.config import SandboxConfig
from services.edges.sandbox.fees import default_fee_schedule, fee_usd_1e9
from services.edges.sandbox.mapping import funding_events
from services.graph import parse_order_body
from services.graph.commands import submit_command
from projections.retention import DEFAULT_WINDOW_S
from services.kernel.kernel import Kernel
from services.kernel.ports import VirtualClock
from services.risk import RiskLimits

T0 = 1_800_000_000_000_000_000
MS = 1_000_000
U = 10**8  # one BTC
P = 10**9  # one USD
SYMBOL = "BTC-USDT"
VENUE = "okx"  # maker 800 ppm, taker 1,000 ppm: a fill's fee says which side it was
TENANT = "acme"
LIMITS = RiskLimits(max_order_notional_usd_1e9=10**9 * P, max_position_usd_1e9=None)
LATENCY = SandboxConfig(latency_ns=20 * MS, jitter_ns=5 * MS)


def order(graph_id: str, qty_1e8: int, *, side: str = "buy", price_1e9: int | None = None) -> dict[str, Any]:
    return {"graph_id": graph_id, "nodes": [{
        "node_id": "order", "instrument": {"symbol": SYMBOL, "type": "spot", "venue": VENUE}, "side": side,
        "order_type": {"limit": {"price_1e9": price_1e9}} if price_1e9 else "market",
        "quantity": {"fixed": {"qty_1e8": qty_1e8}},
    }], "edges": []}


def submit(body: dict[str, Any], ts_ns: int) -> AnyEvent:
    return submit_command(parse_order_body(body, lambda: "unused", force_sandbox=True), TENANT, ts_ns)[0]


def book(ts_ns: int, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(event_id=f"book-{ts_ns}", ts_ns=ts_ns, ts_recv_ns=ts_ns, venue=VENUE, symbol=SYMBOL,
                        bids=bids, asks=asks)


def trade(ts_ns: int, px_1e9: int, qty_1e8: int) -> TradePrinted:
    return TradePrinted(event_id=f"trade-{ts_ns}", ts_ns=ts_ns, ts_recv_ns=ts_ns, venue=VENUE, symbol=SYMBOL,
                        px_1e9=px_1e9, qty_1e8=qty_1e8, aggressor="sell")


def new_kernel(seed: int = 1, sandbox: SandboxConfig = LATENCY) -> Kernel:
    return Kernel(clock=VirtualClock(T0), rng=random.Random(seed), limits=LIMITS, sandbox=sandbox)


def run(kernel: Kernel, inputs: list[AnyEvent], until_ns: int) -> list[AnyEvent]:
    log = kernel.run(inputs)
    return log + kernel.advance_to(until_ns)


def funded(ts_ns: int) -> list[AnyEvent]:
    return list(funding_events(TENANT, [VENUE], ts_ns))


def test_a_resting_buy_fills_only_after_the_volume_queued_ahead_of_it_has_traded() -> None:
    # Arrange: 1 BTC is displayed at our bid before we join; we rest 0.2 BTC behind it.
    bid = 99_990 * P
    inputs: list[AnyEvent] = [
        *funded(T0),
        book(T0 + 1 * MS, [(bid, 1 * U)], [(100_000 * P, 1 * U)]),
        submit(order("g_queue", 20_000_000, price_1e9=bid), T0 + 2 * MS),
        trade(T0 + 100 * MS, bid, 60_000_000),  # 0.6 of the 1.0 ahead of us
        trade(T0 + 200 * MS, bid, 50_000_000),  # the last 0.4 ahead, then 0.1 to us
        trade(T0 + 300 * MS, bid, 30_000_000),  # our last 0.1
    ]
    # Act
    log = run(new_kernel(), inputs, T0 + 1_000 * MS)
    # Assert: no fill while the queue ahead trades; then a partial fill, then the rest.
    fills = [e for e in log if isinstance(e, FillRecorded)]
    assert [(f.qty_1e8, f.px_1e9, f.liquidity, f.ts_event_ns) for f in fills] == [
        (10_000_000, bid, "maker", T0 + 200 * MS),
        (10_000_000, bid, "maker", T0 + 300 * MS),
    ]
    schedule = default_fee_schedule(VENUE)
    assert [f.fee_usd_1e9 for f in fills] == [fee_usd_1e9(schedule, "maker", bid, 10_000_000)] * 2
    [done] = [e for e in log if isinstance(e, NodeCompleted)]
    assert (done.status, done.filled_qty_1e8, done.ts_ns) == ("FILLED", 20_000_000, T0 + 300 * MS)
    # The TCA report follows the node's end, with both fills and their fees.
    [report] = [e for e in log if isinstance(e, TcaReported)]
    assert log.index(report) > log.index(done)
    assert (report.graph_id, report.fill_count, report.fees_usd_1e9) == ("g_queue", 2, sum(f.fee_usd_1e9 for f in fills))
    assert report.achieved_vwap_1e9 == bid


def test_a_market_buy_walks_the_book_in_partial_fills_at_the_taker_fee_after_the_latency() -> None:
    ask = 100_000 * P
    inputs: list[AnyEvent] = [
        *funded(T0),
        book(T0 + 1 * MS, [(99_990 * P, 1 * U)], [(ask, 50_000_000), (ask + P, 2 * U)]),
        submit(order("g_sweep", 1 * U), T0 + 2 * MS),
    ]
    log = run(new_kernel(), inputs, T0 + 1_000 * MS)
    fills = [e for e in log if isinstance(e, FillRecorded)]
    schedule = default_fee_schedule(VENUE)
    assert [(f.qty_1e8, f.px_1e9, f.liquidity, f.fee_usd_1e9) for f in fills] == [
        (50_000_000, ask, "taker", fee_usd_1e9(schedule, "taker", ask, 50_000_000)),
        (50_000_000, ask + P, "taker", fee_usd_1e9(schedule, "taker", ask + P, 50_000_000)),
    ]
    # The venue answers after its latency (20 ms + up to 5 ms of jitter), not at the submission.
    [ack] = [e for e in log if isinstance(e, ChildAcked)]
    assert T0 + 22 * MS <= ack.ts_ns == ack.ts_event_ns <= T0 + 27 * MS
    assert all(f.ts_ns == ack.ts_ns for f in fills)
    [graph] = [e for e in log if isinstance(e, GraphCompleted)]
    assert (graph.status, graph.ts_ns) == ("COMPLETED", ack.ts_ns)


def test_ended_graphs_leave_the_hot_state() -> None:
    # Arrange: a kernel with books and funds: its baseline.
    kernel = new_kernel()
    ask, bid = 100_000 * P, 99_990 * P
    t = T0
    run(kernel, [*funded(t), book(t + 1, [(bid, 1_000 * U)], [(ask, 1_000 * U)])], t + 1)
    baseline = kernel.hot_size()
    # Act: 100 market buys that fill, and 50 resting bids that are then cancelled.
    inputs: list[AnyEvent] = []
    for i in range(100):
        t += 10 * MS
        inputs.append(submit(order(f"g_fill_{i}", 1_000_000), t))
    for i in range(50):
        t += 10 * MS
        inputs.append(submit(order(f"g_rest_{i}", 1_000_000, price_1e9=bid - P), t))
    log = run(kernel, inputs, t + 1_000 * MS)
    working = kernel.hot_size()
    for i in range(50):
        t += 10 * MS
        log += run(kernel, [CancelGraph(event_id=f"cancel-{i}", ts_ns=t, tenant=TENANT, graph_id=f"g_rest_{i}")], t)
    log += kernel.advance_to(t + 1_000 * MS)
    ended = kernel.window_size()
    # ... and once the ledger's dedup window has passed on the log's clock (any later event).
    after_window = t + 1_000 * MS + int(DEFAULT_WINDOW_S * 1e9)
    log += run(kernel, funded(after_window), after_window)
    # Assert: the resting orders were open work; once everything ended, the state is back at
    # baseline; the children and fill keys a re-sent fact may still name leave after the window.
    assert working["graphs"] == working["venue_orders"] == working["reservations"] == 50
    assert sum(isinstance(e, FillRecorded) for e in log) == 100
    assert sum(isinstance(e, ChildCancelled) for e in log) == 50
    assert kernel.hot_size() == baseline
    assert (ended["known_children"], ended["fill_keys"]) == (150, 100)
    assert not any(kernel.window_size().values())


def test_a_twap_releases_its_slices_on_the_virtual_clock_and_its_graph_leaves_when_done() -> None:
    kernel = new_kernel()
    ask, bid = 100_000 * P, 99_990 * P
    body = {"graph_id": "g_twap", "symbol": SYMBOL, "side": "buy", "qty": 0.5, "urgency": "low",
            "horizon_ms": 10_000, "venue": VENUE}
    inputs: list[AnyEvent] = [*funded(T0), book(T0 + 1, [(bid, 1_000 * U)], [(ask, 1_000 * U)]),
                              submit(body, T0 + 2 * MS)]
    # The venue's book is refreshed every second (a book older than 5 s refuses orders).
    inputs += [book(T0 + i * 1_000 * MS, [(bid, 1_000 * U)], [(ask, 1_000 * U)]) for i in range(1, 30)]
    log = run(kernel, inputs, T0 + 60_000 * MS)
    plans = [e for e in log if isinstance(e, PlanMade)]
    # Three slices a third of the horizon apart, each planned at its own due time.
    assert [(p.ts_ns - T0, p.qty_1e8) for p in plans] == [
        (2 * MS, 16_666_000), (3_335_333_333, 16_667_000), (6_668_666_666, 16_667_000),
    ]
    [done] = [e for e in log if isinstance(e, GraphCompleted)]
    assert done.status == "COMPLETED" and done.ts_ns > plans[-1].ts_ns
    assert sum(f.qty_1e8 for f in log if isinstance(f, FillRecorded)) == 50_000_000
    assert not any(kernel.hot_size().values())  # the graph has left; nothing is scheduled


def test_market_data_of_a_venue_without_a_simulator_is_folded_but_not_simulated() -> None:
    kernel = new_kernel()
    snapshot = BookSnapshot(event_id="elsewhere", ts_ns=T0, ts_recv_ns=T0, venue="nowhere", symbol=SYMBOL,
                            bids=[(99_990 * P, U)], asks=[(100_000 * P, U)])
    assert kernel.handle(snapshot) == []
    assert kernel.venues == {"nowhere": None}
    assert kernel.market.nbbo(SYMBOL) is not None  # the market fold has it (e.g. for the NBBO)


def test_an_amended_resting_order_is_replaced_at_the_venue_and_fills_to_its_new_size() -> None:
    # Arrange: 0.2 BTC rests at our bid with nothing ahead (a new best bid), then grows to 0.3.
    kernel = new_kernel()
    bid = 99_995 * P
    baseline_inputs: list[AnyEvent] = [*funded(T0), book(T0 + 1 * MS, [(99_990 * P, U)], [(100_000 * P, U)])]
    run(kernel, baseline_inputs, T0 + 1 * MS)
    baseline = kernel.hot_size()
    inputs: list[AnyEvent] = [
        submit(order("g_amend", 20_000_000, price_1e9=bid), T0 + 2 * MS),
        AmendNode(event_id="amend-1", ts_ns=T0 + 100 * MS, tenant=TENANT, graph_id="g_amend", node_id="order",
                  new_qty_1e8=30_000_000),
        trade(T0 + 200 * MS, bid, 1 * U),
    ]
    # Act
    log = run(kernel, inputs, T0 + 1_000 * MS)
    # Assert: a size increase is a cancel-replace; the replacement takes the whole new size.
    [amended] = [e for e in log if isinstance(e, ChildAmended)]
    assert (amended.mode, amended.new_qty_1e8) == ("cancel_replace", 30_000_000)
    [replaced] = [e for e in log if isinstance(e, ChildCancelled)]
    assert replaced.reason == "replaced"
    fills = [e for e in log if isinstance(e, FillRecorded)]
    assert [(f.qty_1e8, f.client_order_id) for f in fills] == [(30_000_000, amended.new_client_order_id)]
    [done] = [e for e in log if isinstance(e, GraphCompleted)]
    assert done.status == "COMPLETED"
    assert kernel.hot_size() == baseline


def test_the_sandbox_books_commands_run_in_the_kernel_as_the_executor_runs_them() -> None:
    # Arrange: the front door's funding command (not its facts) starts the account, as live.
    grants = [BalanceDelta(venue=g.venue, asset=g.asset, delta_qty_1e8=g.qty_1e8) for g in paper_funding([VENUE])]
    fund = FundSandbox(event_id=command_id("fund", TENANT), ts_ns=T0, tenant=TENANT, grants=grants)
    reset = ResetSandbox(event_id="c-reset", ts_ns=T0 + 500 * MS, tenant=TENANT, request_id="r1", cancelled=0,
                         adjusted=[BalanceDelta(venue=VENUE, asset="USDT", delta_qty_1e8=7)], flattened=[])
    inputs: list[AnyEvent] = [
        fund,
        book(T0 + 1 * MS, [(99_990 * P, 1 * U)], [(100_000 * P, 1 * U)]),
        submit(order("g_funded", 10_000_000), T0 + 2 * MS),
        reset,
    ]
    kernel = new_kernel()
    # Act
    log = run(kernel, [*inputs, fund], T0 + 1_000 * MS)  # the funding again: moot, nothing more
    # Assert: the executor's own facts (same ids, same order), folded: the order trades on them.
    live = SandboxAccounts()
    expected = [*live.apply(fund, T0), *live.apply(reset, T0 + 500 * MS)]
    made = [e for e in log if isinstance(e, (BalanceAdjusted, SandboxReset))]
    assert [(e.event_id, type(e).__name__) for e in made] == [(e.event_id, type(e).__name__) for e in expected]
    assert [e for e in made if isinstance(e, BalanceAdjusted) and e.reason == "paper_funding"] == [
        e for e in expected if isinstance(e, BalanceAdjusted) and e.reason == "paper_funding"
    ]
    [done] = [e for e in log if isinstance(e, GraphCompleted) and e.graph_id == "g_funded"]
    assert done.status == "COMPLETED"
    granted_btc = next(g.delta_qty_1e8 for g in grants if g.asset == "BTC")
    assert kernel.accounts.account(TENANT, True).balance(VENUE, "BTC") == granted_btc + 10_000_000


def test_a_passive_order_is_sent_post_only_and_a_sweep_is_not() -> None:
    bid, ask = 99_990 * P, 100_000 * P
    passive = order("g_passive", 10_000_000, price_1e9=ask)
    passive["nodes"][0]["execution"] = {"policy": "passive"}
    inputs: list[AnyEvent] = [
        *funded(T0),
        book(T0 + 1 * MS, [(bid, 1 * U)], [(ask, 1 * U)]),
        submit(passive, T0 + 2 * MS),
        submit(order("g_sweep", 10_000_000), T0 + 3 * MS),
    ]
    log = run(new_kernel(), inputs, T0 + 1_000 * MS)
    children = {c.graph_id: c for c in log if isinstance(c, ChildAllocated)}
    # The passive child rests at the bid (never taking) and the venue is told it is post-only.
    assert (children["g_passive"].post_only, children["g_passive"].limit_px_1e9) == (True, bid)
    assert children["g_sweep"].post_only is False
    assert not [f for f in log if isinstance(f, FillRecorded) and f.graph_id == "g_passive"]
