"""The fold the service and a rebuild share: which events make a report, and only once."""

from __future__ import annotations

from events.graph import NodeCompleted
from services.tca.fold import TcaFold, report_id
from tests.services.tca.test_report import BTC, USD, ack, activation, child, completed, fill, plan


def test_a_completion_with_facts_reports_once_with_an_id_derived_from_the_completion() -> None:
    fold = TcaFold()
    events = [
        activation(1_000),
        plan("buy", BTC, "a", 100_010 * USD, ts=1_500),
        plan("buy", BTC, "b", 1, ts=1_700),  # a re-plan: the arrival stays the first plan's
        child("a", 1_600),
        ack("a", 1_800),
        fill("f1", "a", "buy", BTC, 100_010 * USD, 0, ts=2_000),
    ]
    assert [fold.apply(e) for e in events] == [None] * len(events)
    done = completed(BTC)
    report = fold.apply(done)
    assert report is not None and report.event_id == report_id(done)
    assert report.best_single_venue == "a" and report.savings_usd_1e9 == 0
    assert [h.ns for h in report.latencies] == [500, 100, 200, 200]
    assert fold.apply(done) is None  # the same completion again: its facts are gone


def test_a_completion_without_fills_or_plan_reports_nothing() -> None:
    fold = TcaFold()
    rejected = NodeCompleted(event_id="x", ts_ns=1, graph_id="g1", node_id="n1", status="REJECTED", filled_qty_1e8=0,
                             avg_fill_px_1e9=None)
    assert fold.apply(rejected) is None
    fold.apply(activation())
    fold.apply(plan("buy", BTC, None, None))
    assert fold.apply(completed(0)) is None
