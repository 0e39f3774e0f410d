"""Start-up: seconds from `crossbook up` (= `make run`) to ready, and to the first fill, over an
existing data dir whose MD stream holds 0, 1 and 5 million events of history.

Run: .venv/bin/python bench/startup.py [--events 0,1000000,5000000] [--rounds 1]

First, for each history size, the seconds one MarketFollower needs for current books (the part
that used to grow with history), on a throwaway nats-server. Then the whole cluster:

Each run: a fresh data dir; the project's own nats-server (`crossbook natsd`) is started on it,
the MD stream is filled with history as refreshing edges leave it (tests/md_history.py), and
the server is stopped (the durable MD health view is marked as having folded it, as after
an earlier run). Then `crossbook up` starts the whole Procfile cluster over that store;
"ready" is the moment it prints its ready line, and the first fill is a 0.01 BTC market buy
sent at that moment, until its graph completes. Goal: flat (within 20%) and under 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from bench._common import throwaway_cluster  # noqa: E402
from projections.health import StreamHealthProjection  # noqa: E402
from projections.market import MarketBooks  # noqa: E402
from projections.market_follower import MarketFollower  # noqa: E402
from projections.store import open_store  # noqa: E402
from services.bus import Bus  # noqa: E402
from services.settings import PROJECT_ROOT, Settings  # noqa: E402
from tests.md_history import history_cycle, load_history  # noqa: E402
from services.net import free_port  # noqa: E402

CROSSBOOK = Path(sys.executable).parent / "crossbook"
HISTORY_BOOKS = [(v, "BTC-USDT") for v in ("binance", "okx", "bybit", "bitget", "cryptocom")]
MD_MAX_BYTES = 3 << 30  # room for 5M events (~300 B each) without discarding; under dev.conf's 8GB store


@dataclass
class Startup:
    events: int
    ready_s: float
    fill_s: float
    status: str
    output: str



def cluster_env(data_dir: Path, sim_base_port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        CROSSBOOK_DATA_DIR=str(data_dir),
        CROSSBOOK_API_PORT=str(free_port()),
        CROSSBOOK_NATS_PORT=str(free_port()),
        CROSSBOOK_SIM_BASE_PORT=str(sim_base_port),
        CROSSBOOK_NATS_URL="",
        CROSSBOOK_DATABASE_URL="",
        CROSSBOOK_MD_MAX_BYTES=str(MD_MAX_BYTES),
    )
    return env


async def write_history(env: dict[str, str], events: int) -> None:
    """Fill the MD stream of the data dir's own nats-server with `events` events, then stop it."""
    if events == 0:
        return
    natsd = subprocess.Popen([str(CROSSBOOK), "natsd"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        await listening(int(env["CROSSBOOK_NATS_PORT"]))
        settings = Settings(
            data_dir=Path(env["CROSSBOOK_DATA_DIR"]), nats_port=int(env["CROSSBOOK_NATS_PORT"]),
            md_max_bytes=MD_MAX_BYTES, _env_file=None,
        )
        bus = await Bus.connect(settings, name="history", user="edge")  # writes md.* as the edges do
        await bus.ensure_streams()
        last_seq = await load_history(bus.nc, events, history_cycle(HISTORY_BOOKS))
        await bus.close()
        # A restart: the durable MD health view folded this history in the earlier run and
        # resumes from its tracked position (it is not what this bench measures).
        store = open_store(settings)
        store.commit(StreamHealthProjection("MD").name, {}, last_seq)
        store.close()
    finally:
        natsd.send_signal(signal.SIGTERM)
        natsd.wait(60)


async def listening(port: int, timeout_s: float = 30.0) -> None:
    """Wait until the server accepts connections (nats-py logs every refused attempt)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)  # another process's socket: nothing to wait on but time
        else:
            writer.close()
            return


def start_cluster(env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str], threading.Event, list[float]]:
    """`crossbook up`; its output is collected, and `ready` is set (with the time) on its ready line."""
    proc = subprocess.Popen([str(CROSSBOOK), "up"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    ready = threading.Event()
    ready_at: list[float] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not ready.is_set() and line.startswith("ready after"):
                ready_at.append(time.monotonic())
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, ready, ready_at


def stop_cluster(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def first_fill(env: dict[str, str], timeout_s: float = 30.0) -> str:
    """Send a market buy now and wait until its graph ends; return its final status."""
    key = (Path(env["CROSSBOOK_DATA_DIR"]) / "default_api_key").read_text().strip()
    base = f"http://127.0.0.1:{env['CROSSBOOK_API_PORT']}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        r = client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.01})
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:200]}"
        graph_id = r.json()["graph_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = client.get(f"/v1/execution_graphs/{graph_id}").json()
            if status["status"] in ("COMPLETED", "CANCELLED", "REJECTED", "FAILED"):
                node = status["nodes"]["order"]
                return f"{status['status']} {node.get('failure_reason') or ''}".strip()
            time.sleep(0.05)  # polling another process's API
    return "TIMEOUT"


def measure(events: int, sim_base_port: int, ready_timeout_s: float = 120.0) -> Startup:
    with tempfile.TemporaryDirectory(prefix="crossbook-startup.") as tmp:
        env = cluster_env(Path(tmp) / "data", sim_base_port)
        asyncio.run(write_history(env, events))
        started = time.monotonic()
        proc, lines, ready, ready_at = start_cluster(env)
        try:
            if not ready.wait(ready_timeout_s):
                return Startup(events, float("inf"), float("inf"), "NOT READY", "".join(lines))
            status = first_fill(env)
            filled = time.monotonic()
        finally:
            stop_cluster(proc)
        return Startup(events, ready_at[0] - started, filled - started, status, "".join(lines))


async def books_current(events: int) -> float:
    """Seconds for a MarketFollower (what the router, sandbox, API and NBBO publisher start) to
    have current books over `events` of history plus the present: each book's refresh and 100
    deltas after it. The same history, one process, no cluster around it."""
    with throwaway_cluster() as (settings, _):
        bus = await Bus.connect(settings.model_copy(update={"md_max_bytes": MD_MAX_BYTES}), name="bench")
        await bus.ensure_streams()
        if events:
            await load_history(bus.nc, events, history_cycle(HISTORY_BOOKS))
        now = time.time_ns()
        await load_history(bus.nc, len(HISTORY_BOOKS) * 101, history_cycle(HISTORY_BOOKS, snapshot_every=101, ts_ns=now))
        books = MarketBooks()
        started = time.perf_counter()
        follower = MarketFollower(bus, books.apply)
        await follower.start()
        await follower.wait_caught_up(timeout=600)
        elapsed = time.perf_counter() - started
        assert books.freshness_problem(now + 10**9, 5 * 10**9) is None
        await follower.stop()
        await bus.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="0,1000000,5000000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sim-base-port", type=int, default=19300)
    parser.add_argument("--log", type=Path, help="append each run's cluster output to this file")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for n in (int(x) for x in args.events.split(",")):
        print(f"{n:>9,} events: books current in {asyncio.run(books_current(n)):.3f}s (MarketFollower)", flush=True)
    results: dict[int, list[Startup]] = {}
    for _ in range(args.rounds):
        for n in (int(x) for x in args.events.split(",")):
            run = measure(n, args.sim_base_port)
            results.setdefault(n, []).append(run)
            print(f"{n:>9,} events: ready {run.ready_s:5.2f}s  first fill {run.fill_s:5.2f}s  ({run.status})"
                  f"  load {os.getloadavg()[0]:.2f}", flush=True)
            if args.log is not None:
                with args.log.open("a") as log:
                    log.write(f"=== {n} events: {run.status}\n{run.output}")
            elif run.status == "NOT READY":
                print(run.output)
    best = {n: min(r.ready_s for r in runs) for n, runs in results.items()}
    print(f"ready (best of {args.rounds}): " + ", ".join(f"{n:,}: {s:.2f}s" for n, s in best.items()))
    if len(best) > 1:
        print(f"spread: max/min = {max(best.values()) / min(best.values()):.2f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
