"""services/graph/engine.py: when re-routed sweeps, sliced nodes, icebergs and passive orders settle."""

from __future__ import annotations

import msgspec

from events.base import Event
from events.graph import NodeCompleted
from services.graph.engine import HORIZON_GRACE_MS, Tick, next_wakeup_ns, step
from services.graph.state import MAX_REROUTES, GraphState
from tests.services.graph.builders import T0, Ids, allocated, cancelled, fill, node, plan, rejected, start

MS = 1_000_000


def completions(events: list[Event]) -> list[tuple[str, str, str | None]]:
    return [(e.node_id, e.status, e.reason) for e in events if isinstance(e, NodeCompleted)]


def missed_sweep(ids: Ids, **execution: object) -> GraphState:
    # A sor node: one plan of 100, its IOC child filled 30 and expired.
    state, _ = start({"nodes": [node("a", execution=execution)]}, ids)
    for message in (plan("a", [("kraken", 100)]), allocated("a", "c1", 100), fill("a", 30, fill_id="f1")):
        state, _ = step(state, message, T0 + 1, ids)
    state, out = step(state, cancelled("c1", 30, 70), T0 + 2, ids)
    assert out == []
    return state


def test_a_missed_ioc_child_waits_for_the_reroute_which_fills_the_node() -> None:
    # Arrange
    ids = Ids()
    state = missed_sweep(ids)
    assert state.nodes["a"].awaits_reroute
    # Act: the router re-plans the 70 left; its child fills
    state, after_plan = step(state, plan("a", [("binance", 70)], ts_ns=T0 + 3), T0 + 3, ids)
    state, after_alloc = step(state, allocated("a", "c2", 70, ts_ns=T0 + 3), T0 + 3, ids)
    state, out = step(state, fill("a", 70, fill_id="f2", child_id="c2"), T0 + 4, ids)
    # Assert
    assert after_plan == [] and after_alloc == []
    assert completions(out) == [("a", "FILLED", None)]


def test_an_empty_replan_settles_the_node_short() -> None:
    # Arrange
    ids = Ids()
    state = missed_sweep(ids, tif="ioc")
    # Act: the router found nothing to route the remainder to
    state, out = step(state, plan("a", [], ts_ns=T0 + 3), T0 + 3, ids)
    # Assert
    assert completions(out) == [("a", "EXPIRED", "venue expired")]
    assert state.nodes["a"].filled_qty_1e8 == 30


def test_after_the_last_reroute_misses_the_node_settles_without_waiting() -> None:
    # Arrange: every re-route misses too
    ids = Ids()
    state = missed_sweep(ids, tif="ioc")
    out: list[Event] = []
    for attempt in range(1, MAX_REROUTES + 1):
        ts = T0 + 10 * attempt
        assert state.nodes["a"].awaits_reroute
        state, _ = step(state, plan("a", [("kraken", 70)], ts_ns=ts), ts, ids)
        state, _ = step(state, allocated("a", f"r{attempt}", 70, ts_ns=ts), ts, ids)
        # Act
        state, out = step(state, cancelled(f"r{attempt}", 0, 70, ts_ns=ts + 1), ts + 1, ids)
    # Assert
    assert state.nodes["a"].plan_count == MAX_REROUTES + 1
    assert completions(out) == [("a", "EXPIRED", "venue expired")]


def test_a_rejected_child_is_not_rerouted() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    state, _ = step(state, plan("a", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 100), T0 + 1, ids)
    # Act
    state, out = step(state, rejected("c1"), T0 + 2, ids)
    # Assert
    assert completions(out) == [("a", "REJECTED", "INSUFFICIENT_BALANCE: no funds")]


def twap(ids: Ids, horizon_ms: int = 1_000) -> GraphState:
    state, _ = start({"nodes": [node("a", execution={"policy": "twap", "horizon_ms": horizon_ms})]}, ids)
    return state


def test_a_twap_short_after_its_horizon_expires_on_the_tick() -> None:
    # Arrange: one slice of two filled, the other missed
    ids = Ids()
    state = twap(ids)
    for message in (plan("a", [("kraken", 50)]), allocated("a", "c1", 50), fill("a", 50, fill_id="f1"),
                    plan("a", [("kraken", 50)], ts_ns=T0 + 2), allocated("a", "c2", 50, ts_ns=T0 + 2),
                    cancelled("c2", 0, 50, ts_ns=T0 + 3)):
        state, out = step(state, message, T0 + 3, ids)
        assert out == []  # the schedule may still send more before the horizon
    end = T0 + (1_000 + HORIZON_GRACE_MS) * MS
    # Act
    state, early = step(state, Tick(), end - 1, ids)
    state, due = step(state, Tick(), end, ids)
    # Assert
    assert early == []
    assert completions(due) == [("a", "EXPIRED", "horizon elapsed: filled 50 of 100")]
    assert state.nodes["a"].status == "EXPIRED"


def test_a_twap_with_an_open_slice_at_its_horizon_settles_when_the_slice_ends() -> None:
    # Arrange
    ids = Ids()
    state = twap(ids)
    state, _ = step(state, plan("a", [("kraken", 50)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 50), T0 + 1, ids)
    end = T0 + (1_000 + HORIZON_GRACE_MS) * MS
    # Act
    state, at_horizon = step(state, Tick(), end, ids)
    state, out = step(state, cancelled("c1", 0, 50, ts_ns=end + 5), end + 5, ids)
    # Assert
    assert at_horizon == []
    assert completions(out) == [("a", "EXPIRED", "horizon elapsed: filled 0 of 100")]


def test_a_twap_whose_plan_is_not_yet_allocated_waits_past_the_horizon() -> None:
    # Arrange: the plan is on the log, its child allocation not yet
    ids = Ids()
    state = twap(ids)
    state, _ = step(state, plan("a", [("kraken", 50)]), T0 + 1, ids)
    end = T0 + (1_000 + HORIZON_GRACE_MS) * MS
    # Act
    state, out = step(state, Tick(), end, ids)
    # Assert
    assert out == []


def test_next_wakeup_is_the_horizon_end_until_it_was_ticked() -> None:
    # Arrange
    ids = Ids()
    state = twap(ids, horizon_ms=2_000)
    end = T0 + (2_000 + HORIZON_GRACE_MS) * MS
    # Act / Assert
    assert next_wakeup_ns(state) == end
    assert next_wakeup_ns(state, after_ns=end) is None


def test_an_iceberg_between_clips_stays_open_and_a_rejected_clip_settles_it() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("a", execution={"policy": "iceberg", "display_qty_1e8": 40})]}
    state, _ = start(body, ids)
    state, _ = step(state, plan("a", [("kraken", 40)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "clip0", 40), T0 + 1, ids)
    # Act: the first clip fills (nothing open now), the second is refused
    state, between = step(state, fill("a", 40, fill_id="f1", child_id="clip0"), T0 + 2, ids)
    state, _ = step(state, plan("a", [("kraken", 40)], ts_ns=T0 + 3), T0 + 3, ids)
    state, _ = step(state, allocated("a", "clip1", 40, ts_ns=T0 + 3), T0 + 3, ids)
    state, out = step(state, rejected("clip1", ts_ns=T0 + 4), T0 + 4, ids)
    # Assert
    assert between == []
    assert completions(out) == [("a", "FAILED", "INSUFFICIENT_BALANCE: no funds")]


def test_a_passive_order_settles_when_its_resting_child_is_gone() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", execution={"policy": "passive"})]}, ids)
    state, _ = step(state, plan("a", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, msgspec.structs.replace(allocated("a", "c1", 100), tif="gtc"), T0 + 1, ids)
    # Act: the venue dropped it (e.g. a sandbox restart)
    state, out = step(state, cancelled("c1", 0, 100), T0 + 2, ids)
    # Assert
    assert completions(out) == [("a", "CANCELLED", "venue expired")]
