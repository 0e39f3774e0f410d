"""A live key trades at Coinbase through the API: real nats-server, the trader's parts, the API
app, a simulated Coinbase streaming BTC-USD, and the local Coinbase private server verifying
every JWT with the key's public key, over real sockets."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from events.execution import ChildAcked
from projections.follower import StreamFollower
from services.api.app import create_app
from services.api.history import view_caught_up
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.coinbase.orders import CoinbaseOrders
from services.edges.coinbase.private_server import coinbase_app
from services.edges.live.loopback import Account, LoopbackVenue, start_server
from services.edges.live.service import LiveExecutor
from services.settings import Settings
from services.vault import open_vault
from tests.services.edges.coinbase.test_orders import KEY_NAME, PRIVATE, PUBLIC
from tests.stack import trading_stack

TENANT = "acme"


@dataclass
class Live:
    api: ApiState
    client: httpx.AsyncClient  # seq_live_ key
    venue: LoopbackVenue
    bus: Bus


@contextlib.asynccontextmanager
async def coinbase_stack(bus: Bus, settings: Settings) -> AsyncIterator[Live]:
    settings = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, ack_wait_s=1.0,
                        require_trader_ready=False, live_orders=True,
                        master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    venue = LoopbackVenue(accounts={KEY_NAME: Account(PUBLIC)}, balances={"USD": Decimal(10_000_000)},
                          assets={"BTC-USD": ("BTC", "USD")})
    server = await start_server(coinbase_app(venue))
    live_key = create_key(settings, TENANT, sandbox=False, admin=True, now_ns=1).secret
    executor = LiveExecutor(as_writer(bus, "executor"), open_vault(settings), {"coinbase": server.url},
                            poll_interval_s=0.05, owns_vault=True)
    app = create_app(settings)
    try:
        async with trading_stack(bus, ["coinbase"], seed=7, symbols={"coinbase": ["BTC-USD"]}), \
                app.router.lifespan_context(app):
            await executor.start()
            try:
                api: ApiState = app.state.api
                await api.md_follower.wait_until(lambda: api.market.nbbo("BTC-USD") is not None)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                             headers={"Authorization": f"Bearer {live_key}"}) as client:
                    yield Live(api, client, venue, bus)
            finally:
                await executor.stop()
    finally:
        venue.release.set()
        await server.stop()


@pytest.fixture
async def live(bus: Bus, settings: Settings) -> AsyncIterator[Live]:
    async with coinbase_stack(bus, settings) as live:
        yield live


def book_at_the_nbbo(live: Live) -> Decimal:
    nbbo = live.api.market.nbbo("BTC-USD")
    assert nbbo is not None
    px = (Decimal((nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2) / 10**9).quantize(Decimal("0.01"))
    live.venue.set_book("BTC-USD", bids=[(str(px - 1), "5")], asks=[(str(px), "5")])
    return px


async def test_a_live_key_places_fills_and_cancels_at_coinbase_through_the_api(live: Live) -> None:
    r = await live.client.put("/v1/credentials/coinbase", json={"api_key": KEY_NAME, "api_secret": PRIVATE})
    assert r.status_code == 200, r.text
    r = await live.client.post("/v1/positions/sync")
    assert r.status_code == 200, r.text
    [synced] = r.json()["venues"]
    assert (synced["venue"], synced["balances_adjusted"]) == ("coinbase", 1)
    px = book_at_the_nbbo(live)

    # A market order: one signed create at the venue, its fill on the ledger, the position held.
    r = await live.client.post("/v1/orders", json={"symbol": "BTC-USD", "side": "buy", "qty": "0.01",
                                                   "order_type": "market"})
    assert r.status_code == 200, r.text
    filled = r.json()["graph_id"]
    await live.api.ledger_follower.wait_until(
        lambda: (g := live.api.ledger.graphs.get(filled)) is not None and g.terminal, timeout=30)
    [placed] = live.venue.orders.values()
    assert (placed.symbol, placed.side, placed.qty, placed.status) == ("BTC-USD", "BUY", Decimal("0.01"), "FILLED")
    fills = [f for f in live.api.ledger.fills_of(TENANT) if f.graph_id == filled]
    assert [(f.qty_1e8, f.px_1e9, f.is_sandbox, f.venue) for f in fills] == [(1_000_000, int(px * 10**9), False,
                                                                               "coinbase")]
    assert CoinbaseOrders().client_id(fills[0].client_order_id) == placed.client_id  # derived from ours
    await view_caught_up(live.api)
    await live.api.positions.wait_for(live.api.ledger_follower.position)
    positions = (await live.client.get("/v1/positions")).json()["positions"]
    btc = [p for p in positions if p["venue"] == "coinbase" and p["instrument"]["symbol"].startswith("BTC")
           and not p["is_sandbox"]]
    assert [p["qty_1e8"] for p in btc] == [1_000_000]

    # A limit order resting below the book, acked, then cancelled at the venue through the API.
    node = {"node_id": "order", "instrument": {"symbol": "BTC-USD"}, "side": "buy",
            "quantity": {"fixed": {"qty_1e8": 1_000_000}},
            "order_type": {"limit": {"price_1e9": int((px - 50) * 10**9)}}}
    r = await live.client.post("/v1/orders", json={"nodes": [node], "edges": []})
    assert r.status_code == 200, r.text
    resting = r.json()["graph_id"]
    acks: list[ChildAcked] = []
    follower = StreamFollower(live.bus, "LEDGER", ["exec.>"], lambda e, _: acks.append(e)
                              if isinstance(e, ChildAcked) and e.graph_id == resting else None)
    await follower.start()
    try:
        await follower.wait_until(lambda: bool(acks), timeout=30)
    finally:
        await follower.stop()
    assert (await live.client.delete(f"/v1/execution_graphs/{resting}")).status_code in (200, 202)
    await live.api.ledger_follower.wait_until(
        lambda: [o.status for o in live.venue.orders.values()] == ["FILLED", "CANCELED"], timeout=30)
    assert "POST /api/v3/brokerage/orders/batch_cancel" in live.venue.requests_seen
    # After the fill the ledger's balances are the venue's: a second sync moves nothing.
    [again] = (await live.client.post("/v1/positions/sync")).json()["venues"]
    assert (again["balances_adjusted"], again["fills_added"]) == (0, 0)
