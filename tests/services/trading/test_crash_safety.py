"""kill -9 the trader process (graph engine, router, sandbox execution) at seeded random points
while orders flow, restart it, and check the ledger: every graph ends, no child order is placed
twice, no fill is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events import AnyEvent
from events.execution import ChildAcked, FillRecorded
from events.graph import GraphCompleted, GraphSubmitted
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.bus import Bus
from services.edges import registry
from services.edges.runtime import EdgeRunner, EdgeTiming
from services.edges.service import BusSink
from services.edges.sim.server import SimServer
from services.edges.venue import VenueEndpoints
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
async def market(bus: Bus) -> AsyncIterator[None]:
    protocols, instruments, adapters = registry.sim_protocols(), registry.sim_instruments(), registry.adapters()
    servers, runners = [], []
    for i, name in enumerate(["binance", "okx"]):
        inst = [x for x in instruments[name] if x.symbol == "BTC-USDT"]
        server = await SimServer(protocols[name](), inst, tick_ms=100, seed=41 + i).start()
        runner = EdgeRunner(
            adapters[name](VenueEndpoints(server.ws_url, server.rest_url)), ["BTC-USDT"], BusSink(bus),
            timing=EdgeTiming(0.05, 0.5, 5.0, 0.1),
        )
        await runner.start()
        await runner.wait_until(lambda r: not r.is_stale(r.venue_symbols[0]))
        servers.append(server)
        runners.append(runner)
    yield
    for runner in runners:
        await runner.stop()
    for server in servers:
        await server.stop()


async def start_trader(settings: Settings) -> asyncio.subprocess.Process:
    env = dict(os.environ, CROSSBOOK_NATS_URL=settings.effective_nats_url, CROSSBOOK_DATA_DIR=str(settings.data_dir))
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli.main", "trader", cwd=str(ROOT), env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )


@pytest.mark.timeout(240)
async def test_kill_9_during_orders_loses_nothing_and_doubles_nothing(
    bus: Bus, settings: Settings, market: None
) -> None:
    from services.api.app import create_app
    from services.api.keys import create_key

    rng = random.Random(1234)
    seen: Counter[str] = Counter()
    graphs: set[str] = set()
    done: set[str] = set()

    def watch(event: AnyEvent, seq: int) -> None:
        seen[type(event).__name__] += 1
        if isinstance(event, GraphSubmitted):
            graphs.add(event.graph_id)
        elif isinstance(event, GraphCompleted):
            done.add(event.graph_id)

    watcher = StreamFollower(bus, "LEDGER", [">"], watch)
    await watcher.start()
    app = create_app(settings)
    trader = await start_trader(settings)
    kills = 0
    try:
        async with app.router.lifespan_context(app):
            import httpx

            key = create_key(settings, "default", sandbox=True, now_ns=1)
            headers = {"Authorization": f"Bearer {key.secret}"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
                for i in range(30):
                    r = await client.post(
                        "/v1/orders",
                        json={"symbol": "BTC-USDT", "side": "buy" if i % 2 else "sell", "qty": 0.01},
                        headers=headers,
                    )
                    assert r.status_code == 200, r.text
                    if rng.random() < 0.15:
                        # kill -9 at a random point of the event path, then restart
                        await asyncio.sleep(rng.random() * 0.05)
                        trader.send_signal(signal.SIGKILL)
                        await trader.wait()
                        kills += 1
                        trader = await start_trader(settings)
        await watcher.wait_until(lambda: len(done) == len(graphs) == 30, timeout=120)
    finally:
        trader.send_signal(signal.SIGTERM)
        await trader.wait()
        await watcher.stop()
    assert kills >= 2
    # Audit the log.
    allocated: Counter[tuple[str, str, str]] = Counter()
    acked: Counter[str] = Counter()
    fills: Counter[str] = Counter()
    async for d in bus.replay("LEDGER", [">"]):
        e = d.event
        if isinstance(e, ChildAllocated):
            allocated[(e.graph_id, e.node_id, e.venue)] += 1
        elif isinstance(e, ChildAcked):
            acked[e.client_order_id] += 1
        elif isinstance(e, FillRecorded):
            fills[e.fill_id] += 1
    assert max(allocated.values()) == 1, "a child was allocated twice for one node and venue"
    assert max(acked.values()) == 1, "a child order was placed twice"
    assert fills and max(fills.values()) == 1, "a fill was recorded twice"
