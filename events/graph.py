"""Execution graphs: a parent order is a graph of nodes joined by triggered edges.

Subject `ord.<tenant>.<graph_id>`; the graph engine is the single writer of each graph.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event, Side
from events.venues import InstrumentType

Policy = Literal["sor", "aggressive_chase", "passive", "twap", "vwap", "iceberg"]
Urgency = Literal["low", "medium", "high"]
Tif = Literal["gtc", "ioc", "fok", "day"]
Trigger = Literal["on_fill", "on_fill_ratio", "on_timeout", "on_cancel", "on_reject"]
NodeFinalStatus = Literal["FILLED", "CANCELLED", "REJECTED", "FAILED", "EXPIRED"]


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    type: InstrumentType = "spot"
    venue: str | None = None  # None = route with the SOR; a name pins the venue


class ExecutionSpec(msgspec.Struct, frozen=True, kw_only=True):
    urgency: Urgency = "medium"
    policy: Policy = "sor"
    max_slippage_bps: int | None = None
    horizon_ms: int | None = None
    tif: Tif = "gtc"
    num_slices: int | None = None  # TWAP/VWAP slice count (None = derived from horizon)
    randomize_pct: int = 0  # TWAP slice-size jitter, percent
    display_qty_1e8: int | None = None  # iceberg visible size


class NodeSpec(msgspec.Struct, frozen=True, kw_only=True):
    node_id: str
    instrument: Instrument
    side: Side
    qty_1e8: int
    limit_px_1e9: int | None = None  # None = market
    execution: ExecutionSpec = ExecutionSpec()
    activation: Literal["root", "wait"] = "root"


class EdgeSpec(msgspec.Struct, frozen=True, kw_only=True):
    edge_id: str
    from_node: str
    to_node: str
    trigger: Trigger = "on_fill"
    fill_ratio_gte_bps: int | None = None  # on_fill_ratio threshold in basis points of qty
    after_ms: int | None = None  # on_timeout delay


class GraphSubmitted(Event, frozen=True, kw_only=True, tag="ord.graph_submitted.v1"):
    graph_id: str
    nodes: list[NodeSpec]
    edges: list[EdgeSpec]
    is_sandbox: bool
    body_sha256: str  # idempotency: same graph_id + same body = same graph
    max_notional_usd_1e9: int | None = None
    max_loss_usd_1e9: int | None = None


class NodeActivated(Event, frozen=True, kw_only=True, tag="ord.node_activated.v1"):
    graph_id: str
    node_id: str
    node_order_id: str
    fired_edge_id: str | None = None


class NodeAmended(Event, frozen=True, kw_only=True, tag="ord.node_amended.v1"):
    graph_id: str
    node_id: str
    new_qty_1e8: int | None
    new_limit_px_1e9: int | None
    mode: Literal["native_atomic", "cancel_replace"]


class NodeCompleted(Event, frozen=True, kw_only=True, tag="ord.node_completed.v1"):
    graph_id: str
    node_id: str
    status: NodeFinalStatus
    filled_qty_1e8: int
    avg_fill_px_1e9: int | None
    reason: str | None = None


class NodeCancelled(Event, frozen=True, kw_only=True, tag="ord.node_cancelled.v1"):
    graph_id: str
    node_id: str
    reason: str


class GraphCompleted(Event, frozen=True, kw_only=True, tag="ord.graph_completed.v1"):
    graph_id: str
    status: Literal["COMPLETED", "FAILED", "REJECTED"]
    reason: str | None = None


class GraphCancelled(Event, frozen=True, kw_only=True, tag="ord.graph_cancelled.v1"):
    graph_id: str
    reason: str


class GraphPaused(Event, frozen=True, kw_only=True, tag="ord.graph_paused.v1"):
    graph_id: str
    reason: str


class GraphResumed(Event, frozen=True, kw_only=True, tag="ord.graph_resumed.v1"):
    graph_id: str


GRAPH_EVENTS = (
    GraphSubmitted,
    NodeActivated,
    NodeAmended,
    NodeCompleted,
    NodeCancelled,
    GraphCompleted,
    GraphCancelled,
    GraphPaused,
    GraphResumed,
)
