"""LiveExecutor end to end: real nats-server, real vault (SQLite), real loopback venue servers
that verify signatures the way Binance and OKX do, over real sockets."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from eth_account import Account as EthAccount

from events import AnyEvent
from events.execution import ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded
from events.graph import NodeCancelled
from events.ids import derive_id, new_event_id
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.bus import Bus
from services.edges.live.loopback import APPS, Account, LoopbackVenue, RunningServer, serve_venue, start_server
from services.edges.live.service import LiveExecutor
from services.edges.live.venues import ORDERS
from services.edges.transport import HttpTransport
from services.settings import Settings
from services.vault import Credentials, Vault, open_vault
from tests.services.vault.helpers import stream_bytes

API_KEY = "live-test-key-7Q2Z"
SECRET = "s3cret-never-to-be-seen-9f8e7d"
PASSPHRASE = "pass-phrase-never-seen-4c3b"
# Hyperliquid signs with a private key; its API key is the account address.
HL_SECRET = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
HL_ADDRESS = EthAccount.from_key(HL_SECRET).address
TENANT = "acme"
PX = 10**9
Q = 10**8
VENUE_SYMBOL = {
    "binance": "BTCUSDT", "okx": "BTC-USDT", "bybit": "BTCUSDT", "bitmart": "BTC_USDT", "hyperliquid": "BTC",
}
SYMBOL = {"hyperliquid": "BTC-USD-PERP"}  # else BTC-USDT
# venue -> (code, start of the message) when the signature does not match the key
BAD_SIGNATURE = {
    "binance": ("-1022", "Signature for this request is not valid."),
    "okx": ("50113", "Invalid Sign"),
    "bybit": ("10004", "error sign!"),
    "bitmart": ("30005", "Header X-BM-SIGN is wrong"),
    "hyperliquid": ("err", "User or API Wallet 0x"),
}
VENUES = list(VENUE_SYMBOL)


@dataclass
class Venues:
    state: dict[str, LoopbackVenue]
    servers: dict[str, RunningServer]

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    def orders_for(self, venue: str, coid: str) -> int:
        return self.state[venue].placed_with(ORDERS[venue]().client_id(coid))

    def requests_for(self, venue: str, coid: str) -> int:
        """Requests that named this child's order (placing, looking up, trades, cancelling)."""
        return self.state[venue].touched.count(ORDERS[venue]().client_id(coid))


@pytest.fixture
async def venues() -> AsyncIterator[Venues]:
    state, servers = {}, {}
    for name in APPS:
        accounts = {HL_ADDRESS.lower(): Account("")} if name == "hyperliquid" else {API_KEY: Account(SECRET, PASSPHRASE)}
        venue = LoopbackVenue(accounts=accounts)
        venue.set_book(VENUE_SYMBOL[name], bids=[("49000", "5")], asks=[("49990.5", "1"), ("50000", "0.2"), ("50001", "3")])
        state[name], servers[name] = venue, await start_server(serve_venue(name, venue))  # limits: none until set
    yield Venues(state, servers)
    for server in servers.values():
        await server.stop()


@pytest.fixture
def vault(settings: Settings) -> Iterator[Vault]:
    v = open_vault(Settings(data_dir=settings.data_dir, master_key=base64.b64encode(os.urandom(32)).decode(),
                            _env_file=None))
    for venue in ORDERS:
        v.store(TENANT, venue, creds(venue))
    yield v
    v.close()


def creds(venue: str, *, tampered: bool = False) -> Credentials:
    if venue == "hyperliquid":
        return Credentials(HL_ADDRESS, HL_SECRET[:-1] + ("9" if tampered else HL_SECRET[-1]))
    return Credentials(API_KEY, SECRET[:-1] + ("X" if tampered else SECRET[-1]), PASSPHRASE)


class Ledger:
    """The execution events of the LEDGER stream, as they land."""

    def __init__(self, bus: Bus) -> None:
        self.events: list[AnyEvent] = []
        self.follower = StreamFollower(bus, "LEDGER", ["exec.>"], lambda e, _: self.events.append(e))

    def of(self, kind: type, coid: str) -> list:
        return [e for e in self.events if isinstance(e, kind) and e.client_order_id == coid]

    async def wait(self, predicate: Callable[[], bool]) -> None:
        await self.follower.wait_until(predicate, timeout=20.0)


@pytest.fixture
async def ledger(bus: Bus) -> AsyncIterator[Ledger]:
    led = Ledger(bus)
    await led.follower.start()
    yield led
    await led.follower.stop()


@pytest.fixture
async def executor(bus: Bus, vault: Vault, venues: Venues) -> AsyncIterator[LiveExecutor]:
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    yield ex
    await ex.stop()


def child(venue: str, *, tenant: str = TENANT, tif: str = "ioc", px: int = 50_000 * PX, qty: int = 150_000_000,
          sandbox: bool = False, coid: str | None = None, event_id: str | None = None) -> ChildAllocated:
    event_id = event_id or new_event_id()
    return ChildAllocated(
        event_id=event_id, ts_ns=1, tenant=tenant, plan_id="plan-1", graph_id="graph-1", node_id="node-1",
        child_id=derive_id("child", event_id), client_order_id=coid or derive_id("coid", event_id), venue=venue,
        symbol=SYMBOL.get(venue, "BTC-USDT"), side="buy", qty_1e8=qty, order_type="limit", limit_px_1e9=px, tif=tif,  # type: ignore[arg-type]
        is_sandbox=sandbox,
    )


def ended(ledger: Ledger, coid: str) -> Callable[[], bool]:
    return lambda: bool(ledger.of(ChildCancelled, coid) or ledger.of(ChildRejected, coid))


@pytest.mark.parametrize("venue", VENUES)
async def test_signed_ioc_order_is_accepted_filled_and_its_rest_cancelled(
    venue: str, bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    alloc = child(venue)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))

    assert len(ledger.of(ChildSubmitted, coid)) == 1
    [ack] = ledger.of(ChildAcked, coid)
    [server_order] = [o for o in venues.state[venue].orders.values()]
    assert ack.venue_order_id == str(server_order.order_id)
    fills = sorted(ledger.of(FillRecorded, coid), key=lambda f: f.px_1e9)
    assert [(f.qty_1e8, f.px_1e9) for f in fills] == [(1 * Q, 49_990_500_000_000), (20_000_000, 50_000 * PX)]
    assert all(not f.is_sandbox and f.liquidity == "taker" and f.child_id == alloc.child_id for f in fills)
    # 0.1 % taker fee in USDT at par: 49.9905 and 10 USD, exactly.
    assert [f.fee_usd_1e9 for f in fills] == [49_990_500_000, 10 * PX]
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8, end.reason) == (120_000_000, 30_000_000, "ioc_remainder")
    assert venues.orders_for(venue, coid) == 1
    assert not ledger.of(ChildRejected, coid)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_tampered_secret_is_rejected_by_the_venue_with_its_code(
    venue: str, bus: Bus, vault: Vault, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    vault.store("mallory", venue, creds(venue, tampered=True))
    alloc = child(venue, tenant="mallory")
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, alloc.client_order_id))

    [rejected] = ledger.of(ChildRejected, alloc.client_order_id)
    code, message = BAD_SIGNATURE[venue]
    assert rejected.code == code and rejected.message.startswith(message)
    assert rejected.tenant == "mallory" and rejected.child_id == alloc.child_id
    assert not venues.state[venue].orders  # nothing was placed


@pytest.mark.parametrize("venue", VENUES)
async def test_a_replayed_allocation_never_places_a_second_order(
    venue: str, bus: Bus, vault: Vault, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    alloc = child(venue)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))
    requests_before = venues.requests_for(venue, coid)

    # The same child again under a new event id (a retry past the dedup window), then a
    # restarted executor reading the whole log.
    await bus.publish(child(venue, coid=coid))
    await executor.stop()
    restarted = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await restarted.start()
    try:
        await restarted.ledger.wait_caught_up()
        await bus.publish(child(venue, coid=coid))
        await restarted.ledger.wait_caught_up()
        # A child published after the replays is placed (children go in arrival order), so by its
        # end the replays were decided: from the log alone, without asking the venue.
        later = child(venue, px=49_000 * PX)
        await bus.publish(later)
        await ledger.wait(ended(ledger, later.client_order_id))
    finally:
        await restarted.stop()
    assert venues.orders_for(venue, coid) == 1
    assert venues.requests_for(venue, coid) == requests_before
    assert venues.requests_for(venue, later.client_order_id) >= 1  # it did reach the venue
    assert len(ledger.of(ChildAcked, coid)) == 1
    assert len(ledger.of(ChildSubmitted, coid)) == 1


async def test_a_child_sent_before_a_crash_is_looked_up_not_placed_again(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger
) -> None:
    # The previous process published ChildSubmitted and its request reached Binance (the IOC
    # filled and ended), then it died before publishing the outcome. Binance only refuses a
    # client id among *open* orders, so a blind resend would buy twice.
    alloc = child("binance")
    coid = alloc.client_order_id
    await bus.publish(alloc)
    creds = Credentials(API_KEY, SECRET, PASSPHRASE)
    async with httpx.AsyncClient(base_url=venues.urls["binance"]) as client:
        placed = await HttpTransport(ORDERS["binance"](), creds, client).place(alloc)
    assert [type(o).__name__ for o in placed] == ["Acked", "Filled", "Filled", "Cancelled"]
    assert venues.orders_for("binance", coid) == 1
    await bus.publish(ChildSubmitted(
        event_id=derive_id("live_submit", coid), ts_ns=2, tenant=TENANT, child_id=alloc.child_id,
        client_order_id=coid, graph_id=alloc.graph_id, node_id=alloc.node_id, venue="binance", symbol=alloc.symbol,
        side=alloc.side, qty_1e8=alloc.qty_1e8, limit_px_1e9=alloc.limit_px_1e9,
    ))

    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    try:
        await ledger.wait(ended(ledger, coid))
    finally:
        await ex.stop()
    assert venues.orders_for("binance", coid) == 1
    assert len(ledger.of(ChildAcked, coid)) == 1
    assert sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == 120_000_000
    assert len(ledger.of(ChildSubmitted, coid)) == 1  # not published a second time


@pytest.mark.parametrize("at_venue", [False, True], ids=["never-arrived", "resting"])
async def test_a_child_cancelled_before_any_answer_is_found_or_closed_never_placed(
    at_venue: bool, bus: Bus, vault: Vault, venues: Venues, ledger: Ledger
) -> None:
    # Before a crash: ChildSubmitted was published and the request may or may not have reached
    # the venue; then the node was cancelled. The restarted executor must not place it now.
    alloc = child("okx", tif="gtc", px=49_500 * PX, qty=Q)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    if at_venue:
        async with httpx.AsyncClient(base_url=venues.urls["okx"]) as client:
            await HttpTransport(ORDERS["okx"](), creds("okx"), client).place(alloc)
    await bus.publish(ChildSubmitted(
        event_id=derive_id("live_submit", coid), ts_ns=2, tenant=TENANT, child_id=alloc.child_id,
        client_order_id=coid, graph_id=alloc.graph_id, node_id=alloc.node_id, venue="okx", symbol=alloc.symbol,
        side=alloc.side, qty_1e8=alloc.qty_1e8, limit_px_1e9=alloc.limit_px_1e9,
    ))
    await bus.publish(NodeCancelled(event_id=new_event_id(), ts_ns=3, tenant=TENANT, graph_id=alloc.graph_id,
                                    node_id=alloc.node_id, reason="user"))
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05)
    await ex.start()
    try:
        await ledger.wait(ended(ledger, coid))
    finally:
        await ex.stop()
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8) == (0, Q)
    assert venues.orders_for("okx", coid) == (1 if at_venue else 0)
    assert [o.status for o in venues.state["okx"].orders.values()] == (["CANCELED"] if at_venue else [])
    assert len(ledger.of(ChildAcked, coid)) == (1 if at_venue else 0)


@pytest.mark.parametrize("venue", VENUES)
async def test_a_lost_reply_is_followed_up_not_resent(
    venue: str, bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    # The venue took the order but the gateway answered 503: the executor must ask, not resend.
    venues.state[venue].lost_replies = 1
    alloc = child(venue)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))
    assert venues.state[venue].lost_replies == 0  # the reply really was lost
    assert venues.orders_for(venue, coid) == 1
    assert len(ledger.of(ChildAcked, coid)) == 1
    assert sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == 120_000_000
    assert [e.cancelled_qty_1e8 for e in ledger.of(ChildCancelled, coid)] == [30_000_000]


async def test_a_failing_hyperliquid_meta_is_retried_not_a_final_rejection(
    bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    # Without the asset table the order cannot be built; a 502 on `meta` is the venue's hiccup,
    # not "no such perp", so the child must be placed once meta answers.
    venues.state["hyperliquid"].failing_meta = 1
    alloc = child("hyperliquid")
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))
    assert venues.state["hyperliquid"].failing_meta == 0  # the meta request really failed once
    assert ledger.of(ChildRejected, coid) == []
    assert venues.orders_for("hyperliquid", coid) == 1
    assert sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == 120_000_000
    assert [e.cancelled_qty_1e8 for e in ledger.of(ChildCancelled, coid)] == [30_000_000]


@pytest.mark.parametrize("venue", VENUES)
async def test_a_resting_child_is_cancelled_at_the_venue_when_its_node_is(
    venue: str, bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    alloc = child(venue, tif="gtc", px=49_500 * PX, qty=Q)  # below the best ask: rests
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(lambda: bool(ledger.of(ChildAcked, coid)))
    assert not ledger.of(ChildCancelled, coid)
    await bus.publish(NodeCancelled(event_id=new_event_id(), ts_ns=3, tenant=TENANT, graph_id=alloc.graph_id,
                                    node_id=alloc.node_id, reason="user"))
    await ledger.wait(ended(ledger, coid))
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8) == (0, Q)
    [server_order] = venues.state[venue].orders.values()
    assert server_order.status == "CANCELED"


async def test_sandbox_children_are_left_alone_and_unanswerable_live_ones_rejected(
    bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger
) -> None:
    sandboxed = child("okx", sandbox=True)
    stranger = child("okx", tenant="nobody")
    elsewhere = child("kraken")
    for alloc in (sandboxed, stranger, elsewhere):
        await bus.publish(alloc)
    await ledger.wait(lambda: ended(ledger, stranger.client_order_id)() and ended(ledger, elsewhere.client_order_id)())
    [rejected] = ledger.of(ChildRejected, stranger.client_order_id)
    assert rejected.code == "no_credentials"
    [not_live] = ledger.of(ChildRejected, elsewhere.client_order_id)
    assert (not_live.code, not_live.message) == ("venue_not_live", "live order entry is not available for kraken")
    assert not ledger.of(ChildSubmitted, sandboxed.client_order_id)
    assert not venues.state["okx"].orders


async def test_secrets_never_reach_logs_or_events(
    bus: Bus, vault: Vault, executor: LiveExecutor, venues: Venues, ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault.store("mallory", "okx", Credentials(API_KEY, "wrong-" + SECRET, PASSPHRASE))
    allocs = [child("binance"), child("okx"), child("okx", tenant="mallory"), child("hyperliquid"),
              child("binance", tif="gtc", px=1 * PX)]
    for alloc in allocs:
        await bus.publish(alloc)
    await ledger.wait(lambda: all(ledger.of(ChildAcked, a.client_order_id) or ledger.of(ChildRejected, a.client_order_id)
                                  for a in allocs) and all(ended(ledger, a.client_order_id)() for a in allocs[:4]))
    _, raw = await stream_bytes(bus, "exec.okx.acme")
    for secret in (SECRET, PASSPHRASE, HL_SECRET, HL_SECRET.removeprefix("0x")):
        assert secret not in caplog.text
        assert secret.encode() not in raw
    assert ledger.of(ChildRejected, allocs[2].client_order_id)[0].code == "50113"
