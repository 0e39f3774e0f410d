"""Reconciliation with the venue, on start, after a lost connection, and on request: real
nats-server, real vault, the loopback Binance (signatures checked) over real sockets, with its
faults: a reply held past the client's timeout, every fill listed twice, fills while we were away."""

from __future__ import annotations

from decimal import Decimal

from events.execution import ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded, VenueReconciled
from events.ids import derive_id, new_event_id
from services.bus import Bus
from services.edges.live.loopback import LoopbackOrder
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
    ledger,
    vault,
    venues,
)


def venue_fills(venues: Venues, order: LoopbackOrder) -> list[tuple[str, int]]:
    """(trade id, qty_1e8) of every trade the venue made for `order`."""
    return sorted((str(t.trade_id), int(t.qty * 10**8)) for t in venues.state["binance"].trades if t.order_id == order.order_id)


def ledger_fills(ledger: Ledger, coid: str) -> list[tuple[str, int]]:  # noqa: F811
    return sorted((f.fill_id, f.qty_1e8) for f in ledger.of(FillRecorded, coid))


def reconciled(ledger: Ledger, trigger: str) -> list[VenueReconciled]:  # noqa: F811
    return [e for e in ledger.events if isinstance(e, VenueReconciled) and e.trigger == trigger and e.tenant == TENANT]


def the_order(venues: Venues, coid: str) -> LoopbackOrder:  # noqa: F811
    client_id = ORDERS["binance"]().client_id(coid)
    [order] = [o for o in venues.state["binance"].orders.values() if o.client_id == client_id]
    return order


async def test_a_timeout_after_the_venue_took_the_order_ends_with_one_order_and_its_fills(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state["binance"]
    server.held_replies = 1  # the order is executed; its reply comes after the client gave up
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, http_timeout_s=1.0)
    await ex.start()
    try:
        alloc = child("binance")
        coid = alloc.client_order_id
        await bus.publish(alloc)
        await ledger.wait(lambda: ended(ledger, coid)() and bool(reconciled(ledger, "reconnect")))
    finally:
        server.release.set()
        await ex.stop()
    assert server.held_replies == 0  # the reply really was held
    assert venues.orders_for("binance", coid) == 1
    order = the_order(venues, coid)
    assert ledger_fills(ledger, coid) == venue_fills(venues, order) and len(venue_fills(venues, order)) == 2
    assert len(ledger.of(ChildAcked, coid)) == 1 and len(ledger.of(ChildSubmitted, coid)) == 1


async def test_a_duplicated_fill_message_is_recorded_once(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state["binance"]
    server.duplicate_fills = True
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    try:
        alloc = child("binance", tif="gtc", px=49_500 * PX, qty=Q)  # rests
        coid = alloc.client_order_id
        await bus.publish(alloc)
        await ledger.wait(lambda: bool(ledger.of(ChildAcked, coid)))
        order = the_order(venues, coid)
        server.fill_resting(order.order_id, Decimal("0.25"))
        server.fill_resting(order.order_id, Decimal("0.75"))
        await ledger.wait(lambda: sum(q for _, q in ledger_fills(ledger, coid)) >= Q)
        # Asked again on request: the same trades, listed twice again, add nothing.
        await ex.reconcile(TENANT, "binance", "request")
    finally:
        await ex.stop()
    assert ledger_fills(ledger, coid) == venue_fills(venues, order)
    assert [q for _, q in ledger_fills(ledger, coid)] == sorted([25_000_000, 75_000_000])
    assert venues.orders_for("binance", coid) == 1


async def test_a_restart_with_an_order_open_at_the_venue_reconciles_it_before_any_new_order(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state["binance"]
    first = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await first.start()
    resting = child("binance", tif="gtc", px=49_500 * PX, qty=Q)
    coid = resting.client_order_id
    try:
        await bus.publish(resting)
        await ledger.wait(lambda: bool(ledger.of(ChildAcked, coid)))
    finally:
        await first.stop()
    # While no executor runs: someone takes 0.4 of the resting order, and a new child arrives.
    order = the_order(venues, coid)
    server.fill_resting(order.order_id, Decimal("0.4"))
    later = child("binance", qty=10_000_000)
    await bus.publish(later)

    second = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await second.start()
    try:
        await ledger.wait(lambda: bool(ledger.of(FillRecorded, coid)) and bool(ledger.of(FillRecorded, later.client_order_id)))
    finally:
        await second.stop()
    assert venues.orders_for("binance", coid) == 1
    assert ledger_fills(ledger, coid) == venue_fills(venues, order) and ledger_fills(ledger, coid)[0][1] == 40_000_000
    # The fill made while away is on the log before the new child was sent.
    events = ledger.events
    assert events.index(ledger.of(FillRecorded, coid)[0]) < events.index(ledger.of(ChildSubmitted, later.client_order_id)[0])
    [start] = [e for e in reconciled(ledger, "start") if e.orders_checked]
    assert (start.venue, start.orders_checked, start.fills_added, start.orders_resolved, start.open_at_venue) == (
        "binance", 1, 1, 0, 1)
    assert not ledger.of(ChildCancelled, coid)  # still working at the venue


async def test_an_order_the_venue_does_not_know_is_ended_explicitly(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    # The ledger says acked at the venue; the venue has no such order (its state was lost).
    alloc = child("binance", tif="gtc", px=49_500 * PX, qty=Q)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    common = dict(ts_ns=2, tenant=TENANT, child_id=alloc.child_id, client_order_id=coid, graph_id=alloc.graph_id,
                  node_id=alloc.node_id, venue="binance")
    await bus.publish(ChildSubmitted(event_id=derive_id("live_submit", coid), symbol=alloc.symbol, side=alloc.side,
                                     qty_1e8=alloc.qty_1e8, limit_px_1e9=alloc.limit_px_1e9, **common))  # type: ignore[arg-type]
    await bus.publish(ChildAcked(event_id=new_event_id(), venue_order_id="999", **common))  # type: ignore[arg-type]
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    try:
        await ledger.wait(ended(ledger, coid))
    finally:
        await ex.stop()
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.reason, end.filled_qty_1e8, end.cancelled_qty_1e8) == ("unknown_at_venue", 0, Q)
    assert not ledger.of(ChildRejected, coid) and not ledger.of(FillRecorded, coid)
    assert venues.orders_for("binance", coid) == 0  # looked up, never placed
