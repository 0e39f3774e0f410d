"""Kalshi live through the API: a `seq_live_` key with stored Kalshi credentials (an RSA key)
places a signed order at the local Kalshi server, whose fill becomes the live position. Real
nats-server, the trader's parts, a simulated Kalshi streaming the book, real sockets."""

from __future__ import annotations

import base64
import os
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
from services.edges.kalshi.orders import API_PREFIX
from services.edges.kalshi.private_server import kalshi_app
from services.edges.live.loopback import Account, LoopbackVenue, start_server
from services.edges.live.service import LiveExecutor
from services.settings import Settings
from services.vault import open_vault
from tests.services.edges.kalshi.test_orders import PRIVATE, PUBLIC
from tests.stack import trading_stack

TICKER = "KXHIGHNY-26JUN24-T82"
YES = f"{TICKER}:YES"
KEY_ID = "kalshi-key-id-7"
TENANT = "acme"


@pytest.fixture
async def live(bus: Bus, settings: Settings) -> AsyncIterator[tuple[ApiState, httpx.AsyncClient, LoopbackVenue]]:
    settings = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, ack_wait_s=1.0,
                        require_trader_ready=False, live_orders=True,
                        master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    venue = LoopbackVenue(accounts={KEY_ID: Account(PUBLIC)})
    server = await start_server(kalshi_app(venue, cash=Decimal(500)))
    live_key = create_key(settings, TENANT, sandbox=False, admin=True, now_ns=1).secret
    executor = LiveExecutor(as_writer(bus, "executor"), open_vault(settings), {"kalshi": server.url + API_PREFIX},
                            poll_interval_s=0.05, owns_vault=True)
    app = create_app(settings)
    try:
        async with trading_stack(bus, ["kalshi"], seed=7, symbols={"kalshi": [YES]}), app.router.lifespan_context(app):
            await executor.start()
            try:
                api: ApiState = app.state.api
                await api.md_follower.wait_until(lambda: api.market.nbbo(YES) is not None)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                                             headers={"Authorization": f"Bearer {live_key}"}) as client:
                    yield api, client, venue
            finally:
                await executor.stop()
    finally:
        venue.release.set()
        await server.stop()


async def test_a_live_key_buys_yes_contracts_at_kalshi_and_holds_them(
    live: tuple[ApiState, httpx.AsyncClient, LoopbackVenue],
) -> None:
    api, client, venue = live
    r = await client.put("/v1/credentials/kalshi", json={"api_key": KEY_ID, "api_secret": PRIVATE})
    assert r.status_code == 200, r.text
    r = await client.post("/v1/positions/sync")
    assert r.status_code == 200, r.text
    assert r.json()["venues"][0]["balances_adjusted"] == 1  # the venue's USD cash is now the ledger's
    # Kalshi's own book offers YES at 0.01: whatever price the router gives the child (the
    # simulated book keeps moving), it crosses there.
    ask = Decimal("0.01")
    venue.set_book(TICKER, bids=[], asks=[(str(ask), "50")])

    r = await client.post("/v1/orders", json={"symbol": YES, "side": "buy", "qty": "5", "order_type": "market"})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30)
    assert not api.ledger.graphs[graph_id].is_sandbox
    [placed] = venue.orders.values()  # exactly one signed order reached Kalshi
    assert (placed.symbol, placed.side, placed.qty, placed.status) == (TICKER, "BUY", Decimal(5), "FILLED")
    assert "POST /trade-api/v2/portfolio/orders" in venue.requests_seen
    fills = [f for f in api.ledger.fills_of(TENANT) if f.graph_id == graph_id]
    assert [(f.venue, f.symbol, f.qty_1e8, f.px_1e9, f.is_sandbox) for f in fills] == [
        ("kalshi", YES, 5 * 10**8, int(ask * 10**9), False)]

    await view_caught_up(api)
    await api.positions.wait_for(api.ledger_follower.position)
    positions = (await client.get("/v1/positions")).json()["positions"]
    held = {p["instrument"]["symbol"]: p["qty_1e8"] for p in positions if p["venue"] == "kalshi" and not p["is_sandbox"]}
    # 5 YES, and the cash less 5 x 0.01 and Kalshi's fee (0.07 x 5 x 0.01 x 0.99, up to the cent).
    assert held == {YES: 5 * 10**8, "USD": (500 - Decimal("0.05") - Decimal("0.01")) * 10**8}
    # The ledger now agrees with the venue to the cent: a sync moves nothing.
    r = await client.post("/v1/positions/sync")
    assert (r.json()["venues"][0]["balances_adjusted"], r.json()["venues"][0]["fills_added"]) == (0, 0)
