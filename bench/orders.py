"""Order path latency and throughput over the whole event path on loopback.

Run: .venv/bin/python bench/orders.py [--orders N]

Three local venue servers stream BTC-USDT books through real edges into JetStream; the graph
engine, router (risk + SOR) and sandbox execution run as in the `trader` process; orders go in
through the API app. Prints, per order:
  submit -> child allocated   (POST accepted to the first ChildAllocated on the bus: "on the wire"
                               for sandbox, where the child is handed to the venue transport)
  submit -> first fill        (to the first FillRecorded)
and sustained orders/s, beside the raw JetStream request round trip measured in the same run.
SOR plan time alone: bench/sor_plan.py.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import throwaway_cluster  # noqa: E402
from events import AnyEvent, new_event_id  # noqa: E402
from events.execution import FillRecorded  # noqa: E402
from events.market import TradePrinted  # noqa: E402
from events.routing import ChildAllocated  # noqa: E402
from projections.follower import StreamFollower  # noqa: E402
from services.api.app import create_app  # noqa: E402
from services.api.keys import create_key  # noqa: E402
from services.bus import Bus  # noqa: E402
from services.edges import registry  # noqa: E402
from services.edges.runtime import EdgeRunner  # noqa: E402
from services.edges.sandbox.service import SandboxExecutor  # noqa: E402
from services.edges.service import BusSink  # noqa: E402
from services.edges.sim.server import SimServer  # noqa: E402
from services.edges.venue import VenueEndpoints  # noqa: E402
from services.graph.service import GraphEngineService  # noqa: E402
from services.sor.service import RouterService  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def raw_round_trip_us(bus: Bus, n: int = 300) -> float:
    samples = []
    for i in range(n):
        event = TradePrinted(
            event_id=new_event_id(), ts_ns=i, venue="bench", symbol="X", px_1e9=1, qty_1e8=1, aggressor="buy"
        )
        t0 = time.perf_counter()
        await bus.publish(event)
        samples.append((time.perf_counter() - t0) * 1e6)
    return statistics.median(samples)


async def main(n_orders: int) -> None:
    with throwaway_cluster() as (settings, _tmp):
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        protocols, instruments, adapters = registry.sim_protocols(), registry.sim_instruments(), registry.adapters()
        servers, runners = [], []
        for i, name in enumerate(["binance", "okx", "bybit"]):
            inst = [x for x in instruments[name] if x.symbol == "BTC-USDT"]
            server = await SimServer(protocols[name](), inst, tick_ms=100, seed=5 + i).start()
            runner = EdgeRunner(adapters[name](VenueEndpoints(server.ws_url, server.rest_url)), ["BTC-USDT"], BusSink(bus))
            await runner.start()
            await runner.wait_until(lambda r: not r.is_stale(r.venue_symbols[0]))
            servers.append(server)
            runners.append(runner)
        parts = [GraphEngineService(bus), RouterService(bus), SandboxExecutor(bus)]
        for part in parts:
            await part.start()

        first_child: dict[str, int] = {}
        first_fill: dict[str, int] = {}

        def on_event(event: AnyEvent, seq: int) -> None:
            now = time.perf_counter_ns()
            if isinstance(event, ChildAllocated):
                first_child.setdefault(event.graph_id, now)
            elif isinstance(event, FillRecorded):
                first_fill.setdefault(event.graph_id, now)

        watcher = StreamFollower(bus, "LEDGER", ["route.>", "exec.>"], on_event)
        await watcher.start()
        raw_us = await raw_round_trip_us(bus)
        app = create_app(settings)
        key = create_key(settings, "bench", sandbox=True, now_ns=time.time_ns())
        auth = {"Authorization": f"Bearer {key.secret}"}
        submitted: dict[str, int] = {}
        async with app.router.lifespan_context(app):
            await app.state.api.md_follower.wait_caught_up()
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=auth
            ) as client:
                # Warm up (paper funding, first JetStream consumers), then measure.
                r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.001})
                assert r.status_code == 200, r.text
                await watcher.wait_until(lambda: r.json()["graph_id"] in first_fill, timeout=30)
                t0 = time.perf_counter()
                for i in range(n_orders):
                    side = "buy" if i % 2 == 0 else "sell"
                    start = time.perf_counter_ns()
                    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": side, "qty": 0.01})
                    submitted[r.json()["graph_id"]] = start
                    await watcher.wait_until(lambda: r.json()["graph_id"] in first_fill, timeout=30)
                elapsed = time.perf_counter() - t0
        for part in reversed(parts):
            await part.stop()
        await watcher.stop()
        for runner in runners:
            await runner.stop()
        for server in servers:
            await server.stop()
        await bus.close()
    to_child = [(first_child[g] - t) / 1e6 for g, t in submitted.items()]
    to_fill = [(first_fill[g] - t) / 1e6 for g, t in submitted.items()]
    print(f"orders: {n_orders} sequential market orders (0.01 BTC), 3 venues, sandbox fills")
    print(f"raw JetStream publish round trip (median)  {raw_us / 1000:8.2f} ms")
    print(f"submit -> child allocated   p50 {pct(to_child, 0.5):7.2f} ms  p99 {pct(to_child, 0.99):7.2f} ms")
    print(f"submit -> first fill        p50 {pct(to_fill, 0.5):7.2f} ms  p99 {pct(to_fill, 0.99):7.2f} ms")
    print(f"sustained (one at a time)   {n_orders / elapsed:7.1f} orders/s")
    print(f"submit -> child p50 / raw round trip: {pct(to_child, 0.5) / (raw_us / 1000):.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100)
    asyncio.run(main(parser.parse_args().orders))
