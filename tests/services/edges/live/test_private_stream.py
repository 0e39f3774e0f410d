"""The live executor driven by the venues' private streams: real nats-server, real vault, the
loopback Binance (listenKey endpoint + WebSocket pushing executionReports), OKX (signed login,
`orders` channel) and Bybit (signed auth, `order`/`execution` topics) over real sockets.

Fills arrive from the stream without a REST poll; a dropped stream falls back to REST and loses
nothing; a fill seen on both paths is booked once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect as ws_connect

from events.execution import ChildAcked, ChildCancelled, FillRecorded, VenueReconciled
from events.ids import new_event_id
from events.vault import CredentialStored
from services.bus import Bus
from services.edges.live.loopback import LoopbackOrder
from services.edges.live.service import LiveExecutor
from services.edges.live.venues import ORDERS, PRIVATE_STREAMS
from services.vault import Credentials, Vault
from tests.services.edges.live.test_live_executor import (  # noqa: F401 - fixtures
    API_KEY,
    PASSPHRASE,
    SECRET,
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


STREAMED = ["binance", "okx", "bybit"]
# venue -> (order lookup, trade listing) request lines at its loopback server
REST_READS = {
    "binance": ("GET /api/v3/order", "GET /api/v3/myTrades"),
    "okx": ("GET /api/v5/trade/order", "GET /api/v5/trade/fills"),
    "bybit": ("GET /v5/order/realtime", "GET /v5/execution/list"),
}


def the_order(venues: Venues, coid: str, venue: str = "binance") -> LoopbackOrder:  # noqa: F811
    client_id = ORDERS[venue]().client_id(coid)
    [order] = [o for o in venues.state[venue].orders.values() if o.client_id == client_id]
    return order


def venue_fills(venues: Venues, order: LoopbackOrder, venue: str = "binance") -> list[tuple[str, int]]:  # noqa: F811
    return sorted((str(t.trade_id), int(t.qty * 10**8)) for t in venues.state[venue].trades
                  if t.order_id == order.order_id)


def ledger_fills(ledger: Ledger, coid: str) -> list[tuple[str, int]]:  # noqa: F811
    return sorted((f.fill_id, f.qty_1e8) for f in ledger.of(FillRecorded, coid))


def stream_syncs(ledger: Ledger, venue: str = "binance") -> int:  # noqa: F811
    """Reconciliations after a (re)connect of the stream: one follows every connect."""
    return sum(1 for e in ledger.events if isinstance(e, VenueReconciled) and e.trigger == "reconnect"
               and e.tenant == TENANT and e.venue == venue)


def requests(venues: Venues, line: str, venue: str = "binance") -> int:  # noqa: F811
    return venues.state[venue].requests_seen.count(line)


async def until(ex: LiveExecutor, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait for the executor's stream to have handled enough frames (no sleeping)."""
    async with asyncio.timeout(timeout):
        while True:
            ex.stream_progress.clear()
            if predicate():
                return
            await ex.stream_progress.wait()


@pytest.fixture(params=STREAMED)
def venue(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def start_streaming(bus: Bus, vault: Vault, venues: Venues, ledger: Ledger,  # noqa: F811
                          venue: str) -> LiveExecutor:
    ws_root = venues.urls[venue].replace("http://", "ws://")
    # A 50 ms poll would look each resting order up ~20 times a second; with the stream up it waits 60 s.
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, stream_urls={venue: ws_root},
                      stream_poll_interval_s=60.0)
    await ex.start()
    await bus.publish(CredentialStored(event_id=new_event_id(), ts_ns=1, tenant=TENANT, venue=venue,
                                       key_hint="7Q2Z", version=1, has_passphrase=venue == "okx"))
    await ledger.wait(lambda: stream_syncs(ledger, venue) >= 1)  # connected, then reconciled
    assert (TENANT, venue) in ex.stream_up
    return ex


@pytest.fixture
async def streaming(bus: Bus, vault: Vault, venues: Venues, ledger: Ledger,  # noqa: F811
                    venue: str) -> AsyncIterator[LiveExecutor]:
    ex = await start_streaming(bus, vault, venues, ledger, venue)
    yield ex
    await ex.stop()


async def rest_order(bus: Bus, ledger: Ledger, venue: str = "binance", qty: int = Q) -> str:  # noqa: F811
    alloc = child(venue, tif="gtc", px=49_500 * PX, qty=qty)  # below the asks: rests
    await bus.publish(alloc)
    await ledger.wait(lambda: bool(ledger.of(ChildAcked, alloc.client_order_id)))
    return alloc.client_order_id


async def test_a_fill_at_the_venue_reaches_the_ledger_from_the_stream_without_a_poll(
    bus: Bus, venue: str, streaming: LiveExecutor, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    coid = await rest_order(bus, ledger, venue)
    order = the_order(venues, coid, venue)
    lookup, listing = REST_READS[venue]
    polls, lookups, trades = streaming.polls, requests(venues, lookup, venue), requests(venues, listing, venue)

    venues.state[venue].fill_resting(order.order_id, Decimal("0.4"))
    await ledger.wait(lambda: len(ledger.of(FillRecorded, coid)) == 1)
    venues.state[venue].fill_resting(order.order_id, Decimal("0.6"))
    await ledger.wait(lambda: len(ledger.of(FillRecorded, coid)) == 2)

    assert ledger_fills(ledger, coid) == venue_fills(venues, order, venue)  # the venue's trade ids, exactly
    assert [f.qty_1e8 for f in sorted(ledger.of(FillRecorded, coid), key=lambda f: f.ts_ns)] == [40_000_000, 60_000_000]
    fill = ledger.of(FillRecorded, coid)[0]
    assert not fill.is_sandbox and fill.fee_usd_1e9 > 0
    # Nothing was asked over REST: the poll did not run, no order lookup, no trade listing.
    assert streaming.polls == polls
    assert requests(venues, lookup, venue) == lookups
    assert requests(venues, listing, venue) == trades
    assert coid in streaming.final and streaming.filled[coid] == Q


async def test_a_dropped_stream_falls_back_to_rest_and_loses_nothing(
    bus: Bus, venue: str, streaming: LiveExecutor, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state[venue]
    coid = await rest_order(bus, ledger, venue)
    order = the_order(venues, coid, venue)
    pushed = server.pushed

    server.refuse_streams = True  # the stream endpoint is down: reconnects fail
    server.drop_streams()
    server.fill_resting(order.order_id, Decimal("0.25"))  # nobody listens: only REST can tell
    await ledger.wait(lambda: len(ledger.of(FillRecorded, coid)) == 1)
    assert server.pushed == pushed  # it was not on any stream
    assert requests(venues, REST_READS[venue][1], venue) >= 1
    assert ledger_fills(ledger, coid) == venue_fills(venues, order, venue)

    # The endpoint is back: the stream reconnects, reconciles, and carries the next fill.
    syncs = stream_syncs(ledger, venue)
    server.refuse_streams = False
    await ledger.wait(lambda: stream_syncs(ledger, venue) > syncs)
    assert streaming.stream_connects[(TENANT, venue)] >= 2
    pushed = server.pushed
    server.fill_resting(order.order_id, Decimal("0.75"))
    assert server.pushed > pushed  # this one went out on the stream
    await ledger.wait(lambda: coid in streaming.final and len(ledger.of(FillRecorded, coid)) == 2)
    assert ledger_fills(ledger, coid) == venue_fills(venues, order, venue)
    assert sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == Q
    assert not ledger.of(ChildCancelled, coid)


async def test_a_fill_seen_on_the_stream_and_in_the_rest_reply_is_booked_once(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    streaming = await start_streaming(bus, vault, venues, ledger, "binance")
    try:
        await _booked_once(bus, streaming, venues, ledger)
    finally:
        await streaming.stop()


async def _booked_once(bus: Bus, streaming: LiveExecutor, venues: Venues, ledger: Ledger) -> None:  # noqa: F811
    # An IOC that takes two levels: the FULL REST reply lists both trades and the stream pushes
    # NEW, TRADE, TRADE, EXPIRED for the same order.
    alloc = child("binance")
    coid = alloc.client_order_id
    before = streaming.stream_outcomes
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))
    # NEW -> 1, TRADE -> 2 each, EXPIRED -> 2 outcomes: all handled by the stream too.
    await until(streaming, lambda: streaming.stream_outcomes - before >= 7)
    await ledger.follower.wait_caught_up()

    order = the_order(venues, coid)
    assert ledger_fills(ledger, coid) == venue_fills(venues, order)
    assert len(ledger.of(FillRecorded, coid)) == 2
    assert len(ledger.of(ChildAcked, coid)) == 1
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8, end.reason) == (120_000_000, 30_000_000, "ioc_remainder")
    assert streaming.filled[coid] == 120_000_000


async def test_a_fill_message_pushed_twice_is_booked_once(
    bus: Bus, venue: str, streaming: LiveExecutor, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    server = venues.state[venue]
    coid = await rest_order(bus, ledger, venue)
    order = the_order(venues, coid, venue)
    server.duplicate_fills = True
    before = streaming.stream_outcomes
    server.fill_resting(order.order_id, Decimal("1"))
    # Both copies handled (each gives an ack and a fill).
    await until(streaming, lambda: streaming.stream_outcomes - before >= 4)
    await ledger.follower.wait_caught_up()
    assert ledger_fills(ledger, coid) == venue_fills(venues, order, venue)
    assert len(ledger.of(FillRecorded, coid)) == 1
    assert streaming.filled[coid] == Q and coid in streaming.final


@pytest.mark.parametrize("tampered", [False, True], ids=["right-secret", "wrong-secret"])
@pytest.mark.parametrize("name", ["okx", "bybit"])
async def test_a_private_login_is_verified_by_the_local_server(name: str, tampered: bool,
                                                               venues: Venues) -> None:  # noqa: F811
    stream = PRIVATE_STREAMS[name]()
    url = stream.url(venues.urls[name].replace("http://", "ws://"), "")
    secret = SECRET[:-1] + ("X" if tampered else SECRET[-1])
    async with ws_connect(url) as ws:
        for frame in stream.login_frames(Credentials(API_KEY, secret, PASSPHRASE), int(time.time() * 1000)):
            await ws.send(frame)
        reply = await asyncio.wait_for(ws.recv(), timeout=10.0)
    assert stream.login_reply(reply) is (not tampered)
