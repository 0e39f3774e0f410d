"""Test fills need children the ledger knows: a fill naming a child never allocated or submitted
is refused by every fold (issue #17, item 0). `with_children` puts the executor's
`ChildSubmitted` for each fill's child before its first fill."""

from __future__ import annotations

from collections.abc import Iterable

from events import AnyEvent
from events.execution import ChildSubmitted, FillRecorded
from events.ids import derive_id


def child_of(fill: FillRecorded) -> ChildSubmitted:
    return ChildSubmitted(
        event_id=derive_id("test_child", fill.tenant, fill.child_id, fill.venue), ts_ns=fill.ts_ns, tenant=fill.tenant,
        child_id=fill.child_id, client_order_id=fill.client_order_id, graph_id=fill.graph_id, node_id=fill.node_id,
        venue=fill.venue, symbol=fill.symbol, side=fill.side, qty_1e8=fill.qty_1e8, limit_px_1e9=None,
    )


def with_children(events: Iterable[AnyEvent]) -> list[AnyEvent]:
    out: list[AnyEvent] = []
    known: set[tuple[str, str]] = set()
    for event in events:
        if isinstance(event, FillRecorded) and (event.tenant, event.child_id) not in known:
            known.add((event.tenant, event.child_id))
            out.append(child_of(event))
        out.append(event)
    return out
