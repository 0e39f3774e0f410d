"""services/graph/engine.py: activation, edges, completion, cancel/pause/resume, amend, timers."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.base import Event
from events.graph import (
    GraphCancelled,
    GraphCompleted,
    GraphPaused,
    GraphResumed,
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCancelled,
    NodeCompleted,
)
from events.risk import RiskCheckRejected
from services.graph.engine import (
    AmendNode,
    CancelGraph,
    CancelNode,
    FinishNode,
    PauseGraph,
    ResumeGraph,
    Tick,
    decide,
    next_wakeup_ns,
    step,
)
from services.graph.errors import AmendRejected, GraphError, GraphStateConflict, UnknownNode
from services.graph.state import GraphState, fold
from tests.services.graph.builders import (
    BTC_PX,
    T0,
    Ids,
    allocated,
    cancelled,
    edge,
    fill,
    node,
    plan,
    rejected,
    start,
)


def kinds(events: list[Event]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for e in events:
        match e:
            case NodeActivated():
                out.append(("activated", e.node_id, str(e.fired_edge_id)))
            case NodeCompleted():
                out.append(("completed", e.node_id, e.status, str(e.reason)))
            case NodeCancelled():
                out.append(("cancelled", e.node_id, e.reason))
            case GraphCompleted():
                out.append(("graph_completed", e.status, str(e.reason)))
            case GraphCancelled():
                out.append(("graph_cancelled", e.reason))
            case GraphPaused():
                out.append(("paused", e.reason))
            case GraphResumed():
                out.append(("resumed",))
            case NodeAmended():
                out.append(("amended", e.node_id, str(e.new_qty_1e8), str(e.new_limit_px_1e9)))
            case _:
                out.append((type(e).__name__,))
    return out


RATIO_BODY: dict[str, Any] = {
    "nodes": [node("spot", 100), node("hedge", 40, side="sell")],
    "edges": [edge("spot", "hedge", "on_fill_ratio", {"fill_ratio_gte": 0.5})],
}


# --- submission --------------------------------------------------------------------------------


def test_submit_publishes_graph_then_activates_roots_only() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("a"), node("b"), node("c")], "edges": [edge("a", "c")]}
    # Act
    state, events = start(body, ids)
    # Assert
    assert isinstance(events[0], GraphSubmitted)
    assert kinds(events[1:]) == [("activated", "a", "None"), ("activated", "b", "None")]
    first = events[1]
    assert isinstance(first, NodeActivated)
    assert first.node_order_id == "g1:a:1"
    assert (first.event_id, first.ts_ns, first.tenant) == ("00000000-0000-0000-0000-000000000002", T0, "acme")
    assert (first.causation_id, first.correlation_id) == (events[0].event_id, "g1")
    assert state.status == "RUNNING"
    assert [n.status for n in state.nodes.values()] == ["ACCEPTED", "ACCEPTED", "PENDING"]


def test_duplicate_submission_changes_nothing() -> None:
    # Arrange
    ids = Ids()
    state, events = start(RATIO_BODY, ids)
    # Act
    again, out = step(state, events[0], T0, ids)
    # Assert
    assert out == [] and again is state


def test_first_message_must_be_graph_submitted() -> None:
    # Act / Assert
    with pytest.raises(GraphError):
        step(None, fill("a", 1, fill_id="f"), T0, Ids())


# --- edges -------------------------------------------------------------------------------------


def test_on_fill_ratio_fires_exactly_at_half_and_only_once() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    # Act
    state, below = step(state, fill("spot", 49, fill_id="f1"), T0 + 10, ids)
    state, at = step(state, fill("spot", 1, fill_id="f2"), T0 + 20, ids)
    state, after = step(state, fill("spot", 30, fill_id="f3"), T0 + 30, ids)
    # Assert
    assert below == []
    assert kinds(at) == [("activated", "hedge", "e_spot_hedge")]
    assert at[0].ts_ns == T0 + 20 and at[0].causation_id == "ev-f2"
    assert after == []
    assert state.edges["e_spot_hedge"].fired is True
    assert state.edges["e_spot_hedge"].fired_ns == T0 + 20


@given(st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=12))
def test_on_fill_ratio_activates_once_at_the_first_crossing(chunks: list[int]) -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    filled = 0
    activations: list[int] = []  # cumulative fill at which the hedge was activated
    # Act
    for i, qty in enumerate(chunks):
        qty = min(qty, 100 - filled)
        if qty == 0:
            break
        filled += qty
        state, out = step(state, fill("spot", qty, fill_id=f"f{i}"), T0 + i, ids)
        activations += [filled for k in kinds(out) if k[0] == "activated"]
    # Assert
    if filled >= 50:
        assert len(activations) == 1
        assert activations[0] >= 50
        assert activations[0] - 50 < 30  # the crossing fill, not a later one
    else:
        assert activations == []
        assert state.nodes["hedge"].status == "PENDING"


def test_on_fill_waits_for_the_full_fill_then_completes_the_graph() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", 100), node("b", 10)], "edges": [edge("a", "b")]}, ids)
    # Act
    state, partial = step(state, fill("a", 99, fill_id="f1", px_1e9=3), T0 + 1, ids)
    state, full = step(state, fill("a", 1, fill_id="f2", px_1e9=4), T0 + 2, ids)
    state, last = step(state, fill("b", 10, fill_id="f3", child_id="c2"), T0 + 3, ids)
    # Assert
    assert partial == []
    assert kinds(full) == [("completed", "a", "FILLED", "None"), ("activated", "b", "e_a_b")]
    completed = full[0]
    assert isinstance(completed, NodeCompleted)
    assert (completed.filled_qty_1e8, completed.avg_fill_px_1e9) == (100, 3)  # (99*3 + 4) / 100 = 3.01
    assert kinds(last) == [("completed", "b", "FILLED", "None"), ("graph_completed", "COMPLETED", "None")]
    assert state.status == "COMPLETED"


def test_duplicate_fill_id_is_not_counted_twice() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    state, _ = step(state, fill("spot", 40, fill_id="f1"), T0 + 1, ids)
    # Act
    state, out = step(state, fill("spot", 40, fill_id="f1"), T0 + 2, ids)
    # Assert
    assert out == []
    assert state.nodes["spot"].filled_qty_1e8 == 40


def test_on_timeout_fires_on_tick_at_the_due_time() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("s1"), node("s2")], "edges": [edge("s1", "s2", "on_timeout", {"after_ms": 2000})]}
    state, _ = start(body, ids)
    due = T0 + 2_000_000_000
    # Act
    wake = next_wakeup_ns(state)
    state, early = step(state, Tick(), due - 1, ids)
    state, on_time = step(state, Tick(), due, ids)
    # Assert
    assert wake == due
    assert early == []
    assert kinds(on_time) == [("activated", "s2", "e_s1_s2")]
    assert next_wakeup_ns(state) is None


# --- node outcomes from children ---------------------------------------------------------------


def test_sor_node_rejected_when_its_only_child_is_rejected() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a"), node("b")], "edges": [edge("a", "b")]}, ids)
    state, _ = step(state, plan("a", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 100), T0 + 1, ids)
    # Act
    state, out = step(state, rejected("c1"), T0 + 2, ids)
    # Assert
    assert kinds(out) == [
        ("completed", "a", "REJECTED", "INSUFFICIENT_BALANCE: no funds"),
        ("completed", "b", "CANCELLED", "not_triggered"),
        ("graph_completed", "REJECTED", "a: INSUFFICIENT_BALANCE: no funds"),
    ]


def test_sor_node_waits_for_every_planned_child_before_settling() -> None:
    # Arrange: two children planned; the first is rejected before the second is even allocated
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    state, _ = step(state, plan("a", [("kraken", 60), ("coinbase", 40)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 60), T0 + 1, ids)
    # Act
    state, after_reject = step(state, rejected("c1"), T0 + 2, ids)
    state, after_alloc = step(state, allocated("a", "c2", 40), T0 + 3, ids)
    state, after_fill = step(state, fill("a", 40, fill_id="f1", child_id="c2"), T0 + 4, ids)
    # Assert
    assert after_reject == [] and after_alloc == []
    assert kinds(after_fill) == [
        ("completed", "a", "FAILED", "INSUFFICIENT_BALANCE: no funds"),
        ("graph_completed", "FAILED", "a FAILED: INSUFFICIENT_BALANCE: no funds"),
    ]


@pytest.mark.parametrize(("child_tif", "status"), [("gtc", "FAILED"), ("ioc", "EXPIRED")])
def test_partial_fill_then_cancel_settles_by_the_child_tif(child_tif: str, status: str) -> None:
    # Arrange: a resting (gtc) child dropped by the venue fails the node; an IOC remainder expires
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    state, _ = step(state, plan("a", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, msgspec.structs.replace(allocated("a", "c1", 100), tif=child_tif), T0 + 1, ids)
    state, _ = step(state, fill("a", 30, fill_id="f1"), T0 + 2, ids)
    # Act
    state, after_cancel = step(state, cancelled("c1", 30, 70), T0 + 3, ids)
    state, after_giving_up = step(state, plan("a", [], ts_ns=T0 + 4), T0 + 4, ids)  # the router's empty re-plan
    # Assert: an IOC miss waits for the router's re-route (here: none) first
    out = after_cancel if child_tif == "gtc" else after_giving_up
    assert after_cancel == [] or child_tif == "gtc"
    assert kinds(out)[0] == ("completed", "a", status, "venue expired")
    assert state.nodes["a"].filled_qty_1e8 == 30


def test_empty_plan_is_unroutable() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    # Act
    state, out = step(state, plan("a", []), T0 + 1, ids)
    # Assert
    assert kinds(out) == [("completed", "a", "FAILED", "UNROUTABLE"), ("graph_completed", "FAILED", "a FAILED: UNROUTABLE")]


def test_risk_rejection_rejects_the_node() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    event = RiskCheckRejected(event_id="r1", ts_ns=T0 + 1, graph_id="g1", node_id="a", code="KILL_SWITCH", message="on")
    # Act
    state, out = step(state, event, T0 + 1, ids)
    # Assert
    assert kinds(out) == [("completed", "a", "REJECTED", "KILL_SWITCH"), ("graph_completed", "REJECTED", "a: KILL_SWITCH")]
    assert state.nodes["a"].failure_reason == "KILL_SWITCH"


def test_scheduled_node_is_finished_by_the_lead_only_when_nothing_is_open() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", execution={"policy": "twap", "horizon_ms": 60_000})]}, ids)
    state, _ = step(state, plan("a", [("kraken", 50)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 50), T0 + 1, ids)
    state, _ = step(state, fill("a", 50, fill_id="f1"), T0 + 2, ids)
    state, _ = step(state, allocated("a", "c2", 50), T0 + 3, ids)
    # Act
    with pytest.raises(GraphStateConflict):
        step(state, FinishNode(node_id="a"), T0 + 4, ids)
    state, after_cancel = step(state, cancelled("c2", 0, 50), T0 + 5, ids)
    state, finished = step(state, FinishNode(node_id="a"), T0 + 6, ids)
    # Assert
    assert after_cancel == []  # twap: the schedule may still send more
    assert kinds(finished) == [  # its IOC slice expired short
        ("completed", "a", "EXPIRED", "venue expired"),
        ("graph_completed", "FAILED", "a EXPIRED: venue expired"),
    ]


# --- cancel / pause / resume -------------------------------------------------------------------


def test_cancel_graph_cancels_every_open_node_then_the_graph_once() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    state, _ = step(state, fill("spot", 10, fill_id="f1"), T0 + 1, ids)
    # Act
    state, out = step(state, CancelGraph(reason="user", request_id="req-1"), T0 + 2, ids)
    state, again = step(state, CancelGraph(), T0 + 3, ids)
    state, late = step(state, fill("spot", 60, fill_id="f2"), T0 + 4, ids)
    # Assert
    assert kinds(out) == [
        ("cancelled", "spot", "graph cancelled: user"),
        ("cancelled", "hedge", "graph cancelled: user"),
        ("graph_cancelled", "user"),
    ]
    assert all(e.causation_id == "req-1" for e in out)
    assert again == [] and late == []
    assert state.status == "CANCELLED"
    assert [(n.status, n.filled_qty_1e8) for n in state.nodes.values()] == [("CANCELLED", 70), ("CANCELLED", 0)]


def test_cancel_node_fires_its_on_cancel_contingency() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", "on_cancel")]}
    state, _ = start(body, ids)
    # Act
    state, out = step(state, CancelNode(node_id="a", reason="too slow"), T0 + 1, ids)
    state, done = step(state, fill("b", 100, fill_id="f1", child_id="c9"), T0 + 2, ids)
    # Assert
    # Nothing of a was open: its outcome follows at once.
    assert kinds(out) == [("cancelled", "a", "too slow"), ("activated", "b", "e_a_b"),
                          ("completed", "a", "CANCELLED", "too slow")]
    assert kinds(done) == [("completed", "b", "FILLED", "None"), ("graph_completed", "COMPLETED", "None")]


def test_a_fill_racing_the_cancel_completes_the_node_filled_once_its_child_is_done() -> None:
    # Arrange: a's child is at the venue when the cancel arrives
    ids = Ids()
    body = {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", "on_cancel")]}
    state, _ = start(body, ids)
    state, _ = step(state, plan("a", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, allocated("a", "c1", 100), T0 + 1, ids)
    # Act
    state, out = step(state, CancelNode(node_id="a", reason="user"), T0 + 2, ids)
    state, raced = step(state, fill("a", 100, fill_id="f1", child_id="c1"), T0 + 3, ids)
    # Assert: the cancel is final for the graph (the contingency fires), the outcome waits for
    # the child, and the venue's fill decides it
    assert kinds(out) == [("cancelled", "a", "user"), ("activated", "b", "e_a_b")]
    assert kinds(raced) == [("completed", "a", "FILLED", "None")]
    assert (state.nodes["a"].status, state.nodes["a"].filled_qty_1e8, state.nodes["a"].settling) == ("FILLED", 100, False)


def test_a_cancelled_graph_completes_each_started_node_with_its_fills_once_nothing_is_open() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    state, _ = step(state, plan("spot", [("kraken", 100)]), T0 + 1, ids)
    state, _ = step(state, allocated("spot", "c1", 100), T0 + 1, ids)
    state, _ = step(state, fill("spot", 30, fill_id="f1", child_id="c1"), T0 + 1, ids)
    state, out = step(state, CancelGraph(reason="user"), T0 + 2, ids)
    # Act: another fill raced the cancel, then the venue confirms the rest cancelled
    state, late_fill = step(state, fill("spot", 20, fill_id="f2", child_id="c1"), T0 + 3, ids)
    state, done = step(state, cancelled("c1", filled=50, left=50), T0 + 4, ids)
    again, twice = step(state, cancelled("c1", filled=50, left=50), T0 + 5, ids)
    # Assert: the graph ended at the cancel; the node's outcome carries every fill
    assert kinds(out)[-1] == ("graph_cancelled", "user") and late_fill == []
    assert kinds(done) == [("completed", "spot", "CANCELLED", "graph cancelled: user")]
    completed = done[0]
    assert isinstance(completed, NodeCompleted) and completed.filled_qty_1e8 == 50
    assert state.status == "CANCELLED" and twice == []


def test_unfired_contingency_is_closed_when_the_primary_fills() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", "on_reject")]}
    state, _ = start(body, ids)
    # Act
    state, out = step(state, fill("a", 100, fill_id="f1"), T0 + 1, ids)
    # Assert
    assert kinds(out) == [
        ("completed", "a", "FILLED", "None"),
        ("completed", "b", "CANCELLED", "not_triggered"),
        ("graph_completed", "COMPLETED", "None"),
    ]


def test_cancel_unknown_node_is_404() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    # Act / Assert
    with pytest.raises(UnknownNode):
        step(state, CancelNode(node_id="nope"), T0, ids)


def test_paused_graph_defers_activation_until_resume() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    # Act
    state, paused = step(state, PauseGraph(reason="max loss"), T0 + 1, ids)
    state, twice = step(state, PauseGraph(reason="again"), T0 + 2, ids)
    state, crossing = step(state, fill("spot", 60, fill_id="f1"), T0 + 3, ids)
    status_while_paused = state.status
    state, resumed = step(state, ResumeGraph(), T0 + 4, ids)
    # Assert
    assert kinds(paused) == [("paused", "max loss")]
    assert twice == [] and crossing == []
    assert status_while_paused == "PAUSED"
    assert kinds(resumed) == [("resumed",), ("activated", "hedge", "e_spot_hedge")]
    assert state.status == "RUNNING"
    assert state.edges["e_spot_hedge"].fired_ns == T0 + 4


def test_paused_graph_still_records_fills_and_completions() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a")]}, ids)
    state, _ = step(state, PauseGraph(), T0 + 1, ids)
    # Act
    state, out = step(state, fill("a", 100, fill_id="f1"), T0 + 2, ids)
    # Assert
    assert kinds(out) == [("completed", "a", "FILLED", "None"), ("graph_completed", "COMPLETED", "None")]


def test_resume_when_not_paused_and_pause_when_ended_are_conflicts() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    ended, _ = step(state, CancelGraph(), T0 + 1, ids)
    # Act / Assert
    with pytest.raises(GraphStateConflict, match="must be PAUSED to resume, was RUNNING"):
        step(state, ResumeGraph(), T0 + 1, ids)
    with pytest.raises(GraphStateConflict, match="is CANCELLED: cannot pause"):
        step(ended, PauseGraph(), T0 + 2, ids)


def test_timeouts_wait_while_paused() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("s1"), node("s2")], "edges": [edge("s1", "s2", "on_timeout", {"after_ms": 1})]}
    state, _ = start(body, ids)
    state, _ = step(state, PauseGraph(), T0, ids)
    # Act
    state, tick = step(state, Tick(), T0 + 5_000_000, ids)
    wake = next_wakeup_ns(state)
    state, resumed = step(state, ResumeGraph(), T0 + 6_000_000, ids)
    # Assert
    assert tick == [] and wake is None
    assert kinds(resumed) == [("resumed",), ("activated", "s2", "e_s1_s2")]


# --- amend -------------------------------------------------------------------------------------


def test_amend_limit_price_and_decrease_total() -> None:
    # Arrange
    ids = Ids()
    body = {"nodes": [node("a", 100, order_type={"limit": {"price_1e9": BTC_PX}})]}
    state, _ = start(body, ids)
    state, _ = step(state, fill("a", 30, fill_id="f1"), T0 + 1, ids)
    # Act
    state, out = step(state, AmendNode(node_id="a", new_qty_1e8=40, new_limit_px_1e9=BTC_PX - 1), T0 + 2, ids)
    # Assert
    assert kinds(out) == [("amended", "a", "40", str(BTC_PX - 1))]
    assert out[0].mode == "cancel_replace"  # type: ignore[attr-defined]
    node_state = state.nodes["a"]
    assert (node_state.target_qty_1e8, node_state.limit_px_1e9, node_state.status) == (40, BTC_PX - 1, "PARTIALLY_FILLED")


def test_decrease_can_meet_a_ratio_edge() -> None:
    # Arrange: 40 of 100 filled is below 50%, 40 of 60 is above
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    state, _ = step(state, fill("spot", 40, fill_id="f1"), T0 + 1, ids)
    # Act
    state, out = step(state, AmendNode(node_id="spot", new_qty_1e8=60), T0 + 2, ids)
    # Assert
    assert kinds(out) == [("amended", "spot", "60", "None"), ("activated", "hedge", "e_spot_hedge")]


@pytest.mark.parametrize(
    ("command", "error", "message"),
    [
        (AmendNode(node_id="a", new_qty_1e8=30), AmendRejected, "new_qty_1e8 must exceed filled_qty_1e8 30, was 30"),
        (AmendNode(node_id="a"), AmendRejected, "amend needs new_qty_1e8 or new_limit_px_1e9, was neither"),
        (AmendNode(node_id="a", new_limit_px_1e9=5), AmendRejected, "node a is a market order: no limit price to amend"),
        (AmendNode(node_id="zz", new_qty_1e8=50), UnknownNode, "graph g1 has no node 'zz'"),
    ],
)
def test_invalid_amends(command: AmendNode, error: type[Exception], message: str) -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", 100)]}, ids)
    state, _ = step(state, fill("a", 30, fill_id="f1"), T0 + 1, ids)
    # Act / Assert
    with pytest.raises(error) as info:
        step(state, command, T0 + 2, ids)
    assert str(info.value) == message


def test_amend_after_fill_is_a_conflict() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", 100)]}, ids)
    state, _ = step(state, fill("a", 100, fill_id="f1"), T0 + 1, ids)
    # Act / Assert
    with pytest.raises(GraphStateConflict):
        step(state, AmendNode(node_id="a", new_qty_1e8=200), T0 + 2, ids)


# --- replay ------------------------------------------------------------------------------------


def _run_scenario() -> tuple[GraphState, list[Event]]:
    ids = Ids()
    state, published = start(RATIO_BODY, ids)
    inputs: list[Event] = [fill("spot", 60, fill_id="f1"), fill("hedge", 40, fill_id="f2", child_id="c2"),
                           fill("spot", 40, fill_id="f3")]
    log: list[Event] = list(published)
    for i, event in enumerate(inputs):
        state, out = step(state, event, T0 + 10 + i, ids)
        log += [event, *out]
    return state, log


def test_fold_of_the_log_rebuilds_the_live_state_and_emits_nothing_more() -> None:
    # Arrange
    live, log = _run_scenario()
    # Act
    rebuilt = fold(log)
    _, catch_up = step(rebuilt, Tick(), T0 + 100, Ids())
    # Assert
    assert rebuilt == live
    assert catch_up == []
    assert live.status == "COMPLETED"


def test_a_restart_mid_way_catches_up_with_a_tick() -> None:
    # Arrange: the fill reached the log but the engine died before publishing its reaction
    ids = Ids()
    state, published = start(RATIO_BODY, ids)
    crossing = fill("spot", 60, fill_id="f1")
    rebuilt = fold([*published, crossing])
    # Act
    _, caught_up = step(rebuilt, Tick(), T0 + 99, ids)
    # Assert
    assert kinds(caught_up) == [("activated", "hedge", "e_spot_hedge")]


def test_own_events_echoed_back_and_redeliveries_change_nothing() -> None:
    # Arrange: react to each input, then receive the input again and every reaction as the stream
    # delivers them (after the later pause/resume, which must not be undone by the old echo)
    ids = Ids()
    state, published = start(RATIO_BODY, ids)
    echoes: list[Event] = list(published)
    for message in (PauseGraph(reason="p"), ResumeGraph(), fill("spot", 60, fill_id="f1")):
        state, out = step(state, message, T0 + 5, ids)
        echoes += out
    echoes.append(fill("spot", 60, fill_id="f1"))
    before = state
    # Act
    emitted: list[Event] = []
    for event in echoes:
        state, out = step(state, event, T0 + 6, ids)
        emitted += out
    # Assert
    assert emitted == []
    assert state is before
    assert state.status == "RUNNING"


def test_a_venue_fill_replayed_under_a_new_event_id_is_counted_once() -> None:
    # Arrange
    ids = Ids()
    state, _ = start(RATIO_BODY, ids)
    first = fill("spot", 30, fill_id="venue-trade-9")
    replay = msgspec.structs.replace(first, event_id="another-event-id")
    # Act
    state, _ = step(state, first, T0 + 1, ids)
    state, out = step(state, replay, T0 + 2, ids)
    # Assert
    assert out == []
    assert state.nodes["spot"].filled_qty_1e8 == 30


def test_decide_returns_the_step_events() -> None:
    # Arrange
    ids_a, ids_b = Ids(), Ids()
    state, _ = start(RATIO_BODY, ids_a)
    _, _ = start(RATIO_BODY, ids_b)
    # Act
    via_decide = decide(state, fill("spot", 50, fill_id="f1"), T0 + 1, ids_a)
    _, via_step = step(state, fill("spot", 50, fill_id="f1"), T0 + 1, ids_b)
    # Assert
    assert via_decide == via_step
    assert kinds(via_decide) == [("activated", "hedge", "e_spot_hedge")]


def test_a_cancel_answers_with_the_same_ids_whether_or_not_a_view_has_seen_the_open_child() -> None:
    # The API predicts a command's answer on its view, which may not have the router's child yet;
    # the engine's view has it. Their answers must agree on every event but the settling one.
    from services.graph.commands import command_answer

    ids = Ids()
    api_view, _ = start({"nodes": [node("a")], "edges": []}, ids)
    engine_view, _ = step(api_view, plan("a", [("kraken", 100)]), T0 + 1, ids)
    engine_view, _ = step(engine_view, allocated("a", "c1", 100), T0 + 1, ids)
    # Act
    _, predicted = command_answer(api_view, CancelNode(node_id="a"), T0 + 2, "cmd-1")
    _, applied = command_answer(engine_view, CancelNode(node_id="a"), T0 + 2, "cmd-1")
    # Assert: the view without the child also completes the node (last); the rest is identical
    assert [(type(e).__name__, e.event_id) for e in predicted[:-1]] == [(type(e).__name__, e.event_id) for e in applied]
    assert isinstance(predicted[-1], NodeCompleted) and not any(isinstance(e, NodeCompleted) for e in applied)
