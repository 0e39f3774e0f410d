"""A node cancelled while its live child is on its way to the venue: the order must not stay open
there (real nats-server, real vault, the local Binance server over real sockets)."""

from __future__ import annotations

from events.execution import ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted
from events.graph import NodeCancelled
from events.ids import new_event_id
from services.bus import Bus
from services.edges.live.service import LiveExecutor
from services.edges.live.venues import ORDERS
from services.vault import Vault
from tests.services.edges.live.test_live_executor import (  # noqa: F401 - fixtures
    PX,
    Q,
    TENANT,
    Ledger,
    Venues,
    child,
    ended,
    executor,
    ledger,
    vault,
    venues,
)


def cancel_node(graph_id: str, node_id: str) -> NodeCancelled:
    return NodeCancelled(event_id=new_event_id(), ts_ns=3, tenant=TENANT, graph_id=graph_id, node_id=node_id,
                         reason="user")


async def test_a_cancel_before_the_venue_has_the_order_is_held_until_it_lands_then_sent(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    # The new order times out on its way (the venue takes it only later); the node is cancelled
    # meanwhile; the lookup finds nothing. The order then lands and rests: it must be cancelled,
    # not left open at the venue with a ChildCancelled on the ledger.
    server = venues.state["binance"]
    server.late_orders = 1
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, http_timeout_s=0.5)
    await ex.start()
    try:
        alloc = child("binance", tif="gtc", px=49_500 * PX, qty=Q)  # would rest
        coid = alloc.client_order_id
        client_id = ORDERS["binance"]().client_id(coid)
        await bus.publish(alloc)
        await ledger.wait(lambda: bool(ledger.of(ChildSubmitted, coid)))
        await bus.publish(cancel_node(alloc.graph_id, alloc.node_id))
        # The executor gave up on the request and asked the venue, which does not have it yet.
        await ledger.follower.wait_until(
            lambda: server.touched.count(client_id) >= 2 or bool(ledger.of(ChildCancelled, coid)), timeout=20.0)
        assert server.placed_with(client_id) == 0 and not ledger.of(ChildCancelled, coid)  # the cancel waits
        server.arrive.set()  # the request lands: the order rests at the venue
        await ledger.wait(ended(ledger, coid))
    finally:
        server.arrive.set()
        await ex.stop()
    assert server.late_orders == 0 and server.placed_with(client_id) == 1
    [order] = server.orders.values()
    assert order.status == "CANCELED"  # pulled at the venue, never left open
    assert len(ledger.of(ChildAcked, coid)) == 1
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8) == (0, Q)


async def test_a_child_allocated_after_its_node_was_cancelled_is_refused_never_sent(
    bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    first = child("binance", tif="gtc", px=49_500 * PX, qty=Q)
    await bus.publish(cancel_node(first.graph_id, first.node_id))
    await bus.publish(first)  # the router's child, after the cancel (the sandbox refuses it the same way)
    await ledger.wait(ended(ledger, first.client_order_id))
    [refused] = ledger.of(ChildRejected, first.client_order_id)
    assert refused.code == "node_cancelled"
    assert not ledger.of(ChildSubmitted, first.client_order_id)
    assert not venues.state["binance"].orders and not venues.state["binance"].requests_seen
