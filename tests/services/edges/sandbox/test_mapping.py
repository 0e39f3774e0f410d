"""services/edges/sandbox/mapping.py: outcomes become the same execution events as live fills."""

from __future__ import annotations

from typing import TypedDict

from events import decode, encode
from events.execution import (
    BalanceAdjusted,
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    FillRecorded,
)
from services.edges.sandbox.balances import Grant
from services.edges.sandbox.mapping import ChildRef, grant_event, to_event
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected

REF = ChildRef("child-1", "graph-1", "node-1", "okx", tenant="t1")


class Envelope(TypedDict):
    event_id: str
    ts_ns: int
    tenant: str
    causation_id: str | None
    correlation_id: str | None


ENV = Envelope(event_id="e1", ts_ns=9, tenant="t1", causation_id="cause", correlation_id=None)


def convert(outcome: Acked | Filled | Rejected | Cancelled | Amended) -> object:
    return to_event(outcome, REF, event_id="e1", ts_ns=9, causation_id="cause")


def test_fill_maps_to_a_sandbox_fill_recorded() -> None:
    out = convert(Filled("c", "v", "v-f1", "BTC-USDT", "buy", 2, 3, 4, "maker", 5, fee_asset="USDT", fee_qty_1e8=1))
    assert out == FillRecorded(
        **ENV,
        fill_id="v-f1",
        child_id="child-1",
        client_order_id="c",
        graph_id="graph-1",
        node_id="node-1",
        venue="okx",
        symbol="BTC-USDT",
        side="buy",
        qty_1e8=2,
        px_1e9=3,
        fee_usd_1e9=4,
        liquidity="maker",
        is_sandbox=True,
        ts_event_ns=5,
        venue_order_id="v",
        fee_asset="USDT",
        fee_qty_1e8=1,
    )
    assert decode(encode(out)) == out


def test_acks_rejects_cancels_and_amends_map_field_for_field() -> None:
    # Every child reply names its graph and node, so no reader needs a child -> graph map.
    owner = {"graph_id": "graph-1", "node_id": "node-1"}
    assert convert(Acked("c", "v", 5)) == ChildAcked(
        **ENV, **owner, child_id="child-1", venue="okx", client_order_id="c", venue_order_id="v", ts_event_ns=5
    )
    assert convert(Rejected("c", "stale_book", "why", 5)) == ChildRejected(
        **ENV, **owner, child_id="child-1", venue="okx", client_order_id="c", code="stale_book", message="why"
    )
    assert convert(Cancelled("c", "v", 1, 2, "ioc_remainder", 5)) == ChildCancelled(
        **ENV,
        **owner,
        child_id="child-1",
        venue="okx",
        client_order_id="c",
        filled_qty_1e8=1,
        cancelled_qty_1e8=2,
        reason="ioc_remainder",
    )
    assert convert(Amended("c", "v", 7, 8, "cancel_replace", "c2", 5)) == ChildAmended(
        **ENV,
        **owner,
        child_id="child-1",
        venue="okx",
        client_order_id="c",
        new_qty_1e8=7,
        new_limit_px_1e9=8,
        mode="cancel_replace",
        new_client_order_id="c2",
    )


def test_grant_maps_to_paper_funding_balance_adjustment() -> None:
    out = grant_event(Grant("okx", "USDT", 11), event_id="e2", ts_ns=3, tenant="t1")
    assert out == BalanceAdjusted(
        event_id="e2",
        ts_ns=3,
        tenant="t1",
        venue="okx",
        asset="USDT",
        delta_qty_1e8=11,
        reason="paper_funding",
        is_sandbox=True,
    )
