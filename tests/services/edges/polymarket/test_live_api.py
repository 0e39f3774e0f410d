"""Polymarket live through the API: a `seq_live_` key with the wallet stored as the credentials
API takes it (signer key, no API key) places an EIP-712 signed order at the local CLOB (the
L2 key derived on the way), whose fill becomes the live position. Real nats-server, the
trader's parts, a simulated Polymarket streaming the book, real sockets."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from services.api.app import create_app
from services.api.history import view_caught_up
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.live.loopback import LoopbackVenue, RunningServer, start_server
from services.edges.live.service import LiveExecutor
from services.edges.polymarket.orders import PolymarketOrders
from services.edges.polymarket.private_server import Wallets, polymarket_app
from services.edges.polymarket.sim import YES_TOKEN
from services.settings import Settings
from services.vault import open_vault
from tests.stack import trading_stack

SIGNER = "0x" + "6c" * 32
TENANT = "acme"


@pytest.fixture
async def live(bus: Bus, settings: Settings
               ) -> AsyncIterator[tuple[ApiState, httpx.AsyncClient, LoopbackVenue, RunningServer]]:
    settings = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, ack_wait_s=1.0,
                        require_trader_ready=False, live_orders=True,
                        master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    venue = LoopbackVenue()
    wallets = Wallets()
    server = await start_server(polymarket_app(venue, wallets, cash=Decimal(500)))
    live_key = create_key(settings, TENANT, sandbox=False, admin=True, now_ns=1).secret
    executor = LiveExecutor(as_writer(bus, "executor"), open_vault(settings), {"polymarket": server.url},
                            poll_interval_s=0.05, owns_vault=True)
    app = create_app(settings)
    try:
        async with trading_stack(bus, ["polymarket"], seed=7, symbols={"polymarket": [YES_TOKEN]}), \
                app.router.lifespan_context(app):
            await executor.start()
            try:
                api: ApiState = app.state.api
                await api.md_follower.wait_until(lambda: api.market.nbbo(YES_TOKEN) is not None)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                             headers={"Authorization": f"Bearer {live_key}"}) as client:
                    yield api, client, venue, server
            finally:
                await executor.stop()
    finally:
        venue.release.set()
        await server.stop()


async def test_a_live_key_buys_outcome_shares_at_polymarket_and_holds_them(
    live: tuple[ApiState, httpx.AsyncClient, LoopbackVenue, RunningServer],
) -> None:
    api, client, venue, server = live
    # The wallet has an API key at the CLOB (made once with the wallet, as the venue's client does).
    async with httpx.AsyncClient(base_url=server.url) as made:
        request = PolymarketOrders.derive_api_key_request(SIGNER, int(time.time() * 1000), create=True)
        assert (await made.request(request.method, request.path, headers=request.headers)).status_code == 200
    extra = {"signer_private_key": SIGNER, "signature_type": 0, "data_api_url": server.url}
    r = await client.put("/v1/credentials/polymarket", json={"api_key": "", "api_secret": "", "extra_json": extra})
    assert r.status_code == 200, r.text
    r = await client.post("/v1/positions/sync")
    assert r.status_code == 200, r.text
    assert r.json()["venues"][0]["balances_adjusted"] == 1  # the venue's cash is now the ledger's
    # The CLOB's own book offers the share at 0.01: whatever price the router gives the child
    # (the simulated book keeps moving), it crosses there.
    venue.set_book(YES_TOKEN, bids=[], asks=[("0.01", "50")])

    r = await client.post("/v1/orders", json={"symbol": YES_TOKEN, "side": "buy", "qty": "5", "order_type": "market"})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30)
    assert not api.ledger.graphs[graph_id].is_sandbox
    [placed] = venue.orders.values()  # exactly one signed order reached the CLOB
    assert (placed.symbol, placed.side, placed.qty, placed.status) == (YES_TOKEN, "BUY", Decimal(5), "FILLED")
    assert "GET /auth/derive-api-key" in venue.requests_seen  # the executor derived the wallet's key
    fills = [f for f in api.ledger.fills_of(TENANT) if f.graph_id == graph_id]
    assert [(f.venue, f.symbol, f.qty_1e8, f.px_1e9, f.is_sandbox) for f in fills] == [
        ("polymarket", YES_TOKEN, 5 * 10**8, 10**7, False)]

    await view_caught_up(api)
    await api.positions.wait_for(api.ledger_follower.position)
    positions = (await client.get("/v1/positions")).json()["positions"]
    held = {p["instrument"]["symbol"]: p["qty_1e8"] for p in positions
            if p["venue"] == "polymarket" and not p["is_sandbox"]}
    assert held == {YES_TOKEN: 5 * 10**8, "USD": (500 - Decimal("0.05")) * 10**8}
    r = await client.post("/v1/positions/sync")  # the ledger agrees with the CLOB and the Data API
    assert (r.json()["venues"][0]["balances_adjusted"], r.json()["venues"][0]["fills_added"]) == (0, 0)
