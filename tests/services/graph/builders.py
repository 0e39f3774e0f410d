"""Small builders shared by the graph tests: deterministic ids, bodies and execution events."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from events.base import Event
from events.execution import ChildCancelled, ChildRejected, FillRecorded
from events.routing import Allocation, ChildAllocated, PlanMade
from services.graph.engine import submit
from services.graph.schema import parse_order_body
from services.graph.state import GraphState

T0 = 1_700_000_000_000_000_000  # virtual clock start (ns)
BTC_PX = 65_000_000_000_000


class Ids:
    """A deterministic new_id: UUIDs 1, 2, 3, ..."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return str(uuid.UUID(int=next(self._counter)))


def node(node_id: str, qty_1e8: int = 100, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "node_id": node_id,
        "instrument": {"symbol": "BTC-USD", "type": "spot", "venue": None},
        "side": "buy",
        "order_type": "market",
        "quantity": {"fixed": {"qty_1e8": qty_1e8}},
        "execution": {},
    }
    raw.update(overrides)
    return raw


def edge(src: str, dst: str, trigger: str = "on_fill", condition: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"edge_id": f"e_{src}_{dst}", "from_node": src, "to_node": dst, "trigger": trigger, "condition": condition}


def start(body: dict[str, Any], ids: Ids, now_ns: int = T0, tenant: str = "acme") -> tuple[GraphState, list[Event]]:
    body = {"graph_id": "g1", **body}
    return submit(parse_order_body(body, ids), tenant=tenant, now_ns=now_ns, new_id=ids)


def fill(
    node_id: str,
    qty_1e8: int,
    px_1e9: int = BTC_PX,
    *,
    fill_id: str,
    child_id: str = "c1",
    graph_id: str = "g1",
    ts_ns: int = T0 + 1,
    fee_usd_1e9: int = 0,
) -> FillRecorded:
    return FillRecorded(
        event_id=f"ev-{fill_id}",
        ts_ns=ts_ns,
        fill_id=fill_id,
        child_id=child_id,
        client_order_id=f"co-{child_id}",
        graph_id=graph_id,
        node_id=node_id,
        venue="kraken",
        symbol="BTC-USD",
        side="buy",
        qty_1e8=qty_1e8,
        px_1e9=px_1e9,
        fee_usd_1e9=fee_usd_1e9,
        liquidity="taker",
        is_sandbox=False,
    )


def plan(node_id: str, allocations: list[tuple[str, int]], *, ts_ns: int = T0 + 1) -> PlanMade:
    return PlanMade(
        event_id=f"plan-{node_id}-{ts_ns}",
        ts_ns=ts_ns,
        plan_id=f"p-{node_id}",
        graph_id="g1",
        node_id=node_id,
        symbol="BTC-USD",
        side="buy",
        qty_1e8=sum(q for _, q in allocations),
        allocations=[
            Allocation(venue=v, qty_1e8=q, est_avg_px_1e9=BTC_PX, worst_px_1e9=BTC_PX, fee_bps=10.0, est_cost_usd_1e9=0)
            for v, q in allocations
        ],
        arrival_mid_px_1e9=BTC_PX,
        expected_avg_px_1e9=BTC_PX,
        expected_slippage_bps=0.0,
        expected_cost_usd_1e9=0,
        best_single_venue=None,
        best_single_venue_cost_usd_1e9=None,
    )


def allocated(node_id: str, child_id: str, qty_1e8: int, *, ts_ns: int = T0 + 1) -> ChildAllocated:
    return ChildAllocated(
        event_id=f"alloc-{child_id}",
        ts_ns=ts_ns,
        plan_id=f"p-{node_id}",
        graph_id="g1",
        node_id=node_id,
        child_id=child_id,
        client_order_id=f"co-{child_id}",
        venue="kraken",
        symbol="BTC-USD",
        side="buy",
        qty_1e8=qty_1e8,
        order_type="market",
        limit_px_1e9=None,
        tif="ioc",
        is_sandbox=False,
    )


def rejected(child_id: str, code: str = "INSUFFICIENT_BALANCE", *, ts_ns: int = T0 + 2) -> ChildRejected:
    return ChildRejected(event_id=f"rej-{child_id}", ts_ns=ts_ns, child_id=child_id, venue="kraken",
                         client_order_id=f"co-{child_id}", code=code, message="no funds")


def cancelled(child_id: str, filled: int = 0, left: int = 0, *, ts_ns: int = T0 + 2) -> ChildCancelled:
    return ChildCancelled(event_id=f"cxl-{child_id}", ts_ns=ts_ns, child_id=child_id, venue="kraken",
                          client_order_id=f"co-{child_id}", filled_qty_1e8=filled, cancelled_qty_1e8=left,
                          reason="venue expired")
