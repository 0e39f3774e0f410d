"""Parse a POST /v1/orders body into validated node and edge specs (api_contract.md §2).

Two forms share the path:

* graph form ``{nodes, edges, is_sandbox?, graph_id?, risk?}``;
* simple-order form ``{symbol, side, qty | notional, price?, order_type?, venue?, instrument_type?, sandbox?,
  urgency?, horizon_ms?}``, wrapped into one root node ``"order"`` (``order_type``, ``market`` or
  ``limit``, is optional and must agree with ``price``: a price makes a limit).

A node that names no policy (and no pacing) is scheduled by its urgency: ``high`` (and ``medium``
without a horizon) is one immediate SOR sweep, ``low`` is TWAP slices over ``horizon_ms`` (default
one minute), ``medium`` with ``horizon_ms`` TWAP over half of it (``schedule.urgency_pacing``).

Every problem is collected (not only the first) and raised as one `ValidationError` whose
`details()` is the error envelope's ``[{field, message}]`` list.

Rounding at this boundary (human floats go through ``Decimal(str(x))``, never float math):

* simple ``qty`` and ``notional`` round **down** (never trade more than asked);
* simple ``price`` rounds down for a buy and up for a sell (never a worse limit than asked);
* ``risk`` limits (USD) round down (the stricter limit);
* ``fill_ratio_gte`` (0-1) becomes basis points rounding half up.

Enum strings (side, tif, policy, urgency, trigger, type, activation, order_type) are accepted
in any case. Aliases: policy ``immediate`` = ``sor``; trigger ``fill_pct`` = ``on_fill_ratio``
(which then needs ``condition.fill_ratio_gte``). An unknown TOP-LEVEL key is a 422 naming it
(and the accepted spelling of a near miss: ``limit_price`` -> ``price``), since a misspelt
``price`` would otherwise turn a limit order into a market order; the keys the published SDK
and the contract send are all accepted. Unknown keys inside nodes and edges are ignored so newer
clients keep working; ``null`` counts as absent for optional fields.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation
from typing import Any, Literal, TypeVar, get_args

import msgspec

from events.venues import LEGACY_VENUES, PERP_SUFFIX, perp_symbol
from events.graph import (
    EdgeSpec,
    ExecutionSpec,
    GraphSubmitted,
    Instrument,
    InstrumentType,
    NodeSpec,
    Policy,
    Side,
    Tif,
    Trigger,
    Urgency,
)
from services.graph.errors import FieldError, GraphConflict, GraphError, ValidationError
from services.graph.schedule import urgency_pacing

SIMPLE_NODE_ID = "order"

_SIDES: frozenset[Side] = frozenset(get_args(Side))
_TYPES: frozenset[InstrumentType] = frozenset(get_args(InstrumentType))
_POLICIES: frozenset[Policy] = frozenset(get_args(Policy))
_URGENCIES: frozenset[Urgency] = frozenset(get_args(Urgency))
_TIFS: frozenset[Tif] = frozenset(get_args(Tif))
_TRIGGERS: frozenset[Trigger] = frozenset(get_args(Trigger))
_ACTIVATIONS: frozenset[str] = frozenset({"root", "wait"})
_POLICY_ALIASES = {"immediate": "sor"}
# Top-level keys per form: the contract's (api_contract.md §2) and what sequence-markets 0.5.7
# sends (graph form: nodes, edges, is_sandbox); `is_sandbox` is also read in the simple form.
_GRAPH_KEYS = frozenset({"nodes", "edges", "is_sandbox", "graph_id", "risk"})
_SIMPLE_KEYS = frozenset({
    "symbol", "side", "qty", "notional", "price", "venue", "sandbox", "is_sandbox", "graph_id",
    "instrument_type", "urgency", "horizon_ms", "order_type",
})
# Spellings other APIs use for a simple-form field (checked before the fuzzy match).
_KEY_ALIASES = {
    "limit_price": "price", "limit_px": "price", "limit": "price", "px": "price", "price_1e9": "price",
    "quantity": "qty", "size": "qty", "amount": "qty", "qty_1e8": "qty", "notional_usd": "notional",
    "type": "instrument_type", "exchange": "venue", "is_test": "sandbox",
}
_TRIGGER_ALIASES = {"fill_pct": "on_fill_ratio"}
_Choice = TypeVar("_Choice", bound=str)  # one of the Literal vocabularies above

# graph_id goes into a NATS subject token and an unencoded URL path, and node_order_id is split
# on ':' by the SDK, so ids keep to a safe alphabet ('.' would collide with '_' in subjects).
_GRAPH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_LOCAL_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_BPS = Decimal(10_000)
_QTY_SCALE = Decimal(10**8)
_PX_SCALE = Decimal(10**9)


@dataclass(frozen=True, slots=True)
class ParsedGraph:
    """A validated submission: what `submitted_event` turns into `GraphSubmitted`.

    Nodes sized by notional (``quantity.notional`` or simple ``notional``) carry ``qty_1e8 == 0``
    and their USD amount in `notional_usd_1e9` until `resolve_notional` prices them.
    """

    graph_id: str
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    is_sandbox: bool
    body_sha256: str
    graph_id_generated: bool = False
    max_notional_usd_1e9: int | None = None
    max_loss_usd_1e9: int | None = None
    notional_usd_1e9: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeOrderRef:
    graph_id: str
    node_id: str
    seq: int


# ---------------------------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------------------------


def body_sha256(body: object) -> str:
    """Return the sha256 hex of the body's canonical JSON (sorted keys, compact separators)."""
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValidationError([FieldError("body", f"must be plain JSON, was not ({exc})")]) from exc
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_order_body(body: object, new_id: Callable[[], str], *, force_sandbox: bool = False) -> ParsedGraph:
    """Validate a POST /v1/orders body (graph or simple form) and return its specs.

    `new_id` returns a UUID string and is called only when the body has no graph_id
    (the id becomes ``g_<uuid hex>``). `force_sandbox` is set for ``seq_test_`` keys.
    Raise `ValidationError` listing every problem.
    """
    if not isinstance(body, dict):
        raise ValidationError([FieldError("body", f"must be a JSON object, was {_kind(body)}")])
    digest = body_sha256(body)
    errs = _Errors()
    graph_id = _parse_graph_id(body.get("graph_id"), errs)
    if "nodes" in body:
        _unknown_keys(body, _GRAPH_KEYS, "graph", errs)
        parsed = _parse_graph_form(body, errs)
    elif "symbol" in body:
        _unknown_keys(body, _SIMPLE_KEYS, "simple-order", errs)
        parsed = _parse_simple_form(body, errs)
    else:
        errs.add("nodes", "is required (or send the simple-order form with symbol, side and qty)")
        parsed = None
    if errs or parsed is None:
        raise ValidationError(errs.items)
    nodes, edges, is_sandbox, max_notional, max_loss, notional = parsed
    generated = graph_id is None
    if graph_id is None:
        graph_id = "g_" + uuid.UUID(new_id()).hex
    return ParsedGraph(
        graph_id=graph_id,
        nodes=nodes,
        edges=edges,
        is_sandbox=is_sandbox or force_sandbox,
        body_sha256=digest,
        graph_id_generated=generated,
        max_notional_usd_1e9=max_notional,
        max_loss_usd_1e9=max_loss,
        notional_usd_1e9=notional,
    )


def check_idempotency(existing_sha256: str | None, parsed: ParsedGraph) -> bool:
    """Return True when this graph_id was already submitted with the same body (replay it).

    Return False for a new graph_id; raise `GraphConflict` (409) for the same id with another body.
    """
    if existing_sha256 is None:
        return False
    if existing_sha256 != parsed.body_sha256:
        raise GraphConflict(parsed.graph_id, existing_sha256, parsed.body_sha256)
    return True


def notional_to_qty_1e8(usd_1e9: int, px_1e9: int, lot_1e8: int = 1) -> int:
    """Return the quantity a USD notional buys at a price, rounded down to the lot.

    usd_1e9 / px_1e9 is units; x1e8 gives qty_1e8: ``usd_1e9 * 10**8 // px_1e9`` (down).
    """
    if px_1e9 <= 0 or lot_1e8 <= 0:
        raise GraphError(f"px_1e9 and lot_1e8 must be > 0, were {px_1e9} and {lot_1e8}")
    qty = usd_1e9 * 10**8 // px_1e9
    return qty - qty % lot_1e8


def resolve_notional(parsed: ParsedGraph, px_1e9: Mapping[str, int], lot_1e8: int = 1) -> ParsedGraph:
    """Size every notional node at the given price (per node id); return the graph with qty set.

    A limit node without an entry in `px_1e9` is sized at its own limit price.
    Raise `ValidationError` when a price is missing or the notional is below one lot.
    """
    if not parsed.notional_usd_1e9:
        return parsed
    errs = _Errors()
    nodes = list(parsed.nodes)
    for i, node in enumerate(nodes):
        usd = parsed.notional_usd_1e9.get(node.node_id)
        if usd is None:
            continue
        px = px_1e9.get(node.node_id, node.limit_px_1e9)
        where = f"nodes[{i}].quantity.notional.usd_1e9"
        if px is None:
            errs.add(where, f"needs a price to size node {node.node_id!r}, was none")
            continue
        qty = notional_to_qty_1e8(usd, px, lot_1e8)
        if qty <= 0:
            errs.add(where, f"is below one lot ({lot_1e8} qty_1e8) at px_1e9 {px}, was {usd}")
            continue
        nodes[i] = msgspec.structs.replace(node, qty_1e8=qty)
    if errs:
        raise ValidationError(errs.items)
    return ParsedGraph(
        graph_id=parsed.graph_id,
        nodes=tuple(nodes),
        edges=parsed.edges,
        is_sandbox=parsed.is_sandbox,
        body_sha256=parsed.body_sha256,
        graph_id_generated=parsed.graph_id_generated,
        max_notional_usd_1e9=parsed.max_notional_usd_1e9,
        max_loss_usd_1e9=parsed.max_loss_usd_1e9,
    )


def submitted_event(
    parsed: ParsedGraph,
    *,
    event_id: str,
    ts_ns: int,
    tenant: str,
    causation_id: str | None = None,
) -> GraphSubmitted:
    """Build the `GraphSubmitted` fact; raise `GraphError` while a notional node is unpriced."""
    if parsed.notional_usd_1e9:
        raise GraphError(
            f"nodes {sorted(parsed.notional_usd_1e9)} are sized by notional: call resolve_notional first"
        )
    return GraphSubmitted(
        event_id=event_id,
        ts_ns=ts_ns,
        tenant=tenant,
        causation_id=causation_id,
        correlation_id=parsed.graph_id,
        graph_id=parsed.graph_id,
        nodes=list(parsed.nodes),
        edges=list(parsed.edges),
        is_sandbox=parsed.is_sandbox,
        body_sha256=parsed.body_sha256,
        max_notional_usd_1e9=parsed.max_notional_usd_1e9,
        max_loss_usd_1e9=parsed.max_loss_usd_1e9,
    )


def node_order_id(graph_id: str, node_id: str, seq: int = 1) -> str:
    """Return the public order id ``<graph_id>:<node_id>:<seq>``."""
    return f"{graph_id}:{node_id}:{seq}"


def parse_node_order_id(text: str) -> NodeOrderRef:
    """Split a node_order_id; a leading ``graph:`` (the Rust guide's form) is stripped."""
    raw = text[len("graph:") :] if text.startswith("graph:") else text
    parts = raw.split(":")
    if len(parts) != 3 or not parts[0] or not parts[1] or not parts[2].isdigit() or int(parts[2]) < 1:
        raise ValidationError(
            [FieldError("node_order_id", f"must look like <graph_id>:<node_id>:<seq>, was {text!r}")]
        )
    return NodeOrderRef(parts[0], parts[1], int(parts[2]))


# ---------------------------------------------------------------------------------------------
# Graph form
# ---------------------------------------------------------------------------------------------

_Parsed = tuple[tuple[NodeSpec, ...], tuple[EdgeSpec, ...], bool, int | None, int | None, dict[str, int]]


def _parse_graph_form(body: dict[str, Any], errs: _Errors) -> _Parsed | None:
    raw_nodes = body.get("nodes")
    raw_edges = body.get("edges")
    if not isinstance(raw_nodes, list):
        errs.add("nodes", f"must be a list of nodes, was {_kind(raw_nodes)}")
        raw_nodes = []
    elif not raw_nodes:
        errs.add("nodes", "must contain at least one node, was empty")
    if raw_edges is None:
        raw_edges = []
    elif not isinstance(raw_edges, list):
        errs.add("edges", f"must be a list of edges, was {_kind(raw_edges)}")
        raw_edges = []
    is_sandbox = _bool(body.get("is_sandbox"), "is_sandbox", errs)
    max_notional, max_loss = _parse_risk(body.get("risk"), errs)

    nodes: list[tuple[int, NodeSpec, str | None]] = []  # (index, spec, explicit activation)
    notional: dict[str, int] = {}
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_nodes):
        parsed = _parse_node(raw, i, errs)
        node_id = raw.get("node_id") if isinstance(raw, dict) else None
        if isinstance(node_id, str):
            if node_id in first_index:
                errs.add(f"nodes[{i}].node_id", f"duplicate node_id {node_id!r} (also nodes[{first_index[node_id]}])")
            else:
                first_index[node_id] = i
        if parsed is not None:
            spec, explicit_activation, usd = parsed
            nodes.append((i, spec, explicit_activation))
            if usd is not None:
                notional[spec.node_id] = usd

    edges = _parse_edges(raw_edges, set(first_index), errs)
    targets = {e.to_node for e in edges}
    _check_cycle(first_index, edges, errs)

    final_nodes: list[NodeSpec] = []
    for i, spec, explicit in nodes:
        if explicit is None:
            activation: Literal["root", "wait"] = "wait" if spec.node_id in targets else "root"
        else:
            activation = "root" if explicit == "root" else "wait"
            if activation == "wait" and spec.node_id not in targets:
                errs.add(f"nodes[{i}].activation", f"node {spec.node_id!r} waits but no edge leads to it")
        final_nodes.append(msgspec.structs.replace(spec, activation=activation))
    if final_nodes and len(final_nodes) == len(raw_nodes) and not any(n.activation == "root" for n in final_nodes):
        errs.add("nodes", "no root node: every node waits on an edge")
    if errs:
        return None
    return tuple(final_nodes), tuple(edges), is_sandbox, max_notional, max_loss, notional


def _parse_node(raw: object, i: int, errs: _Errors) -> tuple[NodeSpec, str | None, int | None] | None:
    where = f"nodes[{i}]"
    if not isinstance(raw, dict):
        errs.add(where, f"must be an object, was {_kind(raw)}")
        return None
    before = len(errs)
    node_id = _ident(raw.get("node_id"), f"{where}.node_id", _LOCAL_ID_RE, errs)
    instrument = _parse_instrument(raw.get("instrument"), f"{where}.instrument", errs)
    side = _enum(raw.get("side"), f"{where}.side", _SIDES, errs)
    limit_px = _parse_order_type(raw.get("order_type"), f"{where}.order_type", errs)
    qty, usd = _parse_quantity(raw.get("quantity"), f"{where}.quantity", errs)
    execution = _parse_execution(raw.get("execution"), f"{where}.execution", errs)
    activation = _enum(raw.get("activation"), f"{where}.activation", _ACTIVATIONS, errs, required=False)
    if len(errs) > before:
        return None
    assert node_id is not None and instrument is not None and side is not None and execution is not None
    spec = NodeSpec(
        node_id=node_id,
        instrument=instrument,
        side=side,
        qty_1e8=qty or 0,
        limit_px_1e9=limit_px,
        execution=execution,
    )
    return spec, activation, usd


def _parse_instrument(raw: object, where: str, errs: _Errors) -> Instrument | None:
    if raw is None:
        errs.add(where, "is required")
        return None
    if not isinstance(raw, dict):
        errs.add(where, f"must be an object {{symbol, type, venue}}, was {_kind(raw)}")
        return None
    symbol = _text(raw.get("symbol"), f"{where}.symbol", errs)
    kind = _enum(raw.get("type"), f"{where}.type", _TYPES, errs, required=False) or "spot"
    venue = _text(raw.get("venue"), f"{where}.venue", errs, required=False)
    if symbol is None:
        return None
    return instrument(symbol, kind, venue)


def instrument(symbol: str, kind: InstrumentType, venue: str | None) -> Instrument:
    """The instrument an order names, in the ledger's terms. Spot and perps of one exchange share
    its venue id; a perp's canonical symbol ends in `-PERP`, so `{symbol: "BTC-USDT", type: "perp"}`
    trades `BTC-USDT-PERP` (its books only), and a `-PERP` symbol is a perp whatever the type
    says (the client sends `spot` unless told otherwise). An old perp venue id (`binance_usdm`)
    names its exchange's perps."""
    if venue is not None and venue in LEGACY_VENUES:
        venue, kind = LEGACY_VENUES[venue], "perp"
    if kind == "spot" and symbol.endswith(PERP_SUFFIX):
        kind = "perp"
    if kind == "perp":
        symbol = perp_symbol(symbol)
    return Instrument(symbol=symbol, type=kind, venue=venue)


def _parse_order_type(raw: object, where: str, errs: _Errors) -> int | None:
    if raw is None:
        errs.add(where, 'is required ("market" or {"limit":{"price_1e9":int}})')
        return None
    if isinstance(raw, str):
        if raw.casefold() == "market":
            return None
        errs.add(where, f'must be "market" or {{"limit":{{"price_1e9":int}}}}, was {raw!r}')
        return None
    if isinstance(raw, dict) and set(raw) == {"limit"}:
        limit = raw["limit"]
        if not isinstance(limit, dict):
            errs.add(f"{where}.limit", f"must be an object {{price_1e9}}, was {_kind(limit)}")
            return None
        return _int(limit.get("price_1e9"), f"{where}.limit.price_1e9", errs, minimum=1)
    errs.add(where, f'must be "market" or {{"limit":{{"price_1e9":int}}}}, was {raw!r}')
    return None


def _parse_quantity(raw: object, where: str, errs: _Errors) -> tuple[int | None, int | None]:
    if raw is None:
        errs.add(where, 'is required ({"fixed":{"qty_1e8":int}} or {"notional":{"usd_1e9":int}})')
        return None, None
    if isinstance(raw, dict) and set(raw) == {"fixed"} and isinstance(raw["fixed"], dict):
        return _int(raw["fixed"].get("qty_1e8"), f"{where}.fixed.qty_1e8", errs, minimum=1), None
    if isinstance(raw, dict) and set(raw) == {"notional"} and isinstance(raw["notional"], dict):
        return None, _int(raw["notional"].get("usd_1e9"), f"{where}.notional.usd_1e9", errs, minimum=1)
    errs.add(where, f'must be {{"fixed":{{"qty_1e8":int}}}} or {{"notional":{{"usd_1e9":int}}}}, was {raw!r}')
    return None, None


def _parse_execution(raw: object, where: str, errs: _Errors) -> ExecutionSpec | None:
    if raw is None:
        return ExecutionSpec()
    if not isinstance(raw, dict):
        errs.add(where, f"must be an object, was {_kind(raw)}")
        return None
    before = len(errs)
    urgency = _enum(raw.get("urgency"), f"{where}.urgency", _URGENCIES, errs, required=False) or "medium"
    policy = _enum(raw.get("policy"), f"{where}.policy", _POLICIES, errs, required=False, aliases=_POLICY_ALIASES)
    tif = _enum(raw.get("tif"), f"{where}.tif", _TIFS, errs, required=False) or "gtc"
    slippage = _int(raw.get("max_slippage_bps"), f"{where}.max_slippage_bps", errs, minimum=0, required=False)
    horizon_ms = _int(raw.get("horizon_ms"), f"{where}.horizon_ms", errs, minimum=1, required=False)
    num_slices = _int(raw.get("num_slices"), f"{where}.num_slices", errs, minimum=1, required=False)
    randomize = _int(raw.get("randomize_pct"), f"{where}.randomize_pct", errs, minimum=0, required=False)
    if randomize is not None and randomize > 99:
        errs.add(f"{where}.randomize_pct", f"must be <= 99, was {randomize}")
    display = _int(raw.get("display_qty_1e8"), f"{where}.display_qty_1e8", errs, minimum=1, required=False)

    pacing = raw.get("pacing")
    if pacing is not None:
        # uniform pacing = TWAP with n slices one interval apart (not expanded into slice nodes)
        n, interval = _parse_pacing(pacing, f"{where}.pacing", errs)
        if n is not None and interval is not None:
            if policy not in (None, "sor", "twap"):
                errs.add(f"{where}.pacing", f"needs policy sor or twap, was {policy!r}")
            if horizon_ms is not None and horizon_ms != n * interval:
                errs.add(
                    f"{where}.horizon_ms",
                    f"must equal pacing num_slices x interval_ms ({n * interval}), was {horizon_ms}",
                )
            policy, num_slices, horizon_ms = "twap", n, n * interval
    if policy is None:
        policy, horizon_ms, num_slices = _urgency_policy(urgency, horizon_ms, num_slices)
    if policy in ("twap", "vwap") and horizon_ms is None:
        errs.add(f"{where}.horizon_ms", f"is required for policy {policy}")
    if policy == "iceberg" and display is None:
        errs.add(f"{where}.display_qty_1e8", "is required for policy iceberg")
    if len(errs) > before:
        return None
    return ExecutionSpec(
        urgency=urgency,
        policy=policy,
        max_slippage_bps=slippage,
        horizon_ms=horizon_ms,
        tif=tif,
        num_slices=num_slices,
        randomize_pct=randomize or 0,
        display_qty_1e8=display,
    )


def _urgency_policy(
    urgency: str, horizon_ms: int | None, num_slices: int | None
) -> tuple[Policy, int | None, int | None]:
    """(policy, horizon_ms, num_slices) of an order that names no policy: its urgency decides
    between one immediate SOR sweep and TWAP slices over a horizon (schedule.urgency_pacing)."""
    pacing = urgency_pacing(urgency, horizon_ms)
    if pacing is None:
        return "sor", horizon_ms, num_slices
    return "twap", pacing.horizon_ms, num_slices or pacing.num_slices


def _parse_pacing(raw: object, where: str, errs: _Errors) -> tuple[int | None, int | None]:
    if not (isinstance(raw, dict) and set(raw) == {"uniform"} and isinstance(raw["uniform"], dict)):
        errs.add(where, f'must be {{"uniform":{{"num_slices":int,"interval_ms":int}}}}, was {raw!r}')
        return None, None
    uniform = raw["uniform"]
    n = _int(uniform.get("num_slices"), f"{where}.uniform.num_slices", errs, minimum=1)
    interval = _int(uniform.get("interval_ms"), f"{where}.uniform.interval_ms", errs, minimum=1)
    return n, interval


def _parse_edges(raw_edges: list[Any], node_ids: set[str], errs: _Errors) -> list[EdgeSpec]:
    edges: list[EdgeSpec] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(raw_edges):
        where = f"edges[{i}]"
        if not isinstance(raw, dict):
            errs.add(where, f"must be an object, was {_kind(raw)}")
            continue
        before = len(errs)
        from_node = _ident(raw.get("from_node"), f"{where}.from_node", _LOCAL_ID_RE, errs)
        to_node = _ident(raw.get("to_node"), f"{where}.to_node", _LOCAL_ID_RE, errs)
        for name, ref in (("from_node", from_node), ("to_node", to_node)):
            if ref is not None and ref not in node_ids:
                errs.add(f"{where}.{name}", f"unknown node {ref!r}")
        edge_id = _ident(raw.get("edge_id"), f"{where}.edge_id", _LOCAL_ID_RE, errs, required=False)
        if edge_id is None and from_node is not None and to_node is not None:
            edge_id = f"e_{from_node}_{to_node}"  # the SDK's own naming
        if edge_id is not None:
            if edge_id in seen:
                errs.add(f"{where}.edge_id", f"duplicate edge_id {edge_id!r} (also edges[{seen[edge_id]}])")
            else:
                seen[edge_id] = i
        trigger = _enum(
            raw.get("trigger"), f"{where}.trigger", _TRIGGERS, errs, required=False, aliases=_TRIGGER_ALIASES
        ) or "on_fill"
        condition = raw.get("condition")
        if condition is not None and not isinstance(condition, dict):
            errs.add(f"{where}.condition", f"must be an object, was {_kind(condition)}")
            condition = None
        ratio_bps: int | None = None
        after_ms: int | None = None
        if trigger == "on_fill_ratio":
            ratio_bps = _ratio_bps((condition or {}).get("fill_ratio_gte"), f"{where}.condition.fill_ratio_gte", errs)
        elif trigger == "on_timeout":
            after_ms = _int((condition or {}).get("after_ms"), f"{where}.condition.after_ms", errs, minimum=1)
        if len(errs) > before:
            continue
        assert edge_id is not None and from_node is not None and to_node is not None
        edges.append(
            EdgeSpec(
                edge_id=edge_id,
                from_node=from_node,
                to_node=to_node,
                trigger=trigger,
                fill_ratio_gte_bps=ratio_bps,
                after_ms=after_ms,
            )
        )
    return edges


def _ratio_bps(raw: object, where: str, errs: _Errors) -> int | None:
    if raw is None:
        errs.add(where, "is required for trigger on_fill_ratio (fill_pct): a ratio in (0, 1]")
        return None
    value = _decimal(raw, where, errs)
    if value is None:
        return None
    if not Decimal(0) < value <= Decimal(1):
        errs.add(where, f"must be a ratio in (0, 1], was {raw!r}")
        return None
    bps = int((value * _BPS).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if bps < 1:
        errs.add(where, f"must be at least 1 bp (0.0001), was {raw!r}")
        return None
    return bps


def _check_cycle(node_ids: Mapping[str, int], edges: list[EdgeSpec], errs: _Errors) -> None:
    succ: dict[str, list[str]] = {n: [] for n in node_ids}
    for e in edges:
        if e.from_node in succ and e.to_node in succ:
            succ[e.from_node].append(e.to_node)
    cycle = _find_cycle(succ)
    if cycle:
        errs.add("edges", "cycle through nodes " + " -> ".join(cycle))


def _find_cycle(succ: Mapping[str, list[str]]) -> list[str] | None:
    # Iterative DFS with colours; returns the node path of the first back edge found.
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in succ:
        if start in state:
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, idx = stack[-1]
            if idx < len(succ[node]):
                stack[-1] = (node, idx + 1)
                nxt = succ[node][idx]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if nxt not in state:
                    state[nxt] = 1
                    stack.append((nxt, 0))
                    path.append(nxt)
            else:
                state[node] = 2
                stack.pop()
                path.pop()
    return None


def _parse_risk(raw: object, errs: _Errors) -> tuple[int | None, int | None]:
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        errs.add("risk", f"must be an object {{admission, runtime}}, was {_kind(raw)}")
        return None, None
    limits: list[int | None] = []
    for section, key in (("admission", "max_notional_usd"), ("runtime", "max_loss_usd")):
        part = raw.get(section)
        if part is None:
            limits.append(None)
            continue
        if not isinstance(part, dict):
            errs.add(f"risk.{section}", f"must be an object, was {_kind(part)}")
            limits.append(None)
            continue
        limits.append(_usd_1e9(part.get(key), f"risk.{section}.{key}", errs, required=False))
    return limits[0], limits[1]


# ---------------------------------------------------------------------------------------------
# Simple-order form
# ---------------------------------------------------------------------------------------------


def _unknown_keys(body: dict[str, Any], known: frozenset[str], form: str, errs: _Errors) -> None:
    for key in sorted(k for k in body if k not in known):
        hint = _KEY_ALIASES.get(key.lower()) if form == "simple-order" else None
        if hint is None:
            close = difflib.get_close_matches(key.lower(), sorted(known), n=1, cutoff=0.6)
            hint = close[0] if close else None
        if hint is not None:
            message = f"unknown field in the {form} form; did you mean '{hint}'?"
        else:
            message = f"unknown field in the {form} form; accepted: {', '.join(sorted(known))}"
        errs.add(key, message)


def _parse_simple_form(body: dict[str, Any], errs: _Errors) -> _Parsed | None:
    before = len(errs)
    symbol = _text(body.get("symbol"), "symbol", errs)
    side = _enum(body.get("side"), "side", _SIDES, errs)
    venue = _text(body.get("venue"), "venue", errs, required=False)
    sandbox = _bool(body.get("sandbox"), "sandbox", errs) or _bool(body.get("is_sandbox"), "is_sandbox", errs)
    raw_qty, raw_notional = body.get("qty"), body.get("notional")
    qty: int | None = None
    usd: int | None = None
    if raw_qty is not None and raw_notional is not None:
        errs.add("qty", "give qty or notional, not both")
    elif raw_qty is not None:
        qty = _scaled(raw_qty, "qty", _QTY_SCALE, ROUND_DOWN, errs)
    elif raw_notional is not None:
        usd = _usd_1e9(raw_notional, "notional", errs, required=True)
    else:
        errs.add("qty", "is required (or notional in USD)")
    # Optional and checked against `price`: "limit" without a price must not become a market order.
    order_type = _enum(body.get("order_type"), "order_type", frozenset({"market", "limit"}), errs, required=False)
    if order_type == "limit" and body.get("price") is None:
        errs.add("order_type", "is 'limit' but no price was given")
    elif order_type == "market" and body.get("price") is not None:
        errs.add("order_type", "is 'market' but a price was given; send a limit as 'price' without order_type")
    limit_px: int | None = None
    if body.get("price") is not None:
        rounding = ROUND_DOWN if side == "buy" else ROUND_UP
        limit_px = _scaled(body["price"], "price", _PX_SCALE, rounding, errs)
    urgency = _enum(body.get("urgency"), "urgency", _URGENCIES, errs, required=False) or "medium"
    horizon_ms = _int(body.get("horizon_ms"), "horizon_ms", errs, minimum=1, required=False)
    kind = _enum(body.get("instrument_type"), "instrument_type", _TYPES, errs, required=False) or "spot"
    if len(errs) > before:
        return None
    policy, horizon_ms, num_slices = _urgency_policy(urgency, horizon_ms, None)
    assert symbol is not None and side is not None
    node = NodeSpec(
        node_id=SIMPLE_NODE_ID,
        instrument=instrument(symbol, kind, venue),
        side=side,
        qty_1e8=qty or 0,
        limit_px_1e9=limit_px,
        execution=ExecutionSpec(
            urgency=urgency,
            policy=policy,
            horizon_ms=horizon_ms,
            num_slices=num_slices,
        ),
        activation="root",
    )
    notional = {SIMPLE_NODE_ID: usd} if usd is not None else {}
    return (node,), (), sandbox, None, None, notional


# ---------------------------------------------------------------------------------------------
# Field helpers: each records a FieldError and returns None on a bad value
# ---------------------------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field_path: str, message: str) -> None:
        self.items.append(FieldError(field_path, message))

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"{value!r}"
    )


def _parse_graph_id(raw: object, errs: _Errors) -> str | None:
    return _ident(raw, "graph_id", _GRAPH_ID_RE, errs, required=False)


def _ident(raw: object, where: str, pattern: re.Pattern[str], errs: _Errors, *, required: bool = True) -> str | None:
    if raw is None:
        if required:
            errs.add(where, "is required")
        return None
    if not isinstance(raw, str) or not pattern.match(raw):
        errs.add(where, f"must match {pattern.pattern}, was {raw!r}")
        return None
    return raw


def _text(raw: object, where: str, errs: _Errors, *, required: bool = True) -> str | None:
    if raw is None:
        if required:
            errs.add(where, "is required")
        return None
    if not isinstance(raw, str) or not raw.strip():
        errs.add(where, f"must be a non-empty string, was {raw!r}")
        return None
    return raw


def _bool(raw: object, where: str, errs: _Errors) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        errs.add(where, f"must be true or false, was {raw!r}")
        return False
    return raw


def _enum(
    raw: object,
    where: str,
    allowed: frozenset[_Choice],
    errs: _Errors,
    *,
    required: bool = True,
    aliases: Mapping[str, str] | None = None,
) -> _Choice | None:
    if raw is None:
        if required:
            errs.add(where, "is required")
        return None
    if isinstance(raw, str):
        value = raw.casefold()
        value = (aliases or {}).get(value, value)
        for choice in allowed:  # the member itself, typed as the Literal it belongs to
            if choice == value:
                return choice
    errs.add(where, f"must be one of {'|'.join(sorted(allowed))}, was {raw!r}")
    return None


def _int(
    raw: object, where: str, errs: _Errors, *, minimum: int | None = None, required: bool = True
) -> int | None:
    if raw is None:
        if required:
            errs.add(where, "is required")
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        errs.add(where, f"must be an integer, was {raw!r}")
        return None
    if minimum is not None and raw < minimum:
        errs.add(where, f"must be >= {minimum}, was {raw}")
        return None
    return raw


def _decimal(raw: object, where: str, errs: _Errors) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        errs.add(where, f"must be a number, was {raw!r}")
        return None
    try:
        value = Decimal(str(raw).strip())  # str() of a float is its shortest repr: no binary noise
    except InvalidOperation:
        errs.add(where, f"must be a number, was {raw!r}")
        return None
    if not value.is_finite():
        errs.add(where, f"must be a finite number, was {raw!r}")
        return None
    return value


def _scaled(raw: object, where: str, scale: Decimal, rounding: str, errs: _Errors) -> int | None:
    value = _decimal(raw, where, errs)
    if value is None:
        return None
    if value <= 0:
        errs.add(where, f"must be > 0, was {raw!r}")
        return None
    scaled = int((value * scale).quantize(Decimal(1), rounding=rounding))
    if scaled <= 0:
        errs.add(where, f"rounds to 0 at 1e{len(str(scale)) - 1} scale, was {raw!r}")
        return None
    return scaled


def _usd_1e9(raw: object, where: str, errs: _Errors, *, required: bool) -> int | None:
    if raw is None:
        if required:
            errs.add(where, "is required")
        return None
    return _scaled(raw, where, _PX_SCALE, ROUND_DOWN, errs)
