"""The one rule both executors (sandbox and live) apply to a cancelled node or graph:

* a child allocated after its node (or graph) was cancelled is never sent: it is rejected
  `node_cancelled` (`CancelledNodes.covers` + `refusal`);
* a child already sent is pulled at the venue as soon as the venue's order is known, including
  one the venue acknowledges only after the cancel (the live executor holds the cancel until then).
"""

from __future__ import annotations

from events.graph import GraphCancelled, NodeCancelled
from services.edges.sandbox.orders import Rejected


class CancelledNodes:
    """(graph id, node id) pairs cancelled on the log; node id None = the whole graph."""

    def __init__(self) -> None:
        self.pairs: set[tuple[str, str | None]] = set()

    def read(self, event: NodeCancelled | GraphCancelled) -> tuple[str, str | None]:
        pair = (event.graph_id, event.node_id if isinstance(event, NodeCancelled) else None)
        self.pairs.add(pair)
        return pair

    def covers(self, graph_id: str, node_id: str) -> bool:
        return (graph_id, None) in self.pairs or (graph_id, node_id) in self.pairs

    def forget(self, graph_id: str, node_ids: tuple[str, ...] = ()) -> None:
        self.pairs.discard((graph_id, None))
        for node_id in node_ids:
            self.pairs.discard((graph_id, node_id))


def refusal(client_order_id: str, node_id: str, now_ns: int) -> Rejected:
    return Rejected(client_order_id, "node_cancelled", f"node {node_id} was cancelled before this child was sent",
                    now_ns)
