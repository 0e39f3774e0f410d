"""The nanosecond lifecycle of one order (node), for GET /v1/traces.

Source: an index of LEDGER stream sequences, kept per node (and per graph for graph-wide events)
by the API's ledger follower, and the events themselves read back by sequence when asked.

Why not a `bus.replay` of the graph's subjects: only `ord.<tenant>.<graph>` and
`route.<tenant>.<graph>` are per graph. Risk verdicts (`risk.<tenant>.acct`) and child
lifecycle and fills (`exec.<venue>.<tenant>`) are per tenant, so a replay would read every
later event of the tenant: unbounded for an old order of a busy tenant. Why not keep the rendered
rows in memory: a row is ~200 bytes, a sequence 8 (an `array('q')`). So memory is 8 bytes per
traced event (the in-memory ledger already holds far more per event), and a read is
`limit` direct message gets: bounded by the page, whatever the order's age. The log stays the
one source: the rows are rendered from the very events the engine acted on.

Stages, in log order: accepted (GraphSubmitted), activated, risk_passed / risk_rejected, planned
(PlanMade), child_allocated / child_submitted / child_acked / child_rejected / child_cancelled /
child_amended, fill, amended, cancelled, completed (NodeCompleted), tca_reported, and the
graph-wide graph_paused / graph_resumed / graph_cancelled / graph_completed. `ts_ns` is each
event's own `ts_ns` (its writer's clock), so latency per hop is a difference of two rows.
"""

from __future__ import annotations

import asyncio
import heapq
from array import array
from collections.abc import Iterable
from typing import Any

import nats.errors
import nats.js.errors

from events import AnyEvent, EventDecodeError, decode
from events.execution import (
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    ChildSubmitted,
    FillRecorded,
)
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
from events.risk import RiskCheckPassed, RiskCheckRejected
from events.routing import ChildAllocated, PlanMade
from events.tca import TcaReported
from projections.ledger import LedgerView
from projections.orders import GRAPH_WIDE, PER_NODE
from services.graph import GraphState
from services.bus import Bus
from services.errors import BusError

FETCH_CONCURRENCY = 16  # direct gets in flight per read


class TraceIndex:
    """LEDGER sequences per node and per graph. Fed after `LedgerView.apply` of the same event
    (ownership is checked against the ledger's graphs); every per-node event names its node."""

    def __init__(self, ledger: LedgerView) -> None:
        self.ledger = ledger
        self.graph_seqs: dict[str, array[int]] = {}
        self.node_seqs: dict[tuple[str, str], array[int]] = {}

    def apply(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, GRAPH_WIDE):
            if self._owned(event.graph_id, event):
                self.graph_seqs.setdefault(event.graph_id, array("q")).append(seq)
            return
        if not isinstance(event, PER_NODE):
            return
        key = self._node_of(event)
        if key is not None:
            self.node_seqs.setdefault(key, array("q")).append(seq)

    def _node_of(self, event: AnyEvent) -> tuple[str, str] | None:
        graph_id = getattr(event, "graph_id", None)
        node_id = getattr(event, "node_id", None)
        if not graph_id or not node_id or not self._owned(graph_id, event):
            return None
        return graph_id, node_id

    def _owned(self, graph_id: str, event: AnyEvent) -> bool:
        # graph_ids are client-chosen: an event of another tenant naming this graph_id (written
        # straight to the log) must never show in this graph's trace.
        graph = self.ledger.graphs.get(graph_id)
        return graph is not None and graph.tenant == event.tenant

    def forget(self, graph: GraphState) -> None:
        """The graph left the ledger view: its trace is read from the durable view from now on."""
        self.graph_seqs.pop(graph.graph_id, None)
        for node_id in graph.nodes:
            self.node_seqs.pop((graph.graph_id, node_id), None)

    def seqs(self, graph_id: str, node_id: str) -> list[int]:
        """The node's trace as LEDGER sequences, in log order (graph-wide events included)."""
        graph = self.graph_seqs.get(graph_id, array("q"))
        node = self.node_seqs.get((graph_id, node_id), array("q"))
        return list(heapq.merge(graph, node))


async def fetch(bus: Bus, stream: str, seqs: Iterable[int]) -> list[tuple[int, AnyEvent]]:
    """Read events back by stream sequence, in the order given; a deleted message is skipped."""
    gate = asyncio.Semaphore(FETCH_CONCURRENCY)

    async def one(seq: int) -> tuple[int, AnyEvent] | None:
        async with gate:
            try:
                msg = await bus.js.get_msg(stream, seq)
            except nats.js.errors.NotFoundError:
                return None
            except (nats.errors.Error, nats.js.errors.Error, OSError) as exc:
                raise BusError(f"cannot read {stream} seq {seq}: {exc!r}") from exc
        try:
            return seq, decode(msg.data or b"")
        except EventDecodeError:
            return None

    got = await asyncio.gather(*(one(s) for s in seqs))
    return [g for g in got if g is not None]


def rows(events: list[tuple[int, AnyEvent]]) -> list[dict[str, Any]]:
    """Render events as trace rows; an event or fill seen twice in the log (a redelivery outside
    the dedup window, a venue replaying a fill) is shown once, as the graph folds it once."""
    seen: set[str] = set()
    out = []
    for seq, event in events:
        key = f"fill:{event.fill_id}" if isinstance(event, FillRecorded) else event.event_id
        if key in seen:
            continue
        seen.add(key)
        out.append({"ts_ns": event.ts_ns, "seq": seq, **render(event)})
    return out


def _px(px_1e9: int | None) -> str:
    return "market" if px_1e9 is None else f"limit px_1e9={px_1e9}"


def render(event: AnyEvent) -> dict[str, Any]:  # noqa: C901 - one arm per event type
    """`stage` and `detail` of one event, plus its venue, child, qty and price where it has them."""
    row: dict[str, Any] = {"venue": None, "child_id": None, "qty_1e8": None, "px_1e9": None}
    match event:
        case GraphSubmitted():
            nodes = ", ".join(
                f"{n.node_id}: {n.side} qty_1e8={n.qty_1e8} {n.instrument.symbol} {_px(n.limit_px_1e9)} "
                f"{n.execution.policy}" for n in event.nodes
            )
            book = "sandbox" if event.is_sandbox else "live"
            stage, detail = "accepted", f"graph {event.graph_id} accepted ({book}): {nodes}"
        case NodeActivated():
            how = f"edge {event.fired_edge_id} fired" if event.fired_edge_id else "root node"
            stage, detail = "activated", f"{event.node_order_id} activated ({how})"
        case RiskCheckPassed():
            stage = "risk_passed"
            detail = f"risk passed: notional_usd_1e9={event.notional_usd_1e9}, {len(event.reservations)} reservation(s)"
        case RiskCheckRejected():
            stage, detail = "risk_rejected", f"risk rejected: {event.code}: {event.message}"
        case PlanMade():
            legs = ", ".join(f"{a.venue} qty_1e8={a.qty_1e8} est_px_1e9={a.est_avg_px_1e9}" for a in event.allocations)
            stage = "planned"
            detail = (
                f"plan {event.plan_id}: {event.side} qty_1e8={event.qty_1e8} {event.symbol} -> [{legs or 'no venue'}]; "
                f"arrival_mid_px_1e9={event.arrival_mid_px_1e9} unroutable_qty_1e8={event.unroutable_qty_1e8}"
            )
            row["qty_1e8"] = event.qty_1e8
        case ChildAllocated():
            stage = "child_allocated"
            detail = (
                f"child {event.child_id} -> {event.venue}: {event.side} qty_1e8={event.qty_1e8} "
                f"{_px(event.limit_px_1e9)} {event.tif}"
            )
            row.update(venue=event.venue, child_id=event.child_id, qty_1e8=event.qty_1e8, px_1e9=event.limit_px_1e9)
        case ChildSubmitted():
            stage = "child_submitted"
            detail = f"child {event.child_id} sent to {event.venue}: qty_1e8={event.qty_1e8} {_px(event.limit_px_1e9)}"
            row.update(venue=event.venue, child_id=event.child_id, qty_1e8=event.qty_1e8, px_1e9=event.limit_px_1e9)
        case ChildAcked():
            stage = "child_acked"
            detail = f"child {event.child_id} acked by {event.venue}: venue order {event.venue_order_id}"
            row.update(venue=event.venue, child_id=event.child_id)
        case ChildRejected():
            stage = "child_rejected"
            detail = f"child {event.child_id} rejected by {event.venue}: {event.code}: {event.message}"
            row.update(venue=event.venue, child_id=event.child_id)
        case ChildCancelled():
            stage = "child_cancelled"
            detail = (
                f"child {event.child_id} cancelled at {event.venue}: filled_qty_1e8={event.filled_qty_1e8} "
                f"cancelled_qty_1e8={event.cancelled_qty_1e8} ({event.reason})"
            )
            row.update(venue=event.venue, child_id=event.child_id, qty_1e8=event.cancelled_qty_1e8)
        case ChildAmended():
            stage = "child_amended"
            detail = (
                f"child {event.child_id} amended at {event.venue} ({event.mode}): qty_1e8={event.new_qty_1e8} "
                f"{_px(event.new_limit_px_1e9)}"
            )
            row.update(
                venue=event.venue, child_id=event.child_id, qty_1e8=event.new_qty_1e8, px_1e9=event.new_limit_px_1e9
            )
        case FillRecorded():
            stage = "fill"
            detail = (
                f"fill {event.fill_id} on {event.venue}: {event.side} qty_1e8={event.qty_1e8} px_1e9={event.px_1e9} "
                f"fee_usd_1e9={event.fee_usd_1e9} {event.liquidity}"
            )
            row.update(venue=event.venue, child_id=event.child_id, qty_1e8=event.qty_1e8, px_1e9=event.px_1e9)
        case NodeAmended():
            stage = "amended"
            detail = (
                f"amended ({event.mode}): new_qty_1e8={event.new_qty_1e8} new_limit_px_1e9={event.new_limit_px_1e9}"
            )
        case NodeCancelled():
            stage, detail = "cancelled", f"cancelled: {event.reason}"
        case NodeCompleted():
            stage = "completed"
            detail = (
                f"{event.status}: filled_qty_1e8={event.filled_qty_1e8} avg_fill_px_1e9={event.avg_fill_px_1e9}"
                + (f" ({event.reason})" if event.reason else "")
            )
            row.update(qty_1e8=event.filled_qty_1e8, px_1e9=event.avg_fill_px_1e9)
        case TcaReported():
            hops = ", ".join(f"{h.hop}={h.ns}ns" for h in event.latencies)
            stage = "tca_reported"
            detail = (
                f"achieved_vwap_1e9={event.achieved_vwap_1e9} arrival_mid_px_1e9={event.arrival_mid_px_1e9} "
                f"slippage_bps={event.slippage_ppm / 100:.2f}; {hops}"
            )
        case GraphPaused():
            stage, detail = "graph_paused", f"graph paused: {event.reason}"
        case GraphResumed():
            stage, detail = "graph_resumed", "graph resumed"
        case GraphCancelled():
            stage, detail = "graph_cancelled", f"graph cancelled: {event.reason}"
        case GraphCompleted():
            stage, detail = "graph_completed", f"graph {event.status}" + (f": {event.reason}" if event.reason else "")
        case _:
            stage, detail = type(event).__name__, ""
    return {"stage": stage, "detail": detail, **row}
