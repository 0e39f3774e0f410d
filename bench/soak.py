"""Soak: many orders through the `make run` topology, with the memory of every process sampled.

Run: .venv/bin/python bench/soak.py [--orders 50000] [--clients 8] [--warmup 0.2] [--sample-s 5] [--rate R]
     [--trader services|kernel]

Starts the production topology as real OS processes, as bench/orders.py does (nats-server, the
venue servers, one edge per venue, `crossbook trader`, `crossbook api`), then `--clients` client
tasks send orders over HTTP until `--orders` have been accepted. The mix, by order number:
1 in 10 a TWAP (3 slices, 300 ms apart), 1 in 10 a limit order 10% under the bid that is
cancelled at once (DELETE), the rest 0.001 BTC market orders, buys and sells alternating.
`--rate R` offers a steady R orders/s (order i is sent no earlier than i / R seconds after the
start): the hot state follows rate × dedup window, so a run whose rate changes half-way (a
machine whose other load comes and goes) grows for that reason alone. Without it the clients send
as fast as the cluster answers.
Every `--sample-s` the resident set (VmRSS, /proc/<pid>/status) of every process of the cluster
is sampled. After the last order the bench waits for every graph to end, samples once more and
prints, per process, the RSS once `--warmup` of the orders had been sent, at the end and at its
peak, and the growth after warm-up: the goal is no process above +10%. Also prints the load
average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench._common import quoted, throwaway_cluster  # noqa: E402
from bench.orders import VENUES, processes, until  # noqa: E402
from events import AnyEvent  # noqa: E402
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted  # noqa: E402
from projections.follower import StreamFollower  # noqa: E402
from services.api.keys import create_key  # noqa: E402
from services.bus import Bus  # noqa: E402
from services.settings import Settings  # noqa: E402

GROWTH_LIMIT_PCT = 10.0
TWAP = {
    "nodes": [{
        "node_id": "twap",
        "instrument": {"symbol": "BTC-USDT", "type": "spot", "venue": None},
        "side": "buy",
        "order_type": "market",
        "quantity": {"fixed": {"qty_1e8": 300_000}},
        "execution": {"policy": "twap", "horizon_ms": 900, "pacing": {"uniform": {"num_slices": 3, "interval_ms": 300}}},
    }],
    "edges": [],
}


def descendants(root: int) -> dict[int, str]:
    """Every live process under `root`, pid -> a short name from its command line."""
    parent_of: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent_of[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = {}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parent_of.items():
            if parent == pid and child not in found:
                found[child] = name_of(child)
                frontier.append(child)
    return found


def name_of(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return str(pid)
    words = [a.decode() for a in argv if a]
    if words and words[0].endswith("nats-server"):
        return "nats-server"
    if "services.cli.main" in words:
        rest = words[words.index("services.cli.main") + 1 :]
        return " ".join(w for w in rest if w != "--venue")
    return " ".join(Path(w).name for w in words[:2])


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


@dataclass
class Samples:
    names: dict[int, str] = field(default_factory=dict)
    rows: list[tuple[float, int, dict[int, int]]] = field(default_factory=list)  # (t, orders sent, pid -> KiB)

    def take(self, t: float, sent: int) -> None:
        self.names.update(descendants(os.getpid()))
        rss = {pid: kib for pid in self.names if (kib := rss_kib(pid)) is not None}
        self.rows.append((t, sent, rss))
        # As it goes, on stderr: a run stopped early still shows its trend.
        mib = " ".join(f"{self.names[pid].replace(' ', '_')}={kib // 1024}" for pid, kib in sorted(rss.items()))
        print(f"t={t:6.0f}s sent={sent:6d} RSS MiB: {mib}", file=sys.stderr, flush=True)


@dataclass
class Load:
    sent: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: {"market": 0, "twap": 0, "cancelled_limit": 0})
    errors: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    transport_errors: dict[str, int] = field(default_factory=dict)  # httpx error name -> count
    accepted: set[str] = field(default_factory=set)
    ended: set[str] = field(default_factory=set)


async def run(n_orders: int, clients: int, warmup: float, sample_s: float, rate: float | None,
              trader: str) -> None:
    load_before = os.getloadavg()
    with throwaway_cluster() as (settings, tmp), processes(settings, tmp, trader) as (api_url, _env):
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        load = Load()

        def on_event(event: AnyEvent, seq: int) -> None:
            if isinstance(event, GraphSubmitted):
                load.accepted.add(event.graph_id)
            elif isinstance(event, GraphCompleted | GraphCancelled):
                load.ended.add(event.graph_id)

        watcher = StreamFollower(bus, "LEDGER", ["ord.>"], on_event)
        await watcher.start()
        key = create_key(settings, "soak", sandbox=True, now_ns=time.time_ns())
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=api_url, headers={"Authorization": f"Bearer {key.secret}"}, limits=limits, timeout=30
        ) as client:
            await until(lambda: quoted(client, VENUES), 60, "API with books from every venue")
            book = (await client.get("/v1/quotes/BTC-USDT")).json()
            resting_px = round(float(book["nbbo"]["bid"]) * 0.9)  # 10% under the bid: it rests
            samples = Samples()
            t0 = time.monotonic()
            samples.take(0.0, 0)
            warm_at = max(1, int(n_orders * warmup))
            warm_row: list[int] = []

            async def sampler() -> None:
                while True:
                    await asyncio.sleep(sample_s)
                    samples.take(time.monotonic() - t0, load.sent)

            async def one(i: int) -> None:
                try:
                    await send(i)
                except httpx.TransportError as exc:  # counted, like a refusal: the run goes on
                    name = type(exc).__name__
                    load.transport_errors[name] = load.transport_errors.get(name, 0) + 1

            async def send(i: int) -> None:
                if i % 10 == 3:
                    kind, r = "twap", await client.post("/v1/orders", json=TWAP)
                elif i % 10 == 7:
                    kind = "cancelled_limit"
                    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.001,
                                                               "price": resting_px})
                    if r.status_code == 200:
                        r = await client.delete(f"/v1/execution_graphs/{r.json()['graph_id']}")
                        if r.status_code == 409:  # it ended before the cancel: still one order
                            r = httpx.Response(200)
                else:
                    kind = "market"
                    side = "buy" if i % 2 == 0 else "sell"
                    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": side, "qty": 0.001})
                if r.status_code == 200:
                    load.kinds[kind] += 1
                else:
                    load.errors[r.status_code] = load.errors.get(r.status_code, 0) + 1

            async def worker() -> None:
                while load.sent < n_orders:
                    i = load.sent
                    load.sent += 1
                    if load.sent == warm_at:
                        samples.take(time.monotonic() - t0, load.sent)
                        warm_row.append(len(samples.rows) - 1)
                    if rate is not None and (ahead := t0 + i / rate - time.monotonic()) > 0:
                        await asyncio.sleep(ahead)  # pacing the offered load, not synchronisation
                    await one(i)

            tick = asyncio.create_task(sampler())
            await asyncio.gather(*(worker() for _ in range(clients)))
            sent_s = time.monotonic() - t0
            with contextlib.suppress(TimeoutError):  # the last TWAP slices, cancels in flight
                await watcher.wait_until(lambda: load.accepted <= load.ended, timeout=60)
            tick.cancel()
            samples.take(time.monotonic() - t0, load.sent)
        await watcher.stop()
        await bus.close()
    report(n_orders, clients, sent_s, load, samples, warm_row[0] if warm_row else 0, load_before, os.getloadavg(),
           rate)


def report(n_orders: int, clients: int, sent_s: float, load: Load, samples: Samples, warm: int,
           load_before: tuple[float, float, float], load_after: tuple[float, float, float],
           rate: float | None = None) -> None:
    offered = f", offered {rate:g}/s" if rate is not None else ", unpaced"
    print(f"soak: {n_orders} orders by {clients} concurrent HTTP clients in {sent_s:.0f} s "
          f"({n_orders / sent_s:.1f} orders/s{offered}); accepted by kind {load.kinds}; non-200 answers {load.errors}; "
          f"transport errors {load.transport_errors}")
    print(f"graphs submitted {len(load.accepted)}, ended {len(load.ended & load.accepted)}")
    print(f"load average (1/5/15 min) before {load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, "
          f"after {load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}; {os.cpu_count()} CPUs")
    warm_t, warm_sent, warm_rss = samples.rows[warm][:3]
    end_t, _, end_rss = samples.rows[-1]
    print(f"RSS after warm-up ({warm_sent} orders, t={warm_t:.0f} s) vs end (t={end_t:.0f} s); "
          f"{len(samples.rows)} samples; limit +{GROWTH_LIMIT_PCT:.0f}%")
    print(f"{'process':<24} {'start MiB':>9} {'warm MiB':>9} {'end MiB':>9} {'peak MiB':>9} {'growth':>8}")
    failed = []
    for pid, name in sorted(samples.names.items(), key=lambda pn: pn[1]):
        series = [row[2][pid] for row in samples.rows if pid in row[2]]
        if pid not in warm_rss or pid not in end_rss:
            continue
        growth = (end_rss[pid] - warm_rss[pid]) * 100 / warm_rss[pid]
        flag = "" if growth <= GROWTH_LIMIT_PCT else "  GROWS"
        if flag:
            failed.append(name)
        print(f"{name:<24} {series[0] / 1024:9.1f} {warm_rss[pid] / 1024:9.1f} {end_rss[pid] / 1024:9.1f} "
              f"{max(series) / 1024:9.1f} {growth:+7.1f}%{flag}")
    print("verdict:", "every process within the limit" if not failed else f"over the limit: {', '.join(failed)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=0.2, help="share of the orders sent before the baseline")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=None, help="offered orders/s (steady); default: unpaced")
    parser.add_argument("--trader", choices=("services", "kernel"), default=Settings().trader,
                        help="how `crossbook trader` runs (default: the settings' default)")
    args = parser.parse_args()
    print(f"trader: {args.trader}", flush=True)
    asyncio.run(run(args.orders, args.clients, args.warmup, args.sample_s, args.rate, args.trader))
