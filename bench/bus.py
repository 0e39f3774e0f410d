"""Bus throughput: our publish and projection apply rates beside raw nats-py JetStream.

Run: .venv/bin/python bench/bus.py [--events N] [--rounds R]
Prints events/s for (1) raw js.publish_async of same-size payloads, (2) Bus.publish_many of
events (envelope + msgpack codec + Nats-Msg-Id dedup header), (3) raw pull fetch+ack, (4) the
stream-health projection applying the same events through SQLite tracking; and the ratios
(publish also by this process's CPU time, which other load on the machine does not move).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats  # noqa: E402
from nats.js.api import AckPolicy, ConsumerConfig, StreamConfig  # noqa: E402

from bench._common import rate, throwaway_cluster  # noqa: E402
from events import encode, new_event_id  # noqa: E402
from events.market import TradePrinted  # noqa: E402
from projections.health import StreamHealthProjection  # noqa: E402
from projections.runner import ProjectionRunner  # noqa: E402
from projections.store import SqliteViewStore  # noqa: E402
from services.bus import Bus  # noqa: E402


def make_events(n: int) -> list[TradePrinted]:
    return [
        TradePrinted(
            event_id=new_event_id(),
            ts_ns=time.time_ns(),
            venue="okx",
            symbol="BTC-USDT",
            px_1e9=97_000_000_000_000 + i,
            qty_1e8=1_000_000 + i,
            aggressor="buy",
            trade_id=str(i),
        )
        for i in range(n)
    ]


async def raw_publish(url: str, payload: bytes, n: int, stream: str = "RAW") -> tuple[float, float]:
    """(wall s, this process's CPU s) of n raw publishes."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{stream.lower()}.>"]))
    subject = f"{stream.lower()}.x"
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        await js.publish_async(subject, payload)
    await js.publish_async_completed()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    await nc.close()
    return dt, dc


async def raw_consume_stream(url: str, n: int, stream: str) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe(
        f"{stream.lower()}.>", durable="rawc", stream=stream, config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )
    got = 0
    t0 = time.perf_counter()
    while got < n:
        for msg in await sub.fetch(256, timeout=5):
            await msg.ack()
            got += 1
    dt = time.perf_counter() - t0
    await nc.close()
    return dt


async def bus_publish(bus: Bus, events: list[TradePrinted]) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    await bus.publish_many(events)  # one pipelined batch, like the raw loop
    return time.perf_counter() - t0, time.process_time() - c0


async def projection_apply(bus: Bus, store_path: Path, n: int) -> float:
    store = SqliteViewStore(store_path)
    runner = ProjectionRunner(bus, store, StreamHealthProjection("MD"), batch=512)
    t0 = time.perf_counter()
    await runner.start()
    await runner.wait_until(lambda r: r.applied >= n, timeout=600)
    dt = time.perf_counter() - t0
    await runner.stop()
    store.close()
    return dt


async def main(n: int, rounds: int) -> None:
    payload_size = len(encode(make_events(1)[0]))
    pub_ratios, cpu_ratios, raw_rates, bus_rates = [], [], [], []
    with throwaway_cluster() as (settings, tmp):
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        # Alternate raw and bus rounds on fresh streams, so machine noise hits both alike.
        for r in range(rounds):
            events = make_events(n)
            t_raw, c_raw = await raw_publish(settings.effective_nats_url, b"x" * payload_size, n, stream=f"RAW{r}")
            await bus.js.purge_stream("MD")
            t_bus, c_bus = await bus_publish(bus, events)
            raw_rates.append(n / t_raw)
            bus_rates.append(n / t_bus)
            pub_ratios.append(t_raw / t_bus)
            cpu_ratios.append(c_raw / c_bus)
        t_raw_con = await raw_consume_stream(settings.effective_nats_url, n, "RAW0")
        t_proj = await projection_apply(bus, tmp / "views.sqlite", n)
        await bus.close()
    med = statistics.median
    print(f"events: {n:,} per round, {rounds} rounds  payload: {payload_size} bytes (msgpack TradePrinted)")
    print(f"raw js.publish_async          {med(raw_rates):>10,.0f}/s (median)")
    print(f"Bus.publish_many (events)     {med(bus_rates):>10,.0f}/s (median)   ratio vs raw publish {med(pub_ratios):.2f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in pub_ratios)})")
    # On a shared machine the wall ratio swings with other load; this process's CPU per publish does not.
    print(f"  same, by this process's CPU time            ratio vs raw publish {med(cpu_ratios):.2f} "
          f"(rounds: {', '.join(f'{x:.2f}' for x in cpu_ratios)})")
    print(f"raw pull fetch(256)+ack       {rate(n, t_raw_con):>12}")
    print(f"projection apply (SQLite)     {rate(n, t_proj):>12}   ratio vs raw consume {t_raw_con / t_proj:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.rounds))
