"""The API process killed (SIGKILL) between receiving an order and answering it: the client gets
an error or a result, and the order executes exactly once or not at all -- never twice, never
half. A retry of the same request (same graph_id and body) to the restarted API answers from
the one graph. The hardest point: the command is on the log but the kernel has not run it yet
(the graph engine is down), so the API dies holding an acked, unexecuted command; the engine
runs it once when it is back."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from typing import Any

import httpx
import pytest

from events.commands import SubmitGraph
from events.graph import GraphSubmitted
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.api.keys import create_key
from services.bus import Bus
from services.graph.service import GraphEngineService
from services.kernel.jetstream import JetStreamKernel
from services.settings import Settings
from tests.services.trading.test_crash_safety import Part
from services.net import free_port
from tests.stack import TRADERS, trading_stack

SYMBOL = "BTC-USDT"



def body(graph_id: str) -> dict[str, Any]:
    return {"graph_id": graph_id, "nodes": [{
        "node_id": "order", "instrument": {"symbol": SYMBOL, "type": "spot"}, "side": "buy",
        "order_type": "market", "quantity": {"fixed": {"qty_1e8": 1_000_000}},
    }], "edges": []}


class Log:
    """What the LEDGER holds so far, per graph_id."""

    def __init__(self) -> None:
        self.commands: Counter[str] = Counter()
        self.graphs: Counter[str] = Counter()
        self.children: Counter[str] = Counter()  # client order id -> allocations

    def apply(self, event: Any, seq: int) -> None:
        match event:
            case SubmitGraph():
                self.commands[event.graph_id] += 1
            case GraphSubmitted():
                self.graphs[event.graph_id] += 1
            case ChildAllocated():
                self.children[event.client_order_id] += 1


@pytest.mark.timeout(120)
@pytest.mark.parametrize("trader", TRADERS)
async def test_an_api_killed_mid_request_leaves_each_order_executed_once_or_not_at_all(
    bus: Bus, settings: Settings, trader: str
) -> None:
    port = free_port()
    env = dict(
        os.environ,
        CROSSBOOK_NATS_URL=settings.effective_nats_url,
        CROSSBOOK_DATA_DIR=str(settings.data_dir),
        CROSSBOOK_DATABASE_URL=settings.database_url,
        CROSSBOOK_API_PORT=str(port),
        # The trader parts run in this test's process, without the readiness heartbeat.
        CROSSBOOK_REQUIRE_TRADER_READY="0",
    )
    api = Part("api", ["api"], env, "Uvicorn running on")  # logged once it listens
    key = create_key(settings, "acme", sandbox=True, now_ns=1).secret
    log = Log()
    watcher = StreamFollower(bus, "LEDGER", [">"], log.apply)
    await watcher.start()
    outcomes: dict[str, str] = {}
    try:
        async with trading_stack(bus, ["binance", "okx"], seed=11, trader=trader) as market, httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:

            async def start_api() -> None:
                await api.start()
                await api.wait_ready()
                # Serving orders once its market view lists the symbol (a separate process: ask it).
                async with asyncio.timeout(30):
                    while (await client.get(f"/v1/quotes/{SYMBOL}")).status_code != 200:
                        await asyncio.sleep(0.05)  # polling another process's readiness
                    # ... and once its ledger read has caught up (else a POST answers a retryable 503).
                    while (await client.get("/v1/health")).status_code != 200:
                        await asyncio.sleep(0.05)  # polling another process's readiness

            await start_api()

            async def killed_during(graph_id: str, kill_when: Any) -> None:
                """POST the order, SIGKILL the API once `kill_when()` holds, record what the client got."""
                request = asyncio.create_task(client.post("/v1/orders", json=body(graph_id)))
                await watcher.wait_until(lambda: kill_when() or request.done(), timeout=30)
                await api.kill()
                try:
                    r = await request
                    outcomes[graph_id] = f"answered {r.status_code}"
                    assert r.status_code == 200, r.text  # a result is a whole one
                except httpx.TransportError as exc:
                    outcomes[graph_id] = f"error {type(exc).__name__}"
                await start_api()

            # The tenant's first order is funded first, and the kernel trader applies the funding
            # (the sandbox book is its own): fund before case 2 stops it, so that case's order
            # waits on nothing but the kernel it tests.
            r = await client.post("/v1/orders", json=body("g_funded"))
            assert r.status_code == 200, r.text
            # 1. Killed as soon as the request is on its way (before or while it is handled).
            await killed_during("g_kill_at_once", lambda: True)
            # 2. Killed holding an acked command the kernel has not run: the graph engine is down.
            engine: type = JetStreamKernel if trader == "kernel" else GraphEngineService
            index = next(i for i, p in enumerate(market.parts) if isinstance(p, engine))
            await market.parts[index].stop()
            await killed_during("g_kill_acked", lambda: log.commands["g_kill_acked"] > 0)
            assert log.graphs["g_kill_acked"] == 0  # acked, not executed
            market.parts[index] = engine(bus)  # the kernel restored from the log answers the acked command
            await market.parts[index].start()
            await watcher.wait_until(lambda: log.graphs["g_kill_acked"] > 0, timeout=30)
            # 3. Killed once the engine has made the graph, before (or as) the API answers.
            await killed_during("g_kill_made", lambda: log.graphs["g_kill_made"] > 0)

            # The client retries each request that got no answer: same graph_id, same body.
            for graph_id in outcomes:
                r = await client.post("/v1/orders", json=body(graph_id))
                assert r.status_code == 200 and r.json()["graph_id"] == graph_id, r.text
            await watcher.wait_caught_up()
    finally:
        await api.stop()
        await watcher.stop()

    # Assert: every order executed exactly once (retried ones included): one command, one graph,
    # and no child order allocated twice.
    assert set(outcomes) == {"g_kill_at_once", "g_kill_acked", "g_kill_made"}
    assert outcomes["g_kill_acked"].startswith("error"), outcomes  # it died before the kernel answered
    for graph_id in outcomes:
        assert (log.commands[graph_id], log.graphs[graph_id]) == (1, 1), (graph_id, outcomes[graph_id])
    assert log.children and max(log.children.values()) == 1
