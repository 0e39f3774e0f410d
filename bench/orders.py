"""Order path latency and throughput over the whole event path on loopback.

Run: .venv/bin/python bench/orders.py [--orders N] [--trader services|kernel|both]

Runs the production topology, one OS process per part as `make run` does: nats-server, the
venue servers for three venues, one edge per venue, `crossbook trader` (graph engine, router,
sandbox execution, TCA: as separate services, or as the one kernel, `CROSSBOOK_TRADER=kernel`)
and `crossbook api` (uvicorn). Orders go in over HTTP, one at a time. `--trader both` (the
default) runs the whole bench once per trader mode, one after the other, and ends with a
side-by-side line of both.
Prints, per order:
  submit -> child allocated   (POST sent to the first ChildAllocated on the bus: "on the wire"
                               for sandbox, where the child is handed to the venue transport)
  submit -> first fill        (to the first FillRecorded)
where the time goes (the wall-clock ts_ns of each event type relative to the submit), and
sustained orders/s, beside the raw JetStream publish round trip measured in the same run.
SOR plan time alone: bench/sor_plan.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._common import cpu_seconds, quoted, throwaway_cluster  # noqa: E402
from events import AnyEvent, new_event_id  # noqa: E402
from events.execution import FillRecorded  # noqa: E402
from events.market import TradePrinted  # noqa: E402
from events.routing import ChildAllocated  # noqa: E402
from projections.follower import StreamFollower  # noqa: E402
from services.api.keys import create_key  # noqa: E402
from services.bus import Bus  # noqa: E402
from services.edges import registry  # noqa: E402
from services.natsd import NatsServer  # noqa: E402
from services.settings import Settings  # noqa: E402
from services.net import free_port  # noqa: E402

VENUES = ["binance", "okx", "bybit"]
IDLE_S = 3.0
READY_S = 180  # start-up to ready: well under a minute when quiet, minutes at load 20+
HOPS = ["SubmitGraph", "GraphSubmitted", "NodeActivated", "RiskCheckPassed", "PlanMade", "ChildAllocated",
        "ChildAcked", "FillRecorded"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]



def free_port_range(n: int) -> int:
    """A base port with the `n` ports from it free now. `crossbook sim` listens on base + the
    venue's rank among all simulated venues (services/edges/service.py `sim_port`); the range is
    below the kernel's ephemeral ports, so no outgoing connection takes one meanwhile."""
    for _ in range(200):
        base = random.randrange(20_000, 32_768 - n)
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + n):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue  # one is taken: try another range
            return base
    raise SystemExit(f"bench: no {n} consecutive free ports for the venue servers")


@contextlib.contextmanager
def processes(settings: Settings, tmp: Path, trader: str) -> Iterator[tuple[str, dict[str, int]]]:
    """The cluster's processes (minus nats-server, already running); yields the API URL and
    each process's pid by name."""
    api_port = free_port()
    env = {
        **os.environ,
        "CROSSBOOK_NATS_URL": settings.nats_url,
        "CROSSBOOK_DATA_DIR": str(settings.data_dir),
        "CROSSBOOK_MARKET": "sim",
        "CROSSBOOK_SIM_BASE_PORT": str(free_port_range(len(registry.sim_protocols()))),
        "CROSSBOOK_API_PORT": str(api_port),
        "CROSSBOOK_TRADER": trader,
    }
    cli = [sys.executable, "-m", "services.cli.main"]
    commands = {
        "sim": [*cli, "sim", *[arg for v in VENUES for arg in ("--venue", v)]],
        **{f"edge {v}": [*cli, "edge", "--venue", v] for v in VENUES},
        "trader": [*cli, "trader"],
        "api": [*cli, "api"],
    }
    logs = open(tmp / "processes.log", "wb")
    procs = {
        name: subprocess.Popen(c, cwd=ROOT, env=env, stdout=logs, stderr=subprocess.STDOUT)
        for name, c in commands.items()
    }
    try:
        yield f"http://127.0.0.1:{api_port}", {name: p.pid for name, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        logs.close()


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


async def until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    """Poll a readiness check of another process (nothing to subscribe to across processes)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} not ready after {timeout} s")
        await asyncio.sleep(0.2)


async def main(n_orders: int, trader: str) -> tuple[float, float, float, float]:
    """One run with `trader`; prints its figures, returns the child p50, p99 (ms), the raw
    round trip (ms) and the HTTP answer p50 (ms)."""
    servers: list[NatsServer] = []
    with throwaway_cluster(servers) as (settings, tmp), processes(settings, tmp, trader) as (api_url, pids):
        assert servers[0].proc is not None
        pids = {"nats-server": servers[0].proc.pid, **pids, "bench (client + watcher)": os.getpid()}
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        first_child: dict[str, int] = {}
        first_fill: dict[str, int] = {}
        stamps: dict[str, dict[str, int]] = {}  # graph -> first ts_ns (wall) of each event type

        def on_event(event: AnyEvent, seq: int) -> None:
            now = time.perf_counter_ns()
            graph_id = getattr(event, "graph_id", None)
            if graph_id:
                stamps.setdefault(graph_id, {}).setdefault(type(event).__name__, event.ts_ns)
            if isinstance(event, ChildAllocated):
                first_child.setdefault(event.graph_id, now)
            elif isinstance(event, FillRecorded):
                first_fill.setdefault(event.graph_id, now)

        watcher = StreamFollower(bus, "LEDGER", ["cmd.>", "ord.>", "risk.>", "route.>", "exec.>"], on_event)
        await watcher.start()
        raw_us = await raw_round_trip_us(bus)
        key = create_key(settings, "bench", sandbox=True, now_ns=time.time_ns())
        async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key.secret}"}) as client:
            await until(lambda: quoted(client, VENUES), READY_S, "API with books from every venue")
            submitted: dict[str, int] = {}
            answered: dict[str, int] = {}  # graph -> when the HTTP answer was in (perf_counter_ns)

            async def order(side: str, qty: float) -> str:
                start, wall = time.perf_counter_ns(), time.time_ns()
                r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": side, "qty": qty})
                done = time.perf_counter_ns()
                assert r.status_code == 200, r.text
                graph_id = r.json()["graph_id"]
                submitted[graph_id], answered[graph_id] = start, done
                stamps.setdefault(graph_id, {})["submit"] = wall
                try:
                    await watcher.wait_until(lambda: graph_id in first_fill, timeout=30)
                except TimeoutError:
                    seen = sorted(stamps.get(graph_id, {}), key=lambda k: stamps[graph_id][k])
                    log_tail = (tmp / "processes.log").read_bytes()[-3000:].decode(errors="replace")
                    raise SystemExit(f"bench: order {graph_id} not filled in 30 s; its events: {seen}\n{log_tail}") from None
                return graph_id

            # Warm up (paper funding, first consumers, code paths), then measure.
            for _ in range(5):
                submitted.pop(await order("buy", 0.001))
            # Each process's CPU while no order runs (market data, heartbeats): a rate per second.
            idle0, i0 = {name: cpu_seconds(pid) for name, pid in pids.items()}, time.perf_counter()
            await asyncio.sleep(IDLE_S)  # a measuring window, not a wait for anything
            idle_s = time.perf_counter() - i0
            idle = {name: (cpu_seconds(pid) - idle0[name]) / idle_s for name, pid in pids.items()}
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            t0 = time.perf_counter()
            for i in range(n_orders):
                await order("buy" if i % 2 == 0 else "sell", 0.01)
            elapsed = time.perf_counter() - t0
            cpu_ms = {name: (cpu_seconds(pid) - cpu0[name]) * 1000 / n_orders for name, pid in pids.items()}
            # What the orders added: the total less the idle rate over the same time.
            extra_ms = {name: cpu_ms[name] - idle[name] * elapsed * 1000 / n_orders for name in pids}
        await watcher.stop()
        await bus.close()
    to_child = [(first_child[g] - t) / 1e6 for g, t in submitted.items()]
    to_fill = [(first_fill[g] - t) / 1e6 for g, t in submitted.items()]
    print(f"== trader: {trader}")
    print(f"orders: {n_orders} sequential market orders (0.01 BTC), {len(VENUES)} venues, sandbox fills")
    print("topology: one process each for sims, 3 edges, trader, api (as `make run`)")
    print(f"raw JetStream publish round trip (median)  {raw_us / 1000:8.2f} ms")
    print(f"submit -> child allocated   p50 {pct(to_child, 0.5):7.2f} ms  p99 {pct(to_child, 0.99):7.2f} ms")
    print(f"submit -> first fill        p50 {pct(to_fill, 0.5):7.2f} ms  p99 {pct(to_fill, 0.99):7.2f} ms")
    to_answer = [(answered[g] - t) / 1e6 for g, t in submitted.items()]
    print(f"submit -> HTTP answer       p50 {pct(to_answer, 0.5):7.2f} ms  p99 {pct(to_answer, 0.99):7.2f} ms")
    print(f"sustained (one at a time)   {n_orders / elapsed:7.1f} orders/s")
    print("CPU time per order (user + system, ms): total, and above the process's idle rate "
          f"(CPU %/s with no order, measured over {IDLE_S:g} s)")
    for name, ms in cpu_ms.items():
        print(f"  {name:<26} {ms:7.2f}  {extra_ms[name]:7.2f}  (idle {100 * idle[name]:5.1f}%)")
    print(f"  {'all':<26} {sum(cpu_ms.values()):7.2f}  {sum(extra_ms.values()):7.2f}")
    print("where the time goes (event ts_ns, p50 / p99 ms after the submit was sent):")
    for hop in HOPS:
        gaps = [(st[hop] - st["submit"]) / 1e6 for g in submitted if hop in (st := stamps.get(g, {}))]
        if gaps:
            print(f"  {hop:<18} {pct(gaps, 0.5):7.2f} / {pct(gaps, 0.99):7.2f}")
    print(f"submit -> child p50 / raw round trip: {pct(to_child, 0.5) / (raw_us / 1000):.1f}x")
    return pct(to_child, 0.5), pct(to_child, 0.99), raw_us / 1000, pct(to_answer, 0.5)


async def both(n_orders: int, traders: list[str]) -> None:
    results = {}
    for trader in traders:
        results[trader] = await main(n_orders, trader)
        print()
    print(f"submit -> child allocated, {n_orders} orders, load average {os.getloadavg()[0]:.2f} at the end:")
    for trader, (p50, p99, raw, answer) in results.items():
        print(f"  {trader:<9} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  HTTP answer p50 {answer:6.2f} ms  "
              f"(raw round trip {raw:.2f} ms; p50 {p50 / raw:.1f}x raw)")
    if len(results) == 2:
        (_, a), (_, b) = results.items()
        print(f"  kernel / services: p50 {b[0] / a[0]:.2f}x  p99 {b[1] / a[1]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--trader", choices=["services", "kernel", "both"], default="both")
    args = parser.parse_args()
    asyncio.run(both(args.orders, ["services", "kernel"] if args.trader == "both" else [args.trader]))
