"""Gateway faults of the local venue servers, per venue: a disconnect halfway through the reply to
a new order (executed at the venue), and a 429 with Retry-After (not executed). Each ends with
exactly one order at the venue and exactly the venue's fills on the ledger (real nats-server,
real vault, real sockets; the servers check signatures as the venues do)."""

from __future__ import annotations

import pytest

from events.execution import ChildAcked, ChildCancelled, ChildRejected, FillRecorded, VenueReconciled
from services.bus import Bus
from services.edges.live.loopback import LoopbackOrder
from services.edges.live.service import LiveExecutor
from services.edges.live.venues import ORDERS
from services.vault import Vault
from tests.services.edges.live.test_live_executor import (  # noqa: F401 - fixtures
    TENANT,
    Ledger,
    Venues,
    child,
    ended,
    ledger,
    vault,
    venues,
)

FAULT_VENUES = ["binance", "okx", "bybit", "hyperliquid"]


def the_order(venues: Venues, venue: str, coid: str) -> LoopbackOrder:  # noqa: F811
    client_id = ORDERS[venue]().client_id(coid)
    [order] = [o for o in venues.state[venue].orders.values() if o.client_id == client_id]
    return order


def venue_fills(venues: Venues, venue: str, order: LoopbackOrder) -> list[tuple[str, int]]:  # noqa: F811
    return sorted((str(t.trade_id), int(t.qty * 10**8)) for t in venues.state[venue].trades if t.order_id == order.order_id)


def ledger_fills(ledger: Ledger, coid: str) -> list[tuple[str, int]]:  # noqa: F811
    return sorted((f.fill_id, f.qty_1e8) for f in ledger.of(FillRecorded, coid))


def reconnected(ledger: Ledger, venue: str) -> bool:  # noqa: F811
    return any(isinstance(e, VenueReconciled) and e.trigger == "reconnect" and e.venue == venue and e.tenant == TENANT
               for e in ledger.events)


async def run_one(bus: Bus, vault: Vault, venues: Venues, ledger: Ledger, venue: str,  # noqa: F811
                  *, reconnect: bool = False) -> str:
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    try:
        alloc = child(venue)  # IOC 1.5 at 50000: 1.2 fills, 0.3 is cancelled
        await bus.publish(alloc)
        await ledger.wait(lambda: ended(ledger, alloc.client_order_id)() and (not reconnect or reconnected(ledger, venue)))
    finally:
        await ex.stop()
    return alloc.client_order_id


def assert_one_order_and_the_venues_fills(venues: Venues, ledger: Ledger, venue: str, coid: str) -> None:  # noqa: F811
    assert venues.orders_for(venue, coid) == 1
    order = the_order(venues, venue, coid)
    assert ledger_fills(ledger, coid) == venue_fills(venues, venue, order) and len(venue_fills(venues, venue, order)) == 2
    assert len(ledger.of(ChildAcked, coid)) == 1 and not ledger.of(ChildRejected, coid)
    assert [e.cancelled_qty_1e8 for e in ledger.of(ChildCancelled, coid)] == [30_000_000]


@pytest.mark.parametrize("venue", FAULT_VENUES)
async def test_a_disconnect_mid_order_is_reconciled_to_the_one_order_and_its_fills(
    venue: str, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    venues.state[venue].disconnects = 1
    # Lost connection: the venue is reconciled (the order looked up) before anything new goes there.
    coid = await run_one(bus, vault, venues, ledger, venue, reconnect=True)
    assert venues.state[venue].disconnects == 0  # the connection really dropped
    assert_one_order_and_the_venues_fills(venues, ledger, venue, coid)


@pytest.mark.parametrize("venue", FAULT_VENUES)
async def test_a_429_with_retry_after_is_not_executed_and_the_order_goes_once(
    venue: str, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    venues.state[venue].throttle_next = 1
    coid = await run_one(bus, vault, venues, ledger, venue)
    assert (venues.state[venue].throttle_next, venues.state[venue].throttled) == (0, 1)
    assert_one_order_and_the_venues_fills(venues, ledger, venue, coid)


TIME_PATHS = {"binance": "/api/v3/time", "okx": "/api/v5/public/time", "bybit": "/v5/market/time"}


@pytest.mark.parametrize("venue", list(TIME_PATHS))
@pytest.mark.parametrize("skew_ms", [40_000, -40_000], ids=["venue-ahead", "venue-behind"])
async def test_clock_skew_beyond_the_window_is_learnt_from_the_venue_and_the_order_goes_once(
    skew_ms: int, venue: str, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    # The venue refuses a timestamp outside its window (Binance -1021, OKX 50102, Bybit 10002; not
    # executed): the executor reads the venue's clock, signs with it, and sends the same order again.
    server = venues.state[venue]
    server.clock_skew_ms = skew_ms
    coid = await run_one(bus, vault, venues, ledger, venue)
    assert f"GET {TIME_PATHS[venue]}" in server.requests_seen
    assert_one_order_and_the_venues_fills(venues, ledger, venue, coid)


@pytest.mark.parametrize("venue", [*FAULT_VENUES, "bitmart"])
async def test_a_duplicated_fill_message_is_recorded_once_at_every_venue(
    venue: str, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state[venue]
    server.duplicate_fills = True  # the venue's fills endpoint lists every trade twice
    coid = await run_one(bus, vault, venues, ledger, venue)
    assert_one_order_and_the_venues_fills(venues, ledger, venue, coid)
    assert sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == 120_000_000


@pytest.mark.parametrize("venue", [*FAULT_VENUES, "bitmart"])
async def test_a_timeout_after_the_venue_took_the_order_ends_with_one_order_and_its_fills(
    venue: str, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state[venue]
    server.held_replies = 1  # executed; its reply comes only after the client gave up
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, http_timeout_s=0.5)
    await ex.start()
    try:
        alloc = child(venue)
        coid = alloc.client_order_id
        await bus.publish(alloc)
        await ledger.wait(lambda: ended(ledger, coid)() and reconnected(ledger, venue))
    finally:
        server.release.set()
        await ex.stop()
    assert server.held_replies == 0  # the reply really was held
    assert_one_order_and_the_venues_fills(venues, ledger, venue, coid)
