"""Ready means ready: until the trader (a real `crossbook trader` process) announces that its
graph engine, router and sandbox are caught up on current books, POST /v1/orders answers a
retryable 503 with Retry-After and GET /v1/health says why; the published client's retry then
fills the order. Killing and restarting the trader during trading: orders are answered 503 or
queued and executed once, none rejected as stale."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sequence_markets import Sequence
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typer.testing import CliRunner

from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.cli.main import app as cli
from services.edges import registry
from services.edges.runtime import EdgeRunner, EdgeTiming
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.settings import Settings
from tests.services.conftest import serve_app
from tests.services.trading.test_crash_safety import Part

VENUES = ["binance", "okx"]
QTY_1E8 = 1_000_000  # 0.01 BTC


class Answers:
    """ASGI wrapper recording what every request was answered (what the client was told)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.answers: list[tuple[str, str, int]] = []  # (method, path, status)
        self.refused = asyncio.Event()  # some request was answered 503
        self.arrived = asyncio.Event()  # a POST /v1/orders reached the API

    @property
    def statuses(self) -> list[int]:
        """Those of POST /v1/orders."""
        return [status for method, path, status in self.answers if (method, path) == ("POST", "/v1/orders")]

    def clear(self) -> None:
        self.answers.clear()
        self.refused.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (scope["method"], scope["path"]) == ("POST", "/v1/orders"):
            self.arrived.set()

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.answers.append((scope["method"], scope["path"], message["status"]))
                if message["status"] == 503:
                    self.refused.set()
            await send(message)

        await self.app(scope, receive, record)


@dataclass
class Trading:
    api: ApiState
    base_url: str
    key: str
    trader: Part
    orders: Answers
    refusals: list[httpx.Response] = field(default_factory=list)
    numbers: Iterator[int] = field(default_factory=itertools.count)

    async def post(self, client: httpx.AsyncClient, timeout_s: float = 60.0) -> str:
        """Send a 0.01 BTC market buy as a client honouring the API's answers would: after a 503,
        again once Retry-After has passed; after a 504 (recorded, but the kernel, e.g. a trader
        still starting, did not apply it within the API's wait), the same order (its graph id)
        again at once, which waits for the kernel anew and is never a second order."""
        body = {"symbol": "BTC-USDT", "side": "buy", "qty": QTY_1E8 / 1e8, "graph_id": f"g-{next(self.numbers)}"}
        deadline = time.monotonic() + timeout_s
        while True:
            r = await client.post("/v1/orders", json=body)
            if r.status_code not in (503, 504) or time.monotonic() > deadline:
                assert r.status_code == 200, r.text
                return str(r.json()["graph_id"])
            self.refusals.append(r)
            if r.status_code == 503:
                await asyncio.sleep(float(r.headers["Retry-After"]))  # what the server asked for

    async def ended(self, graph_id: str, timeout: float = 60.0) -> dict[str, Any]:
        await self.api.ledger_follower.wait_until(
            lambda: (g := self.api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=timeout
        )
        async with self.client() as client:
            return dict((await client.get(f"/v1/execution_graphs/{graph_id}")).json())

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30)


@pytest.fixture
async def trading(bus: Bus, settings: Settings) -> AsyncIterator[Trading]:
    """Local venues and edges streaming BTC-USDT, the API on a port (readiness required, as in
    production), and a `crossbook trader` process that the test starts."""
    settings = settings.model_copy(update={"require_trader_ready": True})
    protocols, instruments, adapters = registry.sim_protocols(), registry.sim_instruments(), registry.adapters()
    async with contextlib.AsyncExitStack() as stack:
        for i, name in enumerate(VENUES):
            inst = [x for x in instruments[name] if x.symbol == "BTC-USDT"]
            server = await SimServer(protocols[name](), inst, tick_ms=50, seed=61 + i).start()
            stack.push_async_callback(server.stop)
            runner = EdgeRunner(adapters[name](VenueEndpoints(server.ws_url, server.rest_url)), ["BTC-USDT"],
                                BusSink(bus), timing=EdgeTiming(0.05, 0.5, 5.0, 0.1))
            await runner.start()
            stack.push_async_callback(runner.stop)
            await runner.wait_until(lambda r: not r.is_stale(r.venue_symbols[0]))
        env = dict(os.environ, CROSSBOOK_NATS_URL=settings.effective_nats_url,
                   CROSSBOOK_DATA_DIR=str(settings.data_dir), CROSSBOOK_DATABASE_URL=settings.database_url)
        trader = Part("trader", ["trader"], env, "trader running")
        stack.push_async_callback(trader.stop)
        key = create_key(settings, "default", sandbox=True, now_ns=1).secret
        app = create_app(settings)
        orders = Answers(app)
        base_url = await stack.enter_async_context(serve_app(orders))
        api: ApiState = app.state.api
        await api.md_follower.wait_until(lambda: api.market.nbbo("BTC-USDT") is not None)
        yield Trading(api, base_url, key, trader, orders)


@pytest.mark.timeout(120)
async def test_an_order_before_readiness_gets_a_retryable_503_and_the_published_client_retry_fills_it(
    trading: Trading,
) -> None:
    # Arrange: the API and the books are up, no trader yet.
    async with trading.client() as client:
        early = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.01})
        health = await client.get("/v1/health")
    assert early.status_code == 503 and early.headers["Retry-After"] == "1"
    assert early.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "trader graph" in early.json()["error"]["message"]
    assert health.status_code == 503 and health.json()["ready"] is False
    assert any("trader router" in p for p in health.json()["problems"])
    assert trading.api.ledger.graphs == {}  # refused before any side effect
    # The published client, with enough retries to outlast a trader start on a loaded machine
    # (its 503 backoff is 0.5, 1, 2, 2, ... s; it does not read Retry-After on a 503).
    seq = Sequence(trading.key, base_url=trading.base_url, max_retries=15)
    trading.orders.clear()

    # Act: the client's order is refused, then the trader starts.
    buying = asyncio.create_task(asyncio.to_thread(seq.buy, "BTC-USDT", 0.01))
    await asyncio.wait_for(trading.orders.refused.wait(), 30)
    await trading.trader.start()
    submitted = await asyncio.wait_for(buying, 90)

    # Assert: one order, taken once the system was ready, filled in full.
    status = await trading.ended(submitted["graph_id"])
    assert trading.orders.statuses[0] == 503 and trading.orders.statuses[-1] == 200
    assert trading.orders.statuses.count(200) == 1
    assert list(trading.api.ledger.graphs) == [submitted["graph_id"]]
    assert status["status"] == "COMPLETED", status
    assert status["nodes"]["order"]["filled_qty_1e8"] == QTY_1E8
    async with trading.client() as client:
        assert (await client.get("/v1/health")).json()["ready"] is True


@pytest.mark.timeout(150)
async def test_killing_and_restarting_the_trader_during_trading_rejects_no_order_as_stale(trading: Trading) -> None:
    await trading.trader.start()
    assert trading.api.readiness is not None
    await trading.api.readiness.wait_ready(timeout=60)
    async with trading.client() as client:
        before = await trading.post(client)
        assert (await trading.ended(before))["status"] == "COMPLETED"

        # Act: kill -9 the trader; orders keep coming while it is gone and while it restarts.
        await trading.trader.kill()
        # Sent while it is gone: refused (503), or its command is recorded and runs once the
        # kernel is back (the answer waits for it, so the restart must not wait for the answer).
        trading.orders.arrived.clear()
        while_gone = asyncio.create_task(trading.post(client))
        await asyncio.wait_for(trading.orders.arrived.wait(), 10)
        restarting = asyncio.create_task(trading.post(client))
        await trading.trader.start()
        while_gone_id, during_restart = await while_gone, await restarting
        after = await trading.post(client)

    # Assert: every order was answered 200, 503 or 504 (recorded, kernel not back yet) only, and
    # each executed once, in full.
    graph_ids = [before, while_gone_id, during_restart, after]
    assert set(trading.orders.statuses) <= {200, 503, 504}
    assert trading.orders.statuses.count(200) == len(graph_ids) == len(set(graph_ids))
    for graph_id in graph_ids:
        status = await trading.ended(graph_id)
        assert status["status"] == "COMPLETED", status
        assert status["nodes"]["order"]["filled_qty_1e8"] == QTY_1E8, status  # not twice
    assert all(
        r.json()["error"]["code"] == {503: "SERVICE_UNAVAILABLE", 504: "KERNEL_TIMEOUT"}[r.status_code]
        for r in trading.refusals
    )
    assert set(trading.api.ledger.graphs) == set(graph_ids)


@pytest.mark.timeout(120)
async def test_crossbook_buy_waits_for_readiness_then_its_order_fills(
    trading: Trading, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROSSBOOK_API_URL", trading.base_url)
    monkeypatch.setenv("CROSSBOOK_API_KEY", trading.key)
    trading.orders.clear()

    # Act: `crossbook buy` while no trader runs; the trader starts once the CLI has been told to wait.
    buying = asyncio.create_task(asyncio.to_thread(CliRunner().invoke, cli, ["buy", "BTC-USDT", "0.01", "--json"]))
    await asyncio.wait_for(trading.orders.refused.wait(), 30)
    await trading.trader.start()
    result = await asyncio.wait_for(buying, 90)

    # Assert: it asked GET /v1/health until ready, then sent its order once, and the order filled.
    assert result.exit_code == 0, result.output
    assert ("GET", "/v1/health", 503) in trading.orders.answers
    assert trading.orders.statuses == [200]
    status = json.loads(result.output.strip().splitlines()[-1])
    assert status["status"] == "COMPLETED" and status["nodes"]["order"]["filled_qty_1e8"] == QTY_1E8
