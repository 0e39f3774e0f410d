"""services/graph/state.py: the fold (statuses, fills, children) and the API views."""

from __future__ import annotations

from fractions import Fraction

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.execution import ChildAmended, ChildCancelled, ChildSubmitted
from events.graph import GraphSubmitted, NodeCompleted
from services.graph.errors import GraphError
from services.graph.schema import parse_order_body, submitted_event
from services.graph.state import (
    GraphState,
    apply,
    fold,
    initial,
    order_row,
    order_rows,
    submit_response,
    to_status_json,
)
from tests.services.graph.builders import T0, Ids, allocated, edge, fill, node, plan, rejected, start


def submitted(body: dict[str, object]) -> GraphSubmitted:
    parsed = parse_order_body({"graph_id": "g1", **body}, Ids())
    return submitted_event(parsed, event_id="sub-1", ts_ns=T0, tenant="acme")


TWO_NODES: dict[str, object] = {
    "is_sandbox": True,
    "nodes": [
        node("spot", 100, order_type={"limit": {"price_1e9": 7_000_000_000}},
             execution={"policy": "twap", "horizon_ms": 60_000, "urgency": "low", "tif": "day"}),
        node("perp", 50, side="sell", instrument={"symbol": "BTC-USD-PERP", "type": "perp", "venue": "hyperliquid"}),
    ],
    "edges": [edge("spot", "perp", "on_fill_ratio", {"fill_ratio_gte": 0.25})],
}


def test_initial_state_is_accepted_with_pending_nodes() -> None:
    # Act
    state = initial(submitted(TWO_NODES))
    # Assert
    assert (state.graph_id, state.tenant, state.status, state.is_sandbox) == ("g1", "acme", "ACCEPTED", True)
    assert [(n.node_id, n.status, n.node_order_id, n.target_qty_1e8) for n in state.nodes.values()] == [
        ("spot", "PENDING", "g1:spot:1", 100),
        ("perp", "PENDING", "g1:perp:1", 50),
    ]


def test_node_status_follows_activation_children_and_fills() -> None:
    # Arrange
    ids = Ids()
    state, _ = start({"nodes": [node("a", 100)]}, ids)
    seen = [state.nodes["a"].status]
    # Act
    for event in (plan("a", [("kraken", 100)]), allocated("a", "c1", 100), fill("a", 40, fill_id="f1"),
                  fill("a", 60, fill_id="f2")):
        state = apply(state, event)
        seen.append(state.nodes["a"].status)
    # Assert
    assert seen == ["ACCEPTED", "ACCEPTED", "WORKING", "PARTIALLY_FILLED", "FILLED"]
    assert state.nodes["a"].final is False  # final only once NodeCompleted is recorded
    assert state.nodes["a"].open_children == frozenset()


def test_avg_fill_price_is_the_vwap_rounded_half_up() -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    # Act
    half = apply(apply(state, fill("a", 1, 1, fill_id="f1")), fill("a", 1, 2, fill_id="f2"))
    third = apply(apply(state, fill("a", 2, 1, fill_id="f1")), fill("a", 1, 2, fill_id="f2"))
    # Assert
    assert half.nodes["a"].avg_fill_px_1e9 == 2  # 1.5 rounds up
    assert third.nodes["a"].avg_fill_px_1e9 == 1  # 1.33 rounds down
    assert state.nodes["a"].avg_fill_px_1e9 is None


@given(
    st.lists(
        st.tuples(st.integers(1, 10**10), st.integers(1, 10**14), st.sampled_from(["f1", "f2", "f3", "f4", "f5"])),
        min_size=1,
        max_size=20,
    )
)
def test_fills_are_counted_once_per_fill_id(fills: list[tuple[int, int, str]]) -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    first: dict[str, tuple[int, int]] = {}
    for qty, px, fill_id in fills:
        first.setdefault(fill_id, (qty, px))
    # Act
    for qty, px, fill_id in fills:
        state = apply(state, fill("a", qty, px, fill_id=fill_id, fee_usd_1e9=3))
    # Assert
    total = sum(q for q, _ in first.values())
    vwap = Fraction(sum(q * p for q, p in first.values()), total)
    n = state.nodes["a"]
    assert n.filled_qty_1e8 == total
    assert n.fill_count == len(first)
    assert n.fees_usd_1e9 == 3 * len(first)
    assert n.avg_fill_px_1e9 == int(vwap + Fraction(1, 2))  # half up


def test_child_events_without_graph_id_are_matched_by_child_id() -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    state = apply(state, allocated("a", "c1", 60))
    other = rejected("c-unknown")
    # Act
    after = apply(state, rejected("c1"))
    # Assert
    assert state.owns(rejected("c1")) and not state.owns(other)
    assert apply(state, other) is state
    assert after.nodes["a"].open_children == frozenset()
    assert after.nodes["a"].last_reject_reason == "INSUFFICIENT_BALANCE: no funds"
    assert after.children["c1"].closed is True


def test_a_cancel_replace_amend_keeps_the_child_open_under_its_new_order() -> None:
    # Arrange: a resting child, amended by cancel-replace (the old venue order is cancelled)
    state = apply(initial(submitted({"nodes": [node("a", 100)]})), allocated("a", "c1", 60))
    cancelled = ChildCancelled(event_id="x1", ts_ns=T0 + 3, child_id="c1", venue="kraken", client_order_id="co-c1",
                               filled_qty_1e8=0, cancelled_qty_1e8=60, reason="replaced")
    amended = ChildAmended(event_id="x2", ts_ns=T0 + 3, child_id="c1", venue="kraken", client_order_id="co-c1",
                           new_qty_1e8=80, new_limit_px_1e9=None, mode="cancel_replace", new_client_order_id="co-c1b")
    # Act
    after = apply(apply(state, cancelled), amended)
    # Assert: still working, at the new size (a plain cancel would have closed it)
    assert after.children["c1"].closed is False and after.children["c1"].qty_1e8 == 80
    assert after.nodes["a"].open_children == frozenset({"c1"})
    plain = apply(state, msgspec.structs.replace(cancelled, reason="user"))
    assert plain.children["c1"].closed is True


def test_allocation_and_submission_of_one_child_count_once() -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    submission = ChildSubmitted(event_id="s1", ts_ns=T0 + 2, child_id="c1", client_order_id="co-c1", graph_id="g1",
                                node_id="a", venue="kraken", symbol="BTC-USD", side="buy", qty_1e8=60,
                                limit_px_1e9=None)
    # Act
    state = apply(apply(state, allocated("a", "c1", 60)), submission)
    # Assert
    assert (state.nodes["a"].allocated_qty_1e8, state.nodes["a"].children_seen) == (60, 1)
    assert state.nodes["a"].open_children == frozenset({"c1"})


def test_a_fill_before_its_allocation_keeps_the_child_open_until_its_size_is_known() -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    # Act
    early = apply(state, fill("a", 60, fill_id="f1", child_id="c1"))
    known = apply(early, allocated("a", "c1", 60))
    # Assert
    assert early.nodes["a"].open_children == frozenset({"c1"})
    assert known.nodes["a"].open_children == frozenset()
    assert (known.nodes["a"].children_seen, known.nodes["a"].allocated_qty_1e8) == (1, 60)


def test_events_of_another_graph_are_ignored() -> None:
    # Arrange
    state = initial(submitted({"nodes": [node("a", 100)]}))
    foreign = fill("a", 10, fill_id="f1", graph_id="g2")
    # Act / Assert
    assert state.owns(foreign) is False
    assert apply(state, foreign) is state


def test_fold_needs_graph_submitted_first() -> None:
    # Act / Assert
    with pytest.raises(GraphError):
        fold([fill("a", 1, fill_id="f1")])
    with pytest.raises(GraphError):
        fold([])


def _graph_after_some_fills() -> GraphState:
    ids = Ids()
    state, _ = start(TWO_NODES, ids, now_ns=T0)
    for event in (fill("spot", 20, 7_000_000_000, fill_id="f1", ts_ns=T0 + 5),
                  fill("spot", 10, 6_000_000_000, fill_id="f2", ts_ns=T0 + 9)):
        state = apply(state, event)
    state = apply(state, NodeCompleted(event_id="x", ts_ns=T0 + 11, graph_id="g1", node_id="perp",
                                       status="REJECTED", filled_qty_1e8=0, avg_fill_px_1e9=None,
                                       reason="BAD_VENUE"))
    return state


def test_status_json_has_the_contract_shape() -> None:
    # Arrange
    state = _graph_after_some_fills()
    # Act
    doc = to_status_json(state)
    # Assert
    assert doc == {
        "graph_id": "g1",
        "status": "RUNNING",
        "is_sandbox": True,
        "node_count": 2,
        "edge_count": 1,
        "created_ns": T0,
        "updated_ns": T0 + 11,
        "nodes": {
            "spot": {
                "node_id": "spot",
                "node_order_id": "g1:spot:1",
                "activation": "root",
                "status": "PARTIALLY_FILLED",
                "symbol": "BTC-USD",
                "instrument_type": "spot",
                "side": "buy",
                "qty_1e8": 100,
                "filled_qty_1e8": 30,
                "avg_fill_price_1e9": 6_666_666_667,
                "fill_count": 2,
                "venue": None,
                "failure_reason": None,
            },
            "perp": {
                "node_id": "perp",
                "node_order_id": "g1:perp:1",
                "activation": "wait",
                "status": "REJECTED",
                "symbol": "BTC-USD-PERP",
                "instrument_type": "perp",
                "side": "sell",
                "qty_1e8": 50,
                "filled_qty_1e8": 0,
                "avg_fill_price_1e9": 0,  # an integer: 0 until the first fill
                "fill_count": 0,
                "venue": "hyperliquid",
                "failure_reason": "BAD_VENUE",
            },
        },
        "edges": [
            {
                "edge_id": "e_spot_perp",
                "from_node": "spot",
                "to_node": "perp",
                "trigger": "on_fill_ratio",
                "condition": {"fill_ratio_gte": 0.25},
                "fired": False,
                "fired_ns": None,
            }
        ],
    }


def test_order_row_has_the_contract_fields() -> None:
    # Arrange
    state = _graph_after_some_fills()
    # Act
    row = order_row(state, "spot")
    # Assert
    assert row == {
        "node_order_id": "g1:spot:1",
        "graph_id": "g1",
        "node_id": "spot",
        "symbol": "BTC-USD",
        "instrument_type": "spot",
        "side": "buy",
        "order_type": "limit",
        "status": "PARTIALLY_FILLED",
        "qty_1e8": 100,
        "filled_qty_1e8": 30,
        "avg_fill_price_1e9": 6_666_666_667,
        "limit_price_1e9": 7_000_000_000,
        "venue": None,
        "policy": "twap",
        "urgency": "low",
        "tif": "day",
        "is_sandbox": True,
        "failure_reason": None,
        "constraints": {"max_price_1e9": 7_000_000_000, "urgency": "low", "horizon_ms": 60_000,
                        "participation_limit_bps": None},
        "created_ns": T0,
        "updated_ns": T0 + 9,
    }
    assert [r["node_id"] for r in order_rows(state)] == ["spot", "perp"]
    assert order_rows(state)[1]["order_type"] == "market"
    assert order_rows(state)[1]["avg_fill_price_1e9"] == 0  # an integer: 0 until the first fill


def test_submit_response_lists_node_order_ids() -> None:
    # Arrange
    state, _ = start(TWO_NODES, Ids())
    # Act
    doc = submit_response(state)
    # Assert
    assert doc == {
        "graph_id": "g1",
        "status": "RUNNING",
        "node_count": 2,
        "edge_count": 1,
        "node_order_ids": {"spot": "g1:spot:1", "perp": "g1:perp:1"},
    }
