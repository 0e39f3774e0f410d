"""services/graph/schema.py: request parsing, 422 details, idempotency hash, simple orders, ids."""

from __future__ import annotations

import copy
import itertools
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.graph import EdgeSpec, ExecutionSpec, Instrument, NodeSpec
from services.graph.errors import GraphConflict, GraphError, ValidationError
from services.graph.schema import (
    NodeOrderRef,
    ParsedGraph,
    body_sha256,
    check_idempotency,
    node_order_id,
    notional_to_qty_1e8,
    parse_node_order_id,
    parse_order_body,
    resolve_notional,
    submitted_event,
)


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: str(uuid.UUID(int=next(counter)))


def node(node_id: str | None = "a", **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "node_id": node_id,
        "instrument": {"symbol": "BTC-USD", "type": "spot", "venue": None},
        "side": "buy",
        "order_type": "market",
        "quantity": {"fixed": {"qty_1e8": 100_000_000}},
        "execution": {},
    }
    raw.update(overrides)
    return raw


def edge(src: str, dst: str, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"edge_id": f"e_{src}_{dst}", "from_node": src, "to_node": dst, "trigger": "on_fill"}
    raw.update(overrides)
    return raw


def errors_of(body: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        parse_order_body(body, ids())
    return [(e.field, e.message) for e in info.value.errors]


# --- graph form: valid bodies ------------------------------------------------------------------


def test_graph_form_parses_nodes_edges_and_derives_activation() -> None:
    # Arrange
    body = {
        "graph_id": "graph_abc",
        "is_sandbox": True,
        "nodes": [
            node("spot", side="BUY", execution={"urgency": "HIGH", "policy": "sor", "max_slippage_bps": 25, "tif": "IOC"}),
            node(
                "perp",
                instrument={"symbol": "BTC-USD-PERP", "type": "perp", "venue": "hyperliquid"},
                side="Sell",
                order_type={"limit": {"price_1e9": 65_000_000_000_000}},
                quantity={"fixed": {"qty_1e8": 50_000_000}},
            ),
        ],
        "edges": [{"edge_id": "e_spot_perp", "from_node": "spot", "to_node": "perp", "trigger": "fill_pct",
                   "condition": {"fill_ratio_gte": 0.5}}],
        "risk": {"admission": {"max_notional_usd": 250000.5}, "runtime": {"max_loss_usd": 1000}},
    }
    # Act
    parsed = parse_order_body(body, ids())
    # Assert
    assert parsed.graph_id == "graph_abc"
    assert parsed.graph_id_generated is False
    assert parsed.is_sandbox is True
    assert parsed.max_notional_usd_1e9 == 250_000_500_000_000
    assert parsed.max_loss_usd_1e9 == 1_000_000_000_000
    assert parsed.nodes == (
        NodeSpec(
            node_id="spot",
            instrument=Instrument(symbol="BTC-USD", type="spot", venue=None),
            side="buy",
            qty_1e8=100_000_000,
            limit_px_1e9=None,
            execution=ExecutionSpec(urgency="high", policy="sor", max_slippage_bps=25, tif="ioc"),
            activation="root",
        ),
        NodeSpec(
            node_id="perp",
            instrument=Instrument(symbol="BTC-USD-PERP", type="perp", venue="hyperliquid"),
            side="sell",
            qty_1e8=50_000_000,
            limit_px_1e9=65_000_000_000_000,
            execution=ExecutionSpec(),
            activation="wait",
        ),
    )
    assert parsed.edges == (
        EdgeSpec(edge_id="e_spot_perp", from_node="spot", to_node="perp", trigger="on_fill_ratio",
                 fill_ratio_gte_bps=5000),
    )


def test_missing_edges_execution_and_edge_id_take_defaults() -> None:
    # Arrange
    body = {"nodes": [node("a", execution=None), node("b")], "edges": [{"from_node": "a", "to_node": "b"}]}
    # Act
    parsed = parse_order_body(body, ids())
    # Assert
    assert parsed.edges == (EdgeSpec(edge_id="e_a_b", from_node="a", to_node="b", trigger="on_fill"),)
    assert parsed.nodes[0].execution == ExecutionSpec()
    assert [n.activation for n in parsed.nodes] == ["root", "wait"]


def test_explicit_activation_is_kept() -> None:
    # Arrange: both explicit roots although an edge leads to b
    body = {"nodes": [node("a", activation="root"), node("b", activation="ROOT")], "edges": [edge("a", "b")]}
    # Act
    parsed = parse_order_body(body, ids())
    # Assert
    assert [n.activation for n in parsed.nodes] == ["root", "root"]


@pytest.mark.parametrize(
    ("ratio", "bps"),
    [(0.5, 5000), (0.12345, 1235), (0.33335, 3334), (1, 10000), ("0.0001", 1), (0.00005, 1)],
)
def test_fill_ratio_becomes_bps_rounding_half_up(ratio: object, bps: int) -> None:
    # Arrange
    body = {"nodes": [node("a"), node("b")],
            "edges": [edge("a", "b", trigger="on_fill_ratio", condition={"fill_ratio_gte": ratio})]}
    # Act
    parsed = parse_order_body(body, ids())
    # Assert
    assert parsed.edges[0].fill_ratio_gte_bps == bps


def test_timeout_edge_and_policy_alias() -> None:
    # Arrange
    body = {"nodes": [node("a", execution={"policy": "IMMEDIATE"}), node("b")],
            "edges": [edge("a", "b", trigger="On_Timeout", condition={"after_ms": 1500})]}
    # Act
    parsed = parse_order_body(body, ids())
    # Assert
    assert parsed.nodes[0].execution.policy == "sor"
    assert parsed.edges[0] == EdgeSpec(edge_id="e_a_b", from_node="a", to_node="b", trigger="on_timeout", after_ms=1500)


def test_twap_vwap_iceberg_and_pacing_execution() -> None:
    # Arrange
    body = {
        "nodes": [
            node("t", execution={"policy": "twap", "horizon_ms": 60_000, "num_slices": 4, "randomize_pct": 10}),
            node("v", execution={"policy": "vwap", "horizon_ms": 30_000}),
            node("i", execution={"policy": "iceberg", "display_qty_1e8": 10_000_000}),
            node("p", execution={"pacing": {"uniform": {"num_slices": 5, "interval_ms": 2000}}}),
        ],
        "edges": [],
    }
    # Act
    t, v, i, p = parse_order_body(body, ids()).nodes
    # Assert
    assert t.execution == ExecutionSpec(policy="twap", horizon_ms=60_000, num_slices=4, randomize_pct=10)
    assert v.execution == ExecutionSpec(policy="vwap", horizon_ms=30_000)
    assert i.execution == ExecutionSpec(policy="iceberg", display_qty_1e8=10_000_000)
    assert p.execution == ExecutionSpec(policy="twap", horizon_ms=10_000, num_slices=5)


def test_generated_graph_id_uses_new_id_and_force_sandbox_wins() -> None:
    # Act
    parsed = parse_order_body({"nodes": [node()], "is_sandbox": False}, lambda: "0190a6d2-7e4b-7c3d-8e2f-0123456789ab",
                              force_sandbox=True)
    # Assert
    assert parsed.graph_id == "g_0190a6d27e4b7c3d8e2f0123456789ab"
    assert parsed.graph_id_generated is True
    assert parsed.is_sandbox is True


def test_new_id_is_not_called_when_graph_id_is_given() -> None:
    # Arrange
    def fail() -> str:
        raise AssertionError("new_id must not be called")

    # Act
    parsed = parse_order_body({"graph_id": "mine", "nodes": [node()]}, fail)
    # Assert
    assert parsed.graph_id == "mine"


# --- graph form: every 422 case ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([1, 2], [("body", "must be a JSON object, was a list")]),
        ({}, [("nodes", "is required (or send the simple-order form with symbol, side and qty)")]),
        ({"nodes": {}}, [("nodes", "must be a list of nodes, was an object")]),
        ({"nodes": []}, [("nodes", "must contain at least one node, was empty")]),
        ({"nodes": [node()], "edges": "x"}, [("edges", "must be a list of edges, was a string")]),
        ({"nodes": ["x"]}, [("nodes[0]", "must be an object, was a string")]),
        (
            {"nodes": [node("a"), node("a")]},
            [("nodes[1].node_id", "duplicate node_id 'a' (also nodes[0])")],
        ),
        (
            {"nodes": [node("a")], "edges": [edge("a", "zz")]},
            [("edges[0].to_node", "unknown node 'zz'")],
        ),
        (
            {"nodes": [node("a")], "edges": [edge("q", "a")]},
            [("edges[0].from_node", "unknown node 'q'")],
        ),
        (
            {"nodes": [node("a"), node("b"), node("c")], "edges": [edge("a", "b"), edge("b", "c"), edge("c", "b")]},
            [("edges", "cycle through nodes b -> c -> b")],
        ),
        (
            {"nodes": [node("a"), node("b")], "edges": [edge("a", "b"), edge("b", "a")]},
            [("edges", "cycle through nodes a -> b -> a"), ("nodes", "no root node: every node waits on an edge")],
        ),
        (
            {"nodes": [node("a"), node("b")], "edges": [edge("a", "b"), edge("a", "b")]},
            [("edges[1].edge_id", "duplicate edge_id 'e_a_b' (also edges[0])")],
        ),
        (
            {"nodes": [node("a", activation="wait")]},
            [("nodes[0].activation", "node 'a' waits but no edge leads to it"),
             ("nodes", "no root node: every node waits on an edge")],
        ),
        (
            {"nodes": [node(quantity={"fixed": {"qty_1e8": 0}})]},
            [("nodes[0].quantity.fixed.qty_1e8", "must be >= 1, was 0")],
        ),
        (
            {"nodes": [node(quantity={"fixed": {"qty_1e8": -5}})]},
            [("nodes[0].quantity.fixed.qty_1e8", "must be >= 1, was -5")],
        ),
        (
            {"nodes": [node(quantity={"fixed": {"qty_1e8": 1.5}})]},
            [("nodes[0].quantity.fixed.qty_1e8", "must be an integer, was 1.5")],
        ),
        (
            {"nodes": [node(quantity={"fixed": {"qty_1e8": True}})]},
            [("nodes[0].quantity.fixed.qty_1e8", "must be an integer, was True")],
        ),
        (
            {"nodes": [node(quantity={"lots": 3})]},
            [("nodes[0].quantity",
              "must be {\"fixed\":{\"qty_1e8\":int}} or {\"notional\":{\"usd_1e9\":int}}, was {'lots': 3}")],
        ),
        ({"nodes": [node(side="hold")]}, [("nodes[0].side", "must be one of buy|sell, was 'hold'")]),
        (
            {"nodes": [node(execution={"tif": "forever"})]},
            [("nodes[0].execution.tif", "must be one of day|fok|gtc|ioc, was 'forever'")],
        ),
        (
            {"nodes": [node(execution={"policy": "yolo"})]},
            [("nodes[0].execution.policy",
              "must be one of aggressive_chase|iceberg|passive|sor|twap|vwap, was 'yolo'")],
        ),
        (
            {"nodes": [node(execution={"urgency": "now"})]},
            [("nodes[0].execution.urgency", "must be one of high|low|medium, was 'now'")],
        ),
        (
            {"nodes": [node(instrument={"symbol": "X", "type": "option"})]},
            [("nodes[0].instrument.type", "must be one of perp|prediction|spot, was 'option'")],
        ),
        (
            {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", trigger="on_moon")]},
            [("edges[0].trigger",
              "must be one of on_cancel|on_fill|on_fill_ratio|on_reject|on_timeout, was 'on_moon'")],
        ),
        (
            {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", trigger="fill_pct")]},
            [("edges[0].condition.fill_ratio_gte",
              "is required for trigger on_fill_ratio (fill_pct): a ratio in (0, 1]")],
        ),
        (
            {"nodes": [node("a"), node("b")],
             "edges": [edge("a", "b", trigger="on_fill_ratio", condition={"fill_ratio_gte": 1.5})]},
            [("edges[0].condition.fill_ratio_gte", "must be a ratio in (0, 1], was 1.5")],
        ),
        (
            {"nodes": [node("a"), node("b")],
             "edges": [edge("a", "b", trigger="on_fill_ratio", condition={"fill_ratio_gte": 0.00001})]},
            [("edges[0].condition.fill_ratio_gte", "must be at least 1 bp (0.0001), was 1e-05")],
        ),
        (
            {"nodes": [node("a"), node("b")], "edges": [edge("a", "b", trigger="on_timeout")]},
            [("edges[0].condition.after_ms", "is required")],
        ),
        (
            {"nodes": [{"node_id": "a"}]},
            [("nodes[0].instrument", "is required"), ("nodes[0].side", "is required"),
             ("nodes[0].order_type", "is required (\"market\" or {\"limit\":{\"price_1e9\":int}})"),
             ("nodes[0].quantity",
              "is required ({\"fixed\":{\"qty_1e8\":int}} or {\"notional\":{\"usd_1e9\":int}})")],
        ),
        (
            {"nodes": [node(node_id=None, instrument={"type": "spot"})]},
            [("nodes[0].node_id", "is required"), ("nodes[0].instrument.symbol", "is required")],
        ),
        (
            {"nodes": [node("a:b")]},
            [("nodes[0].node_id", "must match ^[A-Za-z0-9_.-]{1,64}$, was 'a:b'")],
        ),
        (
            {"graph_id": "g/1", "nodes": [node()]},
            [("graph_id", "must match ^[A-Za-z0-9_-]{1,128}$, was 'g/1'")],
        ),
        (
            {"nodes": [node(order_type="limit")]},
            [("nodes[0].order_type", "must be \"market\" or {\"limit\":{\"price_1e9\":int}}, was 'limit'")],
        ),
        (
            {"nodes": [node(order_type={"limit": {"price_1e9": 0}})]},
            [("nodes[0].order_type.limit.price_1e9", "must be >= 1, was 0")],
        ),
        (
            {"nodes": [node(execution={"policy": "twap"})]},
            [("nodes[0].execution.horizon_ms", "is required for policy twap")],
        ),
        (
            {"nodes": [node(execution={"policy": "iceberg"})]},
            [("nodes[0].execution.display_qty_1e8", "is required for policy iceberg")],
        ),
        (
            {"nodes": [node(execution={"randomize_pct": 100, "horizon_ms": 0})]},
            [("nodes[0].execution.horizon_ms", "must be >= 1, was 0"),
             ("nodes[0].execution.randomize_pct", "must be <= 99, was 100")],
        ),
        (
            {"nodes": [node(execution={"policy": "vwap", "pacing": {"uniform": {"num_slices": 2, "interval_ms": 5}}})]},
            [("nodes[0].execution.pacing", "needs policy sor or twap, was 'vwap'")],
        ),
        (
            {"nodes": [node(execution={"horizon_ms": 7, "pacing": {"uniform": {"num_slices": 2, "interval_ms": 5}}})]},
            [("nodes[0].execution.horizon_ms", "must equal pacing num_slices x interval_ms (10), was 7")],
        ),
        ({"nodes": [node()], "is_sandbox": "yes"}, [("is_sandbox", "must be true or false, was 'yes'")]),
        (
            {"nodes": [node()], "risk": {"admission": {"max_notional_usd": -1}}},
            [("risk.admission.max_notional_usd", "must be > 0, was -1")],
        ),
    ],
)
def test_validation_errors_name_field_and_value(body: object, expected: list[tuple[str, str]]) -> None:
    # Act
    found = errors_of(body)
    # Assert
    assert found == expected


def test_validation_error_details_are_the_envelope_list() -> None:
    # Act
    with pytest.raises(ValidationError) as info:
        parse_order_body({"nodes": [node(side="x", quantity={"fixed": {"qty_1e8": 0}})]}, ids())
    # Assert
    assert info.value.details() == [
        {"field": "nodes[0].side", "message": "must be one of buy|sell, was 'x'"},
        {"field": "nodes[0].quantity.fixed.qty_1e8", "message": "must be >= 1, was 0"},
    ]
    assert str(info.value) == (
        "nodes[0].side: must be one of buy|sell, was 'x'; nodes[0].quantity.fixed.qty_1e8: must be >= 1, was 0"
    )


# --- idempotency hash --------------------------------------------------------------------------


GRAPH: dict[str, Any] = {
    "graph_id": "g1",
    "nodes": [node("a"), node("b", order_type={"limit": {"price_1e9": 7}})],
    "edges": [edge("a", "b", trigger="on_fill_ratio", condition={"fill_ratio_gte": 0.25})],
    "is_sandbox": False,
}


def _reorder(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reorder(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reorder(v) for v in value]
    return value


def test_hash_is_stable_across_key_order_and_json_round_trip() -> None:
    # Arrange
    reordered = _reorder(GRAPH)
    assert list(reordered) != list(GRAPH)
    # Act
    a = parse_order_body(GRAPH, ids()).body_sha256
    b = parse_order_body(json.loads(json.dumps(reordered)), ids()).body_sha256
    # Assert
    assert a == b == body_sha256(GRAPH)
    assert len(a) == 64


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _paths(v, (*prefix, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _paths(v, (*prefix, i))]
    return [prefix]


@given(st.sampled_from(_paths(GRAPH)))
def test_hash_changes_when_any_leaf_changes(path: tuple[Any, ...]) -> None:
    # Arrange
    changed = copy.deepcopy(GRAPH)
    holder: Any = changed
    for key in path[:-1]:
        holder = holder[key]
    old = holder[path[-1]]
    holder[path[-1]] = "changed" if old != "changed" else "other"
    # Act / Assert
    assert body_sha256(changed) != body_sha256(GRAPH)


def test_hash_changes_when_a_key_is_added() -> None:
    # Arrange
    changed = copy.deepcopy(GRAPH)
    changed["nodes"][0]["execution"] = {"urgency": "medium"}  # same meaning, different body
    # Act / Assert
    assert body_sha256(changed) != body_sha256(GRAPH)


def test_check_idempotency_new_replay_and_conflict() -> None:
    # Arrange
    first = parse_order_body(GRAPH, ids())
    changed = copy.deepcopy(GRAPH)
    changed["nodes"][0]["quantity"]["fixed"]["qty_1e8"] = 2
    second = parse_order_body(changed, ids())
    # Act / Assert
    assert check_idempotency(None, first) is False
    assert check_idempotency(first.body_sha256, first) is True
    with pytest.raises(GraphConflict) as info:
        check_idempotency(first.body_sha256, second)
    assert info.value.graph_id == "g1"


def test_non_json_body_is_rejected() -> None:
    # Act / Assert
    assert errors_of({"nodes": [node()], "x": float("nan")})[0][0] == "body"


# --- simple-order form -------------------------------------------------------------------------


def test_simple_order_is_wrapped_into_one_sor_root_node() -> None:
    # Act
    parsed = parse_order_body({"symbol": "ETH-USD", "side": "BUY", "qty": 0.29, "venue": "kraken", "sandbox": True},
                              ids())
    # Assert
    assert parsed.nodes == (
        NodeSpec(
            node_id="order",
            instrument=Instrument(symbol="ETH-USD", type="spot", venue="kraken"),
            side="buy",
            qty_1e8=29_000_000,  # Decimal(str(0.29)); float math would give 28999999
            limit_px_1e9=None,
            execution=ExecutionSpec(policy="sor"),
            activation="root",
        ),
    )
    assert parsed.edges == ()
    assert parsed.is_sandbox is True
    assert parsed.notional_usd_1e9 == {}


@pytest.mark.parametrize(
    ("side", "price", "px_1e9"),
    [("buy", 0.1, 100_000_000), ("buy", "1.0000000019", 1_000_000_001), ("sell", "1.0000000011", 1_000_000_002),
     ("sell", 65000.5, 65_000_500_000_000)],
)
def test_simple_price_becomes_limit_rounded_never_worse(side: str, price: object, px_1e9: int) -> None:
    # Act
    parsed = parse_order_body({"symbol": "X", "side": side, "qty": 1, "price": price}, ids())
    # Assert
    assert parsed.nodes[0].limit_px_1e9 == px_1e9


def test_simple_qty_with_excess_decimals_rounds_down() -> None:
    # Act
    parsed = parse_order_body({"symbol": "X", "side": "sell", "qty": "0.123456789"}, ids())
    # Assert
    assert parsed.nodes[0].qty_1e8 == 12_345_678


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"symbol": "X", "side": "buy"}, [("qty", "is required (or notional in USD)")]),
        ({"symbol": "X", "side": "buy", "qty": 1, "notional": 5}, [("qty", "give qty or notional, not both")]),
        ({"symbol": "X", "side": "buy", "qty": 0}, [("qty", "must be > 0, was 0")]),
        ({"symbol": "X", "side": "buy", "qty": -0.5}, [("qty", "must be > 0, was -0.5")]),
        ({"symbol": "X", "side": "buy", "qty": 1e-9}, [("qty", "rounds to 0 at 1e8 scale, was 1e-09")]),
        ({"symbol": "X", "side": "buy", "qty": "abc"}, [("qty", "must be a number, was 'abc'")]),
        ({"symbol": "X", "side": "buy", "qty": True}, [("qty", "must be a number, was True")]),
        ({"symbol": "X", "side": "buy", "qty": "inf"}, [("qty", "must be a finite number, was 'inf'")]),
        ({"symbol": "", "side": "buy", "qty": 1}, [("symbol", "must be a non-empty string, was ''")]),
        ({"symbol": "X", "side": "long", "qty": 1}, [("side", "must be one of buy|sell, was 'long'")]),
        ({"symbol": "X", "side": "buy", "qty": 1, "price": 0}, [("price", "must be > 0, was 0")]),
    ],
)
def test_simple_order_validation(body: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    # Act / Assert
    assert errors_of(body) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # The issue: a misspelt price silently made a market order.
        ({"symbol": "X", "side": "buy", "qty": 1, "limit_price": 100},
         [("limit_price", "unknown field in the simple-order form; did you mean 'price'?")]),
        ({"symbol": "X", "side": "buy", "qty": 1, "pric": 100},
         [("pric", "unknown field in the simple-order form; did you mean 'price'?")]),
        ({"symbol": "X", "side": "buy", "quantity": 1},
         [("quantity", "unknown field in the simple-order form; did you mean 'qty'?"),
          ("qty", "is required (or notional in USD)")]),
        # order_type is optional in the simple form, and must agree with price.
        ({"symbol": "X", "side": "buy", "qty": 1, "order_type": "limit"},
         [("order_type", "is 'limit' but no price was given")]),
        ({"symbol": "X", "side": "buy", "qty": 1, "order_type": "market", "price": 5},
         [("order_type", "is 'market' but a price was given; send a limit as 'price' without order_type")]),
        ({"symbol": "X", "side": "buy", "qty": 1, "zzz": 1},
         [("zzz", "unknown field in the simple-order form; accepted: graph_id, horizon_ms, instrument_type, is_sandbox, "
                  "notional, order_type, price, qty, sandbox, side, symbol, urgency, venue")]),
        ({"nodes": [node()], "edges": [], "is_sandbox": True, "edgs": []},
         [("edgs", "unknown field in the graph form; did you mean 'edges'?")]),
    ],
)
def test_unknown_top_level_keys_are_refused_naming_the_key_and_a_near_miss(
    body: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert errors_of(body) == expected


def test_every_top_level_key_the_contract_and_the_sdk_send_is_accepted() -> None:
    # api_contract.md section 2, and sequence-markets 0.5.7 (graph form: nodes, edges, is_sandbox;
    # its buy/sell/graph/batch all build that form).
    simple = {"symbol": "BTC-USD", "side": "buy", "qty": 1, "price": 100, "order_type": "LIMIT", "venue": "okx",
              "sandbox": True,
              "is_sandbox": True, "graph_id": "g_simple", "instrument_type": "spot", "urgency": "high",
              "horizon_ms": 1000}
    notional = {"symbol": "BTC-USD", "side": "sell", "notional": 50}
    graph = {"nodes": [node()], "edges": [], "is_sandbox": False, "graph_id": "g_graph",
             "risk": {"admission": {"max_notional_usd": 10}, "runtime": {"max_loss_usd": 5}}}
    assert parse_order_body(simple, ids()).nodes[0].limit_px_1e9 == 100 * 10**9
    assert parse_order_body(notional, ids()).notional_usd_1e9 == {"order": 50 * 10**9}
    assert parse_order_body(graph, ids()).max_notional_usd_1e9 == 10 * 10**9


def test_simple_notional_is_resolved_at_a_price_rounded_down_to_lot() -> None:
    # Arrange
    parsed = parse_order_body({"symbol": "BTC-USD", "side": "buy", "notional": 1000}, ids())
    assert parsed.notional_usd_1e9 == {"order": 1_000_000_000_000}
    assert parsed.nodes[0].qty_1e8 == 0
    # Act
    resolved = resolve_notional(parsed, {"order": 65_000_000_000_000}, lot_1e8=1000)
    # Assert: 1000 / 65000 = 0.01538461... BTC -> 1538461 qty_1e8 -> 1538000 at lot 1000
    assert resolved.nodes[0].qty_1e8 == 1_538_000
    assert resolved.notional_usd_1e9 == {}


def test_notional_node_uses_its_limit_and_reports_below_lot() -> None:
    # Arrange
    body = {"nodes": [node("a", quantity={"notional": {"usd_1e9": 10}}, order_type={"limit": {"price_1e9": 2_000_000_000}})]}
    parsed = parse_order_body(body, ids())
    # Act
    with pytest.raises(ValidationError) as info:
        resolve_notional(parsed, {}, lot_1e8=1000)
    # Assert: 10 usd_1e9 at $2 buys 0.5 qty_1e8, below a lot of 1000
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("nodes[0].quantity.notional.usd_1e9", "is below one lot (1000 qty_1e8) at px_1e9 2000000000, was 10")
    ]
    assert notional_to_qty_1e8(10 * 10**9, 2_000_000_000) == 500_000_000


def test_submitted_event_refuses_unpriced_notional_and_copies_the_graph() -> None:
    # Arrange
    notional = parse_order_body({"symbol": "X", "side": "buy", "notional": 5}, ids())
    parsed = parse_order_body(GRAPH, ids())
    # Act
    event = submitted_event(parsed, event_id="ev1", ts_ns=42, tenant="t1")
    # Assert
    with pytest.raises(GraphError):
        submitted_event(notional, event_id="ev1", ts_ns=42, tenant="t1")
    assert (event.graph_id, event.event_id, event.ts_ns, event.tenant) == ("g1", "ev1", 42, "t1")
    assert event.nodes == list(parsed.nodes) and event.edges == list(parsed.edges)
    assert event.body_sha256 == parsed.body_sha256
    assert isinstance(parsed, ParsedGraph)


# --- node_order_id -----------------------------------------------------------------------------


def test_node_order_id_format_and_parse_both_forms() -> None:
    # Act / Assert
    assert node_order_id("g_abc", "spot", 1) == "g_abc:spot:1"
    assert parse_node_order_id("g_abc:spot:1") == NodeOrderRef("g_abc", "spot", 1)
    assert parse_node_order_id("graph:g_abc:spot:3") == NodeOrderRef("g_abc", "spot", 3)


@pytest.mark.parametrize("text", ["g_abc", "g_abc:spot", "g_abc:spot:x", "g:a:0", ":a:1", "a:b:1:2"])
def test_bad_node_order_ids_are_rejected(text: str) -> None:
    # Act / Assert
    with pytest.raises(ValidationError) as info:
        parse_node_order_id(text)
    assert info.value.details() == [
        {"field": "node_order_id", "message": f"must look like <graph_id>:<node_id>:<seq>, was {text!r}"}
    ]
