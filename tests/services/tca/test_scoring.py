"""The venue-scoring fold: exact EMAs of latency, fill rate and slippage; when it emits; replays."""

from __future__ import annotations

from typing import Literal

from events.execution import ChildAcked, ChildCancelled, ChildRejected, FillRecorded
from events.ids import derive_id
from events.routing import Allocation, ChildAllocated, PlanMade
from events.tca import VenueScored
from services.tca.scoring import VenueScorer

USD = 10**9
BTC = 10**8
Side = Literal["buy", "sell"]


def plan(plan_id: str, venue: str, est_px: int, side: Side = "buy") -> PlanMade:
    alloc = Allocation(venue=venue, qty_1e8=BTC, est_avg_px_1e9=est_px, worst_px_1e9=est_px, fee_bps=0.0, est_cost_usd_1e9=0)
    return PlanMade(
        event_id=f"plan-{plan_id}", ts_ns=1, tenant="t", plan_id=plan_id, graph_id="g", node_id="n", symbol="BTC-USDT",
        side=side, qty_1e8=BTC, allocations=[alloc], arrival_mid_px_1e9=est_px, expected_avg_px_1e9=est_px,
        expected_slippage_bps=0.0, expected_cost_usd_1e9=0, best_single_venue=None, best_single_venue_cost_usd_1e9=None,
    )


def child(
    cid: str, venue: str, ts: int, *, plan_id: str = "p", side: Side = "buy", tif: str = "ioc", sandbox: bool = False
) -> ChildAllocated:
    return ChildAllocated(
        event_id=f"alloc-{cid}", ts_ns=ts, tenant="t", plan_id=plan_id, graph_id="g", node_id="n", child_id=cid,
        client_order_id=f"co-{cid}", venue=venue, symbol="BTC-USDT", side=side, qty_1e8=BTC, order_type="limit",
        limit_px_1e9=None, tif=tif, is_sandbox=sandbox,  # type: ignore[arg-type]
    )


def ack(cid: str, venue: str, ts: int, ts_event: int = 0) -> ChildAcked:
    return ChildAcked(
        event_id=f"ack-{cid}", ts_ns=ts, tenant="t", child_id=cid, venue=venue, client_order_id=f"co-{cid}",
        venue_order_id="v", ts_event_ns=ts_event,
    )


def fill(fid: str, cid: str, venue: str, qty: int, px: int, ts: int, side: Side = "buy") -> FillRecorded:
    return FillRecorded(
        event_id=f"fill-{fid}", ts_ns=ts, tenant="t", fill_id=fid, child_id=cid, client_order_id=f"co-{cid}",
        graph_id="g", node_id="n", venue=venue, symbol="BTC-USDT", side=side, qty_1e8=qty, px_1e9=px, fee_usd_1e9=0,
        liquidity="taker", is_sandbox=False,
    )


def cancelled(cid: str, venue: str, filled: int, ts: int) -> ChildCancelled:
    return ChildCancelled(
        event_id=f"cxl-{cid}", ts_ns=ts, tenant="t", child_id=cid, venue=venue, client_order_id=f"co-{cid}",
        filled_qty_1e8=filled, cancelled_qty_1e8=BTC - filled, reason="ioc_remainder",
    )


def rejected(cid: str, venue: str, ts: int) -> ChildRejected:
    return ChildRejected(
        event_id=f"rej-{cid}", ts_ns=ts, tenant="t", child_id=cid, venue=venue, client_order_id=f"co-{cid}",
        code="stale_book", message="book too old",
    )


def fold(events: list[object], scorer: VenueScorer | None = None) -> list[VenueScored | None]:
    scorer = scorer or VenueScorer()
    return [scorer.apply(e) for e in events]  # type: ignore[arg-type]


def test_latency_ema_seeds_then_moves_an_eighth_and_is_emitted_only_on_a_material_move() -> None:
    # Arrange: RTTs of 21 ms (venue time), 37 ms (our time: no venue stamp), 45 ms.
    events = [
        child("c1", "okx", 1_000), ack("c1", "okx", 99_000_000, ts_event=21_001_000),
        child("c2", "okx", 2_000_000_000), ack("c2", "okx", 2_037_000_000),
        child("c3", "okx", 3_000_000_000), ack("c3", "okx", 3_045_000_000),
    ]
    # Act
    out = fold(events)
    # Assert: 21e6 seeds; 21e6 + ceil(16e6 / 8) = 23e6 is 9.5% from 21e6 (not emitted);
    # 23e6 + ceil(22e6 / 8) = 25.75e6 is 22.6% from the last emitted 21e6.
    assert [o is not None for o in out] == [False, True, False, False, False, True]
    first, third = out[1], out[5]
    assert first is not None and third is not None
    assert (first.latency_ema_ns, first.latency_samples, first.fill_rate_ppm, first.realised_slippage_ppm) == (
        21_000_000, 1, None, None
    )
    assert (third.latency_ema_ns, third.latency_samples) == (25_750_000, 3)
    assert (third.venue, third.symbol, third.is_sandbox, third.tenant) == ("okx", "BTC-USDT", False, "")
    assert (third.alpha_num, third.alpha_den, third.first_sample_ns, third.last_sample_ns) == (
        1, 8, 99_000_000, 3_045_000_000
    )
    # Derived from the cause, at the cause's time: a replay rebuilds the same event.
    assert (third.event_id, third.ts_ns, third.causation_id) == (derive_id("venue_score", "ack-c3"), 3_045_000_000, "ack-c3")


def test_fill_rate_and_slippage_against_the_plan_are_exact() -> None:
    # Arrange: buy 1 BTC on okx, the plan expected 100,000. 0.4 at 100,010 and 0.2 at 100,020,
    # the rest cancelled: fill rate 60%, slippage (0.4*10 + 0.2*20) / (0.6*100,000) = 133.3 ppm -> 134.
    # Then a fully filled child exactly at the plan's price: fill 100%, slippage 0.
    events = [
        plan("p", "okx", 100_000 * USD),
        child("c1", "okx", 1_000), ack("c1", "okx", 2_000),
        fill("f1", "c1", "okx", 40_000_000, 100_010 * USD, 3_000),
        fill("f2", "c1", "okx", 20_000_000, 100_020 * USD, 3_000),
        fill("f2", "c1", "okx", 20_000_000, 100_020 * USD, 3_000),  # a replayed venue fill: counted once
        cancelled("c1", "okx", 60_000_000, 4_000),
        plan("q", "okx", 100_000 * USD),
        child("c2", "okx", 5_000, plan_id="q"),
        fill("f3", "c2", "okx", BTC, 100_000 * USD, 6_000),
    ]
    # Act
    out = fold(events)
    # Assert
    partial, full = out[6], out[9]
    assert partial is not None and full is not None
    assert (partial.fill_rate_ppm, partial.realised_slippage_ppm, partial.fill_samples, partial.slippage_samples) == (
        600_000, 134, 1, 1
    )
    assert partial.event_id == derive_id("venue_score", "cxl-c1")
    # 600_000 + ceil(400_000 / 8) = 650_000; 134 + floor(-134 / 8) = 117. Emitted: fill moved 5 points.
    assert (full.fill_rate_ppm, full.realised_slippage_ppm, full.fill_samples, full.latency_samples) == (
        650_000, 117, 2, 1
    )
    assert full.event_id == derive_id("venue_score", "fill-f3")  # the fill that completed the child
    assert [o is not None for o in out] == [False, False, True, False, False, False, True, False, False, True]


def test_a_sell_below_the_plan_is_slippage_and_a_rejection_is_a_zero_fill() -> None:
    events = [
        plan("p", "bybit", 50_000 * USD, side="sell"),
        child("c1", "bybit", 1_000, side="sell"),
        fill("f1", "c1", "bybit", BTC, 49_995 * USD, 2_000, side="sell"),  # 5 / 50,000 = 100 ppm worse
        child("c2", "bybit", 3_000, side="sell"),
        rejected("c2", "bybit", 4_000),
    ]
    out = fold(events)
    first, second = out[2], out[4]
    assert first is not None and (first.fill_rate_ppm, first.realised_slippage_ppm) == (1_000_000, 100)
    # 1e6 + floor(-1e6 / 8) = 875_000; no fills, so no slippage sample.
    assert second is not None and (second.fill_rate_ppm, second.realised_slippage_ppm, second.slippage_samples) == (
        875_000, 100, 1
    )


def test_resting_children_give_latency_only_and_sandbox_is_scored_apart() -> None:
    scorer = VenueScorer()
    events = [
        child("gtc", "okx", 1_000, tif="gtc"), ack("gtc", "okx", 11_000), cancelled("gtc", "okx", 0, 9_000_000),
        child("sb", "okx", 1_000, sandbox=True), ack("sb", "okx", 501_000),
    ]
    out = fold(events, scorer)
    live, sandbox = out[1], out[4]
    assert out[2] is None  # a resting child's cancel says nothing about the venue's fill rate
    assert live is not None and (live.is_sandbox, live.latency_ema_ns, live.fill_samples) == (False, 10_000, 0)
    assert sandbox is not None and (sandbox.is_sandbox, sandbox.latency_ema_ns) == (True, 500_000)
    assert list(scorer.children) == ["sb"]  # the closed child is forgotten, the open one kept


def test_unknown_children_and_logged_scores_do_not_move_the_averages_and_a_replay_is_identical() -> None:
    events: list[object] = [
        ack("ghost", "okx", 5_000), fill("fg", "ghost", "okx", BTC, 1, 6_000),  # no allocation seen: ignored
        plan("p", "okx", 100_000 * USD),
        child("c1", "okx", 1_000), ack("c1", "okx", 3_000_000),
        fill("f1", "c1", "okx", BTC, 100_001 * USD, 4_000_000),
        child("c2", "okx", 5_000_000), ack("c2", "okx", 15_000_000),
    ]
    first = fold(events)
    assert first[:2] == [None, None]
    emitted = [o for o in first if o is not None]
    assert len(emitted) == 3
    assert (emitted[0].latency_ema_ns, emitted[0].latency_samples) == (2_999_000, 1)  # the ghost's ack is not in it
    # A replay of the log, with the scores it published interleaved: the same scores, remembered as seen.
    scorer = VenueScorer()
    again = []
    for e in events:
        out = scorer.apply(e)  # type: ignore[arg-type]
        if out is not None:
            again.append(out)
            assert scorer.apply(out) is None  # its own echo from the log changes nothing
    assert again == emitted
    assert scorer.seen == {e.event_id for e in emitted}
