"""Shared end-to-end fixtures: the running trading stack, with the API in-process or on a port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn
from sequence_markets import Sequence
from starlette.types import ASGIApp

from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.edges.sim.server import SimServer
from services.settings import Settings
from tests.stack import Market, default_trader, trading_stack

SDK_VENUES = ["binance", "okx"]
CLUSTER_VENUES = ["binance", "okx", "bybit"]
T = TypeVar("T")


@dataclass
class Stack:
    seq: Sequence
    api: ApiState
    base_url: str
    key: str
    servers: list[SimServer]
    settings: Settings
    market: Market

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def until_terminal(self, graph_id: str, timeout: float = 10.0) -> dict[str, Any]:
        # Wait on the API's own ledger view (an event condition), then read through the SDK.
        await self.api.ledger_follower.wait_until(
            lambda: (g := self.api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=timeout
        )
        return await self.call(self.seq.graph_status, graph_id)


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port with uvicorn (lifespan on); yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_ping_interval=1.0, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # surfaces a startup failure
                await asyncio.sleep(0.01)  # uvicorn exposes no startup event
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
def trader() -> str:
    """The trader mode of the stack fixtures (tests/stack.py `default_trader`); the trading
    tests run on both (tests/services/trading/conftest.py)."""
    return default_trader()


@pytest.fixture
async def stack(bus: Bus, settings: Settings, trader: str) -> AsyncIterator[Stack]:
    """The whole stack with the API on a real uvicorn port (the SDK speaks urllib/websockets)."""
    async with serving(bus, settings, SDK_VENUES, seed=41, trader=trader) as running:
        yield running


@contextlib.asynccontextmanager
async def serving(
    bus: Bus,
    settings: Settings,
    venues: list[str],
    seed: int,
    symbols: dict[str, list[str]] | None = None,
    ready: str = "BTC-USDT",
    trader: str | None = None,
) -> AsyncIterator[Stack]:
    """The trading stack on `venues` with the API on a uvicorn port, once `ready` has an NBBO."""
    async with trading_stack(bus, venues, seed=seed, symbols=symbols, trader=trader) as market:
        # The self-host owner key is admin: it may clear the kill switch it engaged.
        key = create_key(settings, "acme", sandbox=True, admin=True, now_ns=time.time_ns()).secret
        async with api_on_port(settings) as (api, base_url):
            await api.md_follower.wait_until(lambda: api.market.nbbo(ready) is not None)
            seq = Sequence(key, base_url=base_url, max_retries=0)
            yield Stack(seq, api, base_url, key, market.servers, settings, market)


@contextlib.asynccontextmanager
async def api_on_port(settings: Settings) -> AsyncIterator[tuple[ApiState, str]]:
    """The API app on a real uvicorn port (the SDK speaks urllib/websockets): its state and base
    URL, once its market-data follower has caught up."""
    app = create_app(settings)
    async with serve_app(app) as base_url:
        api: ApiState = app.state.api
        await api.md_follower.wait_caught_up()
        yield api, base_url


@pytest.fixture
async def cluster(
    bus: Bus, settings: Settings, trader: str
) -> AsyncIterator[tuple[httpx.AsyncClient, list[SimServer], ApiState]]:
    """The whole stack with the API in-process (ASGI), for tests that do not need a real port."""
    async with trading_stack(bus, CLUSTER_VENUES, seed=31, trader=trader) as market, api_in_process(settings) as (
        client, api
    ):
        yield client, market.servers, api


@contextlib.asynccontextmanager
async def api_in_process(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ApiState]]:
    """The API app in-process (ASGI) with a sandbox key of tenant `default`, once its market-data
    follower has caught up: a client and the app's state."""
    key = create_key(settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as client:
            yield client, app.state.api
