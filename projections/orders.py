"""Durable read models of orders, fills and execution-graph status, folded from the LEDGER stream.

Run through `ProjectionRunner` (each batch commits with its stream position: exactly once, and
rebuildable from the log), inside the API process (services/api/app.py) or on its own as
`crossbook projection orders`. Graphs are folded with the graph engine's own `apply`, and the
documents are its `to_status_json` / `order_row`, so the view shows exactly the engine's state.

Served documents (keys `<tenant>/<sandbox|live>/...`, scoped like the positions view):
  graphs    `.../<graph_id>`        the Graph status object of GET /v1/execution_graphs/{id}
  orders    `.../<node_order_id>`   {row: Order row, rank: [graph's stream seq, node index]}
  fills     `.../<seq:020d>`        Fill row, keyed by the stream sequence of its FillRecorded
  tca       `.../<graph_id>/<seq:020d>`  {report, prediction}: a TcaReported of the tenant's graph
  plans     `.../<graph_id>/<seq:020d>`  a PlanMade of the tenant's graph
  trace     `.../<graph_id>/<seq:020d>`  {node_id}: the LEDGER sequence of an event of a node's
                                    lifecycle (node_id None: graph-wide), for GET /v1/traces
These are the history of a graph once it has left the API's hot, in-memory ledger
(projections/retention.py): reads of finished graphs come from here, per tenant.
The fold's own memory (not served):
  state     `<graph_id>`            {seq, state}: the GraphState, set fields sorted so a rebuild
                                    writes byte-identical documents
  fill_ids  `<fill_id or event_id>` {seq}: a venue fill seen again is listed once
  children  `<tenant>/<child_id>`   {venue}: the children allocated or submitted; a fill naming
                                    another child or venue is not listed (the positions view
                                    keeps it as refused, the risk writer records it)
  bad       `<seq:020d>`            {subject, error}: an event this view could not decode
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import msgspec

from events import AnyEvent
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
from events.venues import instrument_type_of, venue_id
from projections.positions import book
from projections.runner import ViewTx
from projections.store import Doc, ViewStore
from services.graph import GraphState, node_order_id, order_row, to_status_json
from services.graph import apply as apply_graph
from services.graph.state import graph_of, initial
from services.risk.account import fact_problem

NAME = "orders"
GRAPHS, ORDERS, FILLS = "graphs", "orders", "fills"
TCA, PLANS, TRACE = "tca", "plans", "trace"
# What a node's trace shows (GET /v1/traces): the graph's own events, and every event of the node.
GRAPH_WIDE = (GraphSubmitted, GraphPaused, GraphResumed, GraphCancelled, GraphCompleted)
PER_NODE = (
    NodeActivated, NodeAmended, NodeCancelled, NodeCompleted, RiskCheckPassed, RiskCheckRejected, PlanMade,
    ChildAllocated, ChildSubmitted, ChildAcked, ChildRejected, ChildCancelled, ChildAmended, FillRecorded,
    TcaReported,
)
STATE, FILL_IDS, BAD, CHILDREN = "state", "fill_ids", "bad", "children"


class OrdersProjection:
    name = NAME
    stream = "LEDGER"
    # Every LEDGER subject, like the API's in-memory ledger: the runner's position then tracks
    # the stream sequence exactly, which is what the API's reads wait on.
    subjects = [">"]
    # Like the in-memory ledger: an event we cannot decode is recorded and skipped, so one bad
    # message does not stop every order read.
    on_bad_event: Literal["halt", "record"] = "record"

    def __init__(self) -> None:
        # Graphs folded in the current batch, so a graph is not re-decoded for each of its
        # events: graph_id -> (the state doc we wrote, its GraphState). Reset with every batch;
        # a hit needs the very doc the batch holds, so a store reload always decodes afresh.
        self._batch: ViewTx | None = None
        self._decoded: dict[str, tuple[Doc, GraphState]] = {}

    def apply(self, tx: ViewTx, event: AnyEvent, seq: int) -> None:
        if isinstance(event, ChildAllocated | ChildSubmitted):
            _know(tx, event.tenant, event.child_id, event.venue)
        elif isinstance(event, PlanMade):
            for allocated in event.children:
                _know(tx, event.tenant, allocated.child_id, allocated.venue)
        if isinstance(event, FillRecorded):
            known = tx.get(CHILDREN, f"{event.tenant}/{event.child_id}")
            if fact_problem({event.child_id: known["venue"]} if known else {}, event) is not None:
                return  # a fill the ledger cannot place is neither listed nor folded into its graph
            self._fill(tx, event, seq)
        if isinstance(event, GraphSubmitted):
            if tx.get(STATE, event.graph_id) is None:  # a graph_id is taken once, by its first submission
                self._save(tx, seq, None, initial(event))
                self._history(tx, event, seq)
            return
        graph_id = graph_of(event)
        loaded = self._load(tx, graph_id) if graph_id else None
        if loaded is not None and loaded[1].tenant == event.tenant:
            self._history(tx, event, seq, loaded[1])
        if loaded is None:
            return
        graph_seq, state = loaded
        if state.owns(event):
            after = apply_graph(state, event)
            if after is not state:
                self._save(tx, graph_seq, state, after)

    def record_bad(self, tx: ViewTx, seq: int, subject: str, error: str) -> None:
        tx.put(BAD, f"{seq:020d}", {"subject": subject, "error": error})

    # --- folds ------------------------------------------------------------------------------
    @staticmethod
    def _history(tx: ViewTx, event: AnyEvent, seq: int, graph: GraphState | None = None) -> None:
        # Only events of the tenant's own graph (graph_ids are client-chosen: another tenant's
        # event naming it, written straight to the log, must not show in this graph's history).
        graph_id = getattr(event, "graph_id", "")
        tenant = event.tenant
        is_sandbox = graph.is_sandbox if graph is not None else bool(getattr(event, "is_sandbox", True))
        prefix = f"{tenant}/{book(is_sandbox)}/{graph_id}/{seq:020d}"
        if isinstance(event, GRAPH_WIDE):
            tx.put(TRACE, prefix, {"node_id": None})
        elif isinstance(event, PER_NODE) and getattr(event, "node_id", None):
            tx.put(TRACE, prefix, {"node_id": event.node_id})
        if isinstance(event, TcaReported):
            node = graph.nodes.get(event.node_id) if graph is not None else None
            prediction = node is not None and node.spec.instrument.type == "prediction"
            tx.put(TCA, prefix, {"report": msgspec.to_builtins(event), "prediction": prediction})
        elif isinstance(event, PlanMade):
            tx.put(PLANS, prefix, {"plan": msgspec.to_builtins(event)})

    @staticmethod
    def _fill(tx: ViewTx, fill: FillRecorded, seq: int) -> None:
        # The risk account's and positions view's dedup key: the venue trade id, else the event id.
        dedup = fill.fill_id or fill.event_id
        if tx.get(FILL_IDS, dedup) is not None:
            return
        tx.put(FILL_IDS, dedup, {"seq": seq})
        tx.put(
            FILLS,
            f"{fill.tenant}/{book(fill.is_sandbox)}/{seq:020d}",
            {
                "fill_id": fill.fill_id,
                "node_order_id": node_order_id(fill.graph_id, fill.node_id, 1),
                "graph_id": fill.graph_id,
                "symbol": fill.symbol,
                "instrument_type": instrument_type_of(venue_id(fill.venue), fill.symbol),
                "side": fill.side,
                "venue": venue_id(fill.venue),  # an old perp venue id (binance_usdm) shows as its exchange
                "qty_1e8": fill.qty_1e8,
                "price_1e9": fill.px_1e9,
                "fee_usd_1e9": fill.fee_usd_1e9,
                "liquidity": fill.liquidity,
                "is_sandbox": fill.is_sandbox,
                "ts_ns": fill.ts_event_ns or fill.ts_ns,
            },
        )

    def _memo(self, tx: ViewTx) -> dict[str, tuple[Doc, GraphState]]:
        if tx is not self._batch:
            self._batch, self._decoded = tx, {}
        return self._decoded

    def _load(self, tx: ViewTx, graph_id: str) -> tuple[int, GraphState] | None:
        doc = tx.get(STATE, graph_id)
        if doc is None:
            return None
        hit = self._memo(tx).get(graph_id)
        if hit is not None and hit[0] is doc:
            return doc["seq"], hit[1]
        return doc["seq"], msgspec.convert(doc["state"], GraphState)

    def _save(self, tx: ViewTx, graph_seq: int, before: GraphState | None, after: GraphState) -> None:
        doc = {"seq": graph_seq, "state": state_doc(after)}
        tx.put(STATE, after.graph_id, doc)
        self._memo(tx)[after.graph_id] = (doc, after)
        prefix = f"{after.tenant}/{book(after.is_sandbox)}"
        tx.put(GRAPHS, f"{prefix}/{after.graph_id}", to_status_json(after))
        for index, (node_id, node) in enumerate(after.nodes.items()):
            if before is None or before.nodes.get(node_id) != node:  # a row shows only its node and the graph's ids
                row = order_row(after, node_id)
                tx.put(ORDERS, f"{prefix}/{row['node_order_id']}", {"row": row, "rank": [graph_seq, index]})


def _know(tx: ViewTx, tenant: str, child_id: str, venue: str) -> None:
    key = f"{tenant}/{child_id}"
    if tx.get(CHILDREN, key) is None:
        tx.put(CHILDREN, key, {"venue": venue})


def state_doc(state: GraphState) -> Doc:
    """The GraphState as plain data; its sets become sorted lists (their iteration order depends
    on insertion history and the hash seed, and a rebuild must write the same documents)."""
    doc: Doc = msgspec.to_builtins(state)
    doc["fill_ids"].sort()
    doc["seen_event_ids"].sort()
    for node in doc["nodes"].values():
        node["open_children"].sort()
    return doc


# --- reads (blocking: the API runs them in a thread) -----------------------------------------
def books(sandbox_only: bool) -> tuple[str, ...]:
    """The books a caller sees: a seq_test_ key only the sandbox, a live key both."""
    return ("sandbox",) if sandbox_only else ("sandbox", "live")


def _find(store: ViewStore, collection: str, tenant: str, sandbox_only: bool, name: str) -> Doc | None:
    if "\x00" in name:  # no stored key holds NUL (and PostgreSQL text cannot)
        return None
    for b in books(sandbox_only):
        doc = store.load(NAME, collection, f"{tenant}/{b}/{name}")
        if doc is not None:
            return doc
    return None


def _scan(store: ViewStore, collection: str, tenant: str, sandbox_only: bool) -> Iterable[tuple[str, Doc]]:
    for b in books(sandbox_only):
        yield from store.scan(NAME, collection, f"{tenant}/{b}/")


def graph_status(store: ViewStore, tenant: str, sandbox_only: bool, graph_id: str) -> Doc | None:
    """The caller's graph status, or None (unknown, or another tenant's, or live for a test key)."""
    return _find(store, GRAPHS, tenant, sandbox_only, graph_id)


def order(store: ViewStore, tenant: str, sandbox_only: bool, order_id: str) -> Doc | None:
    """The caller's Order row by node_order_id (a leading `graph:` is accepted), or None."""
    found = _find(store, ORDERS, tenant, sandbox_only, order_id.removeprefix("graph:"))
    return None if found is None else found["row"]


def page(name: str, rows: list[Doc], limit: int, offset: int) -> dict[str, Any]:
    return {
        name: rows[offset : offset + limit],
        "total": len(rows),
        "limit": limit,
        "offset": offset,
        "has_more": offset + limit < len(rows),
    }


def orders_page(
    store: ViewStore,
    tenant: str,
    sandbox_only: bool,
    *,
    limit: int,
    offset: int,
    symbol: str | None = None,
    node_order_id: str | None = None,
) -> dict[str, Any]:
    """The caller's orders, newest first (ties: submission order), filtered and paged."""
    if node_order_id:
        found = order(store, tenant, sandbox_only, node_order_id)
        rows = [] if found is None else [found]
    else:
        docs = [d for _, d in _scan(store, ORDERS, tenant, sandbox_only)]
        docs.sort(key=lambda d: (-d["row"]["created_ns"], d["rank"]))
        rows = [d["row"] for d in docs]
    if symbol:
        rows = [r for r in rows if r["symbol"] == symbol]
    return page("orders", rows, limit, offset)


def _graph_scan(
    store: ViewStore, collection: str, tenant: str, sandbox_only: bool, graph_id: str | None
) -> list[tuple[int, Doc]]:
    # (LEDGER sequence, doc), in log order: of one graph, or of all the tenant's graphs.
    found: list[tuple[int, Doc]] = []
    for b in books(sandbox_only):
        prefix = f"{tenant}/{b}/" + (f"{graph_id}/" if graph_id is not None else "")
        found.extend((int(k.rsplit("/", 1)[1]), d) for k, d in store.scan(NAME, collection, prefix))
    found.sort(key=lambda sd: sd[0])
    return found


def tca_reports(
    store: ViewStore, tenant: str, sandbox_only: bool, graph_id: str | None = None
) -> list[tuple[TcaReported, bool]]:
    """The caller's TCA reports (of one graph, or all), oldest first, each with whether its
    instrument is a prediction market."""
    return [
        (msgspec.convert(d["report"], TcaReported), d["prediction"])
        for _, d in _graph_scan(store, TCA, tenant, sandbox_only, graph_id)
    ]


def plans(store: ViewStore, tenant: str, sandbox_only: bool, graph_id: str) -> list[PlanMade]:
    """The SOR's plans for the caller's graph, oldest first."""
    return [msgspec.convert(d["plan"], PlanMade) for _, d in _graph_scan(store, PLANS, tenant, sandbox_only, graph_id)]


def trace_seqs(store: ViewStore, tenant: str, sandbox_only: bool, graph_id: str, node_id: str) -> list[int]:
    """The LEDGER sequences of a node's trace (graph-wide events included), in log order."""
    return [
        seq for seq, d in _graph_scan(store, TRACE, tenant, sandbox_only, graph_id) if d["node_id"] in (None, node_id)
    ]


def order_count(store: ViewStore, tenant: str, sandbox_only: bool) -> int:
    """How many order rows (nodes) the caller has."""
    return sum(1 for _ in _scan(store, ORDERS, tenant, sandbox_only))


def fills_of(store: ViewStore, tenant: str, sandbox_only: bool, graph_id: str | None = None) -> list[Doc]:
    """The caller's fill rows (of one graph, or all), in log order."""
    keyed = [(k.rsplit("/", 1)[1], d) for k, d in _scan(store, FILLS, tenant, sandbox_only)]
    keyed.sort(key=lambda kd: kd[0])
    return [d for _, d in keyed if graph_id is None or d["graph_id"] == graph_id]


def graph_state(store: ViewStore, graph_id: str) -> GraphState | None:
    """The fold's whole state of a graph (any tenant's: the caller checks visibility)."""
    doc = store.load(NAME, STATE, graph_id) if "\x00" not in graph_id else None
    return None if doc is None else msgspec.convert(doc["state"], GraphState)


def fills_page(
    store: ViewStore, tenant: str, sandbox_only: bool, *, limit: int, offset: int, symbol: str | None = None
) -> dict[str, Any]:
    """The caller's fills, newest first (by stream sequence), filtered and paged."""
    keyed = [(k.rsplit("/", 1)[1], d) for k, d in _scan(store, FILLS, tenant, sandbox_only)]
    keyed.sort(key=lambda kd: kd[0], reverse=True)
    rows = [d for _, d in keyed if symbol is None or d["symbol"] == symbol]
    return page("fills", rows, limit, offset)
