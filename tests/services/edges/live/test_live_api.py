"""Live keys trade live, through the API: real nats-server, the trader's parts, the API app,
a simulated Binance streaming the book, and the loopback Binance order server that checks
every signature, over real sockets."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

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
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, binance_app, start_server
from services.edges.live.service import LiveExecutor
from services.edges.live.venues import ORDERS
from services.settings import Settings
from services.vault import open_vault
from tests.services.vault.helpers import sqlite_bytes, stream_bytes
from tests.stack import trading_stack

API_KEY = "live-api-key-K9"
SECRET = "live-api-secret-never-shown-3e1f"
TENANT = "acme"


@dataclass
class Live:
    api: ApiState
    live: httpx.AsyncClient  # seq_live_ key of tenant acme
    test: httpx.AsyncClient  # seq_test_ key of tenant acme
    venue: LoopbackVenue
    server: RunningServer
    bus: Bus


@contextlib.asynccontextmanager
async def live_stack(bus: Bus, settings: Settings, *, live_orders: bool, venues: tuple[str, ...] = ("binance",),
                     trader: str | None = None) -> AsyncIterator[Live]:
    settings = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, ack_wait_s=1.0,
                        require_trader_ready=False, live_orders=live_orders,
                        master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    venue = LoopbackVenue(accounts={API_KEY: Account(SECRET)}, balances={"USDT": Decimal(10_000_000)},
                          assets={"BTCUSDT": ("BTC", "USDT")})
    server = await start_server(binance_app(venue))
    live_key = create_key(settings, TENANT, sandbox=False, admin=True, now_ns=1).secret
    test_key = create_key(settings, TENANT, sandbox=True, now_ns=2).secret
    vault = open_vault(settings)
    executor = LiveExecutor(as_writer(bus, "executor"), vault, {"binance": server.url}, poll_interval_s=0.05,
                            owns_vault=True)
    app = create_app(settings)
    try:
        async with trading_stack(bus, list(venues), seed=7, trader=trader, live=live_orders), app.router.lifespan_context(app):
            await executor.start()
            try:
                api: ApiState = app.state.api
                await api.md_follower.wait_until(lambda: api.market.nbbo("BTC-USDT") is not None)
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                             headers={"Authorization": f"Bearer {live_key}"}) as live, \
                        httpx.AsyncClient(transport=transport, base_url="http://test",
                                          headers={"Authorization": f"Bearer {test_key}"}) as test:
                    yield Live(api, live, test, venue, server, bus)
            finally:
                await executor.stop()
    finally:
        venue.release.set()  # a reply held by a fault must not hold the server's shutdown
        await server.stop()


def order(**extra: Any) -> dict[str, Any]:
    return {"symbol": "BTC-USDT", "side": "buy", "qty": "0.01", "order_type": "market", **extra}


async def connect(live: Live) -> None:
    r = await live.live.put("/v1/credentials/binance", json={"api_key": API_KEY, "api_secret": SECRET})
    assert r.status_code == 200, r.text


async def sync(live: Live) -> dict[str, Any]:
    """POST /v1/positions/sync: the executor reads the venue account into the ledger (the
    risk check needs the live funds it reports)."""
    r = await live.live.post("/v1/positions/sync")
    assert r.status_code == 200, r.text
    return r.json()


def loopback_book_at_the_nbbo(live: Live) -> Decimal:
    nbbo = live.api.market.nbbo("BTC-USDT")
    assert nbbo is not None
    mid = Decimal((nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2) / 10**9
    px = mid.quantize(Decimal("0.01"))
    live.venue.set_book("BTCUSDT", bids=[(str(px - 1), "5")], asks=[(str(px), "5")])
    return px


@pytest.fixture
async def live_on(bus: Bus, settings: Settings, trader: str) -> AsyncIterator[Live]:
    async with live_stack(bus, settings, live_orders=True, trader=trader) as live:
        yield live


async def test_a_live_key_with_credentials_places_a_signed_order_at_the_venue_and_holds_the_position(
    live_on: Live,
) -> None:
    live = live_on
    await connect(live)
    synced = await sync(live)
    assert synced == {"mode": "live", "venues": [{"venue": "binance", "orders_checked": 0, "orders_resolved": 0,
                                                  "fills_added": 0, "balances_adjusted": 1, "open_at_venue": 0}]}
    px = loopback_book_at_the_nbbo(live)

    r = await live.live.post("/v1/orders", json=order())
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await live.api.ledger_follower.wait_until(
        lambda: (g := live.api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30)

    graph = live.api.ledger.graphs[graph_id]
    assert not graph.is_sandbox
    # Exactly one order reached the loopback Binance, signed as Binance checks it (it refuses a bad one).
    [placed] = live.venue.orders.values()
    assert (placed.symbol, placed.side, placed.qty, placed.status) == ("BTCUSDT", "BUY", Decimal("0.01"), "FILLED")
    assert "POST /api/v3/order" in live.venue.requests_seen
    fills = [f for f in live.api.ledger.fills_of(TENANT) if f.graph_id == graph_id]
    assert [(f.qty_1e8, f.px_1e9, f.is_sandbox, f.venue) for f in fills] == [(1_000_000, int(px * 10**9), False, "binance")]
    assert fills[0].client_order_id and ORDERS["binance"]().client_id(fills[0].client_order_id) == placed.client_id

    await view_caught_up(live.api)
    await live.api.positions.wait_for(live.api.ledger_follower.position)  # the positions view too
    positions = (await live.live.get("/v1/positions")).json()["positions"]
    btc = [p for p in positions if p["venue"] == "binance" and p["instrument"]["symbol"].startswith("BTC")]
    assert [(p["qty_1e8"], p["is_sandbox"]) for p in btc] == [(1_000_000, False)]
    # The test key sees only the sandbox book: not this live position.
    test_positions = (await live.test.get("/v1/positions")).json()["positions"]
    assert not [p for p in test_positions if not p["is_sandbox"]]
    # The ledger's balances after the fill are the venue's, to the unit: a sync moves nothing.
    [again] = (await sync(live))["venues"]
    assert (again["balances_adjusted"], again["fills_added"]) == (0, 0)
    await live.api.positions.wait_for(live.api.ledger_follower.position)
    balances = {b["asset"]: b["qty_1e8"] for b in (await live.live.get("/v1/balances")).json()["balances"]
                if b["venue"] == "binance" and not b.get("is_sandbox", False)}
    assert balances == {a: int(q * 10**8) for a, q in live.venue.balances.items()}


async def test_test_keys_and_sandbox_orders_stay_in_the_sandbox(live_on: Live) -> None:
    live = live_on
    await connect(live)
    assert (await live.test.post("/v1/positions/sync")).json() == {"mode": "sandbox", "venues": []}
    for client, body in ((live.test, order()), (live.live, order(sandbox=True)),
                         (live.live, {"nodes": [{"node_id": "a", "instrument": {"symbol": "BTC-USDT"}, "side": "buy",
                                                 "quantity": {"fixed": {"qty_1e8": 1_000_000}},
                                                 "order_type": "market"}], "edges": [],
                                      "is_sandbox": True})):
        r = await client.post("/v1/orders", json=body)
        assert r.status_code == 200, r.text
        graph_id = r.json()["graph_id"]
        await live.api.ledger_follower.wait_until(
            lambda g=graph_id: (s := live.api.ledger.graphs.get(g)) is not None and s.terminal, timeout=30)
        assert live.api.ledger.graphs[graph_id].is_sandbox
        assert all(f.is_sandbox for f in live.api.ledger.fills_of(TENANT) if f.graph_id == graph_id)
    assert not live.venue.requests_seen  # nothing went to the venue


async def test_a_live_order_without_credentials_is_refused_with_the_reason(live_on: Live) -> None:
    r = await live_on.live.post("/v1/orders", json=order())
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["message"] == ("no venue you have credentials for can take live orders for 'BTC-USDT' "
                                "(connect one of: binance)")
    assert error["details"][0]["field"] == "symbol" and error["request_id"]
    assert not live_on.api.ledger.graphs_of(TENANT)  # nothing was appended
    assert not live_on.venue.requests_seen


async def test_a_revoked_credential_makes_the_live_order_refused_again(live_on: Live) -> None:
    await connect(live_on)
    assert (await live_on.live.delete("/v1/credentials/binance")).status_code == 200
    r = await live_on.live.post("/v1/orders", json=order())
    assert r.status_code == 422 and "credentials" in r.json()["error"]["message"]


async def test_a_live_order_is_refused_when_live_trading_is_off(bus: Bus, settings: Settings, trader: str) -> None:
    async with live_stack(bus, settings, live_orders=False, trader=trader) as live:
        await connect(live)
        r = await live.live.post("/v1/orders", json=order())
        assert r.status_code == 403
        error = r.json()["error"]
        assert error["code"] == "FORBIDDEN" and "CROSSBOOK_LIVE_ORDERS=1" in error["message"]
        assert not live.api.ledger.graphs_of(TENANT)
        # The same order asked for in the sandbox is taken.
        assert (await live.live.post("/v1/orders", json=order(sandbox=True))).status_code == 200
        assert (await live.live.post("/v1/positions/sync")).status_code == 403
        assert not live.venue.requests_seen


async def test_the_router_sends_a_live_child_only_to_a_venue_with_credentials(
    bus: Bus, settings: Settings, trader: str
) -> None:
    # OKX lists BTC-USDT too, but the tenant has credentials only at Binance: every live child goes there.
    async with live_stack(bus, settings, live_orders=True, venues=("binance", "okx"), trader=trader) as live:
        await live.api.md_follower.wait_until(lambda: set(live.api.market.by_symbol.get("BTC-USDT", {})) >= {"okx"})
        await connect(live)
        await sync(live)
        loopback_book_at_the_nbbo(live)

        async def children_of(body: dict[str, Any]) -> set[str]:
            r = await live.live.post("/v1/orders", json=body)
            assert r.status_code == 200, r.text
            graph_id = r.json()["graph_id"]
            await live.api.ledger_follower.wait_until(
                lambda: (g := live.api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30)
            return {c.venue for c in live.api.ledger.graphs[graph_id].children.values() if c.venue}

        # The same order in the sandbox is split over both books: it asks for more than Binance's
        # whole visible ask side, so OKX is worth routing to whatever the simulated books do.
        _, asks = live.api.market.consolidated("BTC-USDT", depth=1_000)
        qty = str(Decimal(sum(q for _, q, venue in asks if venue == "binance") + 10**8) / 10**8)
        assert await children_of(order(qty=qty, sandbox=True)) == {"binance", "okx"}
        assert await children_of(order(qty=qty)) == {"binance"}
        live_fills = [f for f in live.api.ledger.fills_of(TENANT) if not f.is_sandbox]
        assert {f.venue for f in live_fills} == {"binance"} and sum(f.qty_1e8 for f in live_fills) > 0
        assert len(live.venue.orders) == len({f.client_order_id for f in live_fills})


async def test_no_secret_anywhere_after_a_run_that_places_live_orders(
    live_on: Live, caplog: pytest.LogCaptureFixture
) -> None:
    # The front doors' secrets scan (tests/services/api/test_credentials.py), over a live run:
    # credentials stored, a sync, a live fill, a live order resting at the venue and cancelled there.
    caplog.set_level(logging.DEBUG)
    live, seen = live_on, []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        r = await live.live.request(method, path, **kwargs)
        seen.append(r.text)
        return r

    await call("PUT", "/v1/credentials/binance", json={"api_key": API_KEY, "api_secret": SECRET})
    await call("POST", "/v1/positions/sync")
    px = loopback_book_at_the_nbbo(live)
    filled = (await call("POST", "/v1/orders", json=order())).json()["graph_id"]
    below = int((px - 50) * 10**9)
    node = {"node_id": "order", "instrument": {"symbol": "BTC-USDT"}, "side": "buy",
            "quantity": {"fixed": {"qty_1e8": 1_000_000}}, "order_type": {"limit": {"price_1e9": below}}}
    resting = (await call("POST", "/v1/orders", json={"nodes": [node], "edges": []})).json()
    graph_id = resting["graph_id"]
    # Resting at the venue, and its ack on the ledger: the cancel is sent once the executor knows
    # the venue's order (a cancel racing the ack is a separate case, noted for the executor).
    acks: list[ChildAcked] = []
    follower = StreamFollower(live.bus, "LEDGER", ["exec.>"], lambda e, _: acks.append(e)
                              if isinstance(e, ChildAcked) and e.graph_id == graph_id else None)
    await follower.start()
    try:
        await follower.wait_until(lambda: bool(acks), timeout=30)
    finally:
        await follower.stop()
    assert len(live.venue.orders) == 2
    await call("DELETE", f"/v1/execution_graphs/{graph_id}")
    # The child's ChildCancelled comes after the venue's answer to the cancel.
    await live.api.ledger_follower.wait_until(
        lambda: [o.status for o in live.venue.orders.values()] == ["FILLED", "CANCELED"], timeout=30)
    for path in ("/v1/orders", "/v1/fills", "/v1/positions", "/v1/balances", "/v1/credentials", f"/v1/execution_graphs/{filled}"):
        await call("GET", path)

    _, raw = await stream_bytes(live.bus, "exec.binance.acme")  # the whole LEDGER stream
    for where, text in (("LEDGER", raw), ("API answers", "\n".join(seen).encode()), ("the log", caplog.text.encode()),
                        ("the vault file", sqlite_bytes(live.api.settings.data_dir))):
        assert SECRET.encode() not in text, f"the API secret is in {where}"
    assert len(raw) > 1000 and caplog.records  # the scans had something to look at
