"""Bus throughput: our publish and projection apply rates beside raw nats-py JetStream.

Run: .venv/bin/python bench/bus.py [--events N]
Prints events/s for (1) raw js.publish_async of same-size payloads, (2) Bus.publish_many of
events (envelope + msgpack codec + Nats-Msg-Id dedup header), (3) raw pull fetch+ack, (4) the
stream-health projection applying the same events through SQLite tracking; and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
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


async def raw_publish(url: str, payload: bytes, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"]))
    t0 = time.perf_counter()
    for _ in range(n):
        await js.publish_async("raw.x", payload)
    await js.publish_async_completed()
    dt = time.perf_counter() - t0
    await nc.close()
    return dt


async def raw_consume(url: str, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    sub = await js.pull_subscribe("raw.>", durable="rawc", config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT))
    got = 0
    t0 = time.perf_counter()
    while got < n:
        for msg in await sub.fetch(256, timeout=5):
            await msg.ack()
            got += 1
    dt = time.perf_counter() - t0
    await nc.close()
    return dt


async def bus_publish(bus: Bus, events: list[TradePrinted]) -> float:
    t0 = time.perf_counter()
    for i in range(0, len(events), 2000):
        await bus.publish_many(events[i : i + 2000])
    return time.perf_counter() - t0


async def projection_apply(bus: Bus, store_path: Path, n: int) -> float:
    store = SqliteViewStore(store_path)
    runner = ProjectionRunner(bus, store, StreamHealthProjection("MD"), batch=512)
    t0 = time.perf_counter()
    await runner.start()
    await runner.wait_for(n, timeout=600)
    dt = time.perf_counter() - t0
    await runner.stop()
    store.close()
    return dt


async def main(n: int) -> None:
    events = make_events(n)
    payload_size = len(encode(events[0]))
    with throwaway_cluster() as (settings, tmp):
        t_raw_pub = await raw_publish(settings.effective_nats_url, b"x" * payload_size, n)
        t_raw_con = await raw_consume(settings.effective_nats_url, n)
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        t_bus_pub = await bus_publish(bus, events)
        t_proj = await projection_apply(bus, tmp / "views.sqlite", n)
        await bus.close()
    print(f"events: {n:,}  payload: {payload_size} bytes (msgpack TradePrinted)")
    print(f"raw js.publish_async          {rate(n, t_raw_pub):>12}")
    print(f"Bus.publish_many (events)     {rate(n, t_bus_pub):>12}   ratio vs raw publish {t_raw_pub / t_bus_pub:.2f}")
    print(f"raw pull fetch(256)+ack       {rate(n, t_raw_con):>12}")
    print(f"projection apply (SQLite)     {rate(n, t_proj):>12}   ratio vs raw consume {t_raw_con / t_proj:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=50_000)
    asyncio.run(main(parser.parse_args().events))
