"""Interval benchmarks of TWAP/VWAP parents: hand-built markets, every number worked out by hand."""

from __future__ import annotations

import msgspec
import pytest

from events.graph import ExecutionSpec, GraphSubmitted, Instrument, NodeSpec
from events.market import NbboChanged, TradePrinted
from services.tca.interval import MarketTape, interval_twap, interval_vwap, nbbo_mid
from services.tca.report import score_interval
from services.tca.fold import TcaFold
from tests.services.tca.test_report import BTC, G, N, USD, activation, completed, fill, plan


def nbbo(ts: int, bid: int, ask: int, symbol: str = "BTC-USDT") -> NbboChanged:
    return NbboChanged(
        event_id=f"n{ts}", ts_ns=ts, symbol=symbol, bid_px_1e9=bid, bid_qty_1e8=BTC, bid_venue="a" if bid else "",
        ask_px_1e9=ask, ask_qty_1e8=BTC, ask_venue="b" if ask else "", venues=[],
    )


def trade(ts: int, px: int, qty: int, symbol: str = "BTC-USDT") -> TradePrinted:
    return TradePrinted(event_id=f"t{ts}", ts_ns=ts, venue="a", symbol=symbol, px_1e9=px, qty_1e8=qty, aggressor="buy")


def test_mid_is_floored_and_needs_both_sides() -> None:
    assert nbbo_mid(nbbo(1, 3, 4)) == 3
    assert nbbo_mid(nbbo(1, 100 * USD, 102 * USD)) == 101 * USD
    assert nbbo_mid(nbbo(1, 0, 4)) is None and nbbo_mid(nbbo(1, 3, 0)) is None


def test_twap_weights_each_mid_by_the_time_it_held_and_skips_one_sided_time() -> None:
    # [1000, 5000]: 100 from before the start holds 1000 ns, 101 holds 1000 ns, a one-sided
    # book holds 1000 ns (not counted), 103 holds 1000 ns; the 200 after the end is outside.
    # (100 + 101 + 103) * 1000 / 3000 = 101.33.. -> 101.
    points = [(4_000, 103), (500, 100), (2_000, 101), (3_000, None), (6_000, 200), (100, 7)]
    assert interval_twap(points, 1_000, 5_000) == 101


def test_twap_rounds_half_up_and_counts_a_mid_arriving_on_the_start() -> None:
    # 100 held [1000, 2000), 101 held [2000, 3000]: 100.5 -> 101. A mid stamped exactly at the
    # start replaces the one before it.
    assert interval_twap([(500, 100), (2_000, 101)], 1_000, 3_000) == 101
    assert interval_twap([(500, 1), (1_000, 100), (2_000, 101)], 1_000, 3_000) == 101
    assert interval_twap([(500, 100), (2_500, 103)], 1_000, 3_000) == 101  # (150_000 + 51_500) / 2000 = 100.75


def test_twap_is_none_without_a_mid_and_the_start_mid_for_an_empty_interval() -> None:
    assert interval_twap([], 1_000, 2_000) is None
    assert interval_twap([(3_000, 100)], 1_000, 2_000) is None  # only after the end
    assert interval_twap([(500, None)], 1_000, 2_000) is None  # one-sided the whole time
    assert interval_twap([(2_000, 100)], 1_000, 2_000) is None  # arrives on the end: held for 0 ns
    assert interval_twap([(500, 100), (1_500, 7)], 1_000, 1_000) == 100


def test_vwap_weights_trades_in_the_closed_interval_by_quantity() -> None:
    trades = [(999, 1 * USD, BTC), (1_000, 100 * USD, BTC), (2_000, 103 * USD, 2 * BTC), (3_000, 1 * USD, 5 * BTC), (3_001, 9 * USD, BTC)]
    assert interval_vwap(trades, 1_000, 3_000) == (100 * USD * BTC + 206 * USD * BTC + 5 * USD * BTC) // (8 * BTC)
    assert interval_vwap([(1, 1, 1), (2, 2, 1)], 0, 10) == 2  # 1.5 rounds half up
    assert interval_vwap([(1, 1, 2), (2, 2, 1)], 0, 10) == 1  # 1.33 rounds down
    assert interval_vwap(trades, 4_000, 5_000) is None


def test_tape_keeps_a_window_behind_the_newest_event_and_never_trims_past_a_pinned_start() -> None:
    tape = MarketTape(keep_ns=1_000)
    tape.pin(("g", "n"), "BTC-USDT", 1_500)
    for ts in range(1_000, 5_001, 500):
        tape.apply(nbbo(ts, (ts // 100) * USD - USD, (ts // 100) * USD + USD))
        tape.apply(trade(ts, (ts // 100) * USD, BTC))
    tape.apply(nbbo(4_000, 1, 3, symbol="ETH-USDT"))  # another symbol is recorded apart
    # Pinned at 1500: the mid in force at 1500 (stamped 1500) and every trade from 1500 stay.
    assert tape.mids["BTC-USDT"][0][0] == 1_500 and tape.trades["BTC-USDT"][0][0] == 1_500
    # mids 15, 20, 25, 30, 35, 40, 45 USD each held 500 ns over [1500, 5000]: mean 30 USD.
    assert tape.benchmarks("BTC-USDT", 1_500, 5_000) == (30 * USD, 325 * USD // 10)
    tape.unpin(("g", "n"))
    tape.apply(nbbo(5_500, 54 * USD, 56 * USD))
    # Unpinned: trimmed to the 1000 ns behind 5500, keeping the mid in force at 4500.
    assert [ts for ts, _ in tape.mids["BTC-USDT"]] == [4_500, 5_000, 5_500]
    assert [ts for ts, _, _ in tape.trades["BTC-USDT"]] == [4_500, 5_000]
    assert tape.benchmarks("ETH-USDT", 4_000, 4_100) == (2, None)


def test_score_interval_signs_worse_for_us_positive_on_both_sides() -> None:
    fold = TcaFold()
    fold.apply(graph_submitted("twap"))
    fold.apply(activation(1_000))
    fold.apply(plan("buy", BTC, None, None))
    fold.apply(fill("f1", "a", "buy", BTC, 100_010 * USD, 0))
    report = fold.apply(completed(BTC, ts=9_000))
    assert report is not None
    assert (report.interval_start_ns, report.interval_end_ns) == (1_000, 9_000)
    assert report.interval_twap_1e9 is None and report.vs_interval_twap_bps is None  # not scored yet
    # Bought at 100,010 against a 100,000 TWAP: 1 bp worse; against a 100,020 VWAP: 1/100,020*1e4 better.
    scored = score_interval(report, 100_000 * USD, 100_020 * USD)
    assert scored.interval_twap_1e9 == 100_000 * USD and scored.interval_vwap_1e9 == 100_020 * USD
    assert scored.vs_interval_twap_bps == 1.0
    assert scored.vs_interval_vwap_bps == -10 * USD * 10_000 / (100_020 * USD)
    assert (scored.vs_interval_twap_ppm, scored.vs_interval_vwap_ppm) == (100, -100)  # -99.98 ppm, half up
    sell = msgspec.structs.replace(report, side="sell")
    assert score_interval(sell, 100_000 * USD, None).vs_interval_twap_bps == -1.0
    assert score_interval(sell, 100_000 * USD, None).vs_interval_vwap_bps is None
    # Every other field is the report's own.
    assert msgspec.structs.replace(scored, interval_twap_1e9=None, interval_vwap_1e9=None, vs_interval_twap_bps=None,
                                   vs_interval_vwap_bps=None, vs_interval_twap_ppm=None,
                                   vs_interval_vwap_ppm=None) == report


@pytest.mark.parametrize("policy", ["sor", "iceberg"])
def test_only_twap_and_vwap_parents_carry_an_interval(policy: str) -> None:
    fold = TcaFold()
    fold.apply(graph_submitted(policy))
    fold.apply(activation(1_000))
    fold.apply(plan("buy", BTC, None, None))
    fold.apply(fill("f1", "a", "buy", BTC, 100_010 * USD, 0))
    report = fold.apply(completed(BTC, ts=9_000))
    assert report is not None and report.interval_start_ns is None and report.interval_end_ns is None
    assert not fold.interval_nodes


def graph_submitted(policy: str) -> GraphSubmitted:
    spec = NodeSpec(node_id=N, instrument=Instrument(symbol="BTC-USDT"), side="buy", qty_1e8=BTC,
                    execution=ExecutionSpec(policy=policy))  # type: ignore[arg-type]
    return GraphSubmitted(event_id="sub", ts_ns=500, tenant="t", graph_id=G, nodes=[spec], edges=[], is_sandbox=True,
                          body_sha256="x")
