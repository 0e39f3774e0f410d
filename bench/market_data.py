"""Market-data throughput: parse + apply per venue, one edge's publish rate, the NBBO fold rate.

Run: .venv/bin/python bench/market_data.py [--frames N]

1. µs per delta (adapter.parse + BookSync.apply) for every venue, on frames rendered by that
   venue's own local-server protocol from a live-like market (same wire format as the venue).
2. frames/s through the real edge path (parse -> book -> md events -> JetStream publish) for one
   edge, beside the raw nats-py JetStream async publish ceiling measured in the same run.
3. events/s the NBBO projection folds (MarketBooks.apply + NBBO), beside 5 edges at the rate of (2).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nats  # noqa: E402
from nats.js.api import StreamConfig  # noqa: E402

from bench._common import throwaway_cluster  # noqa: E402
from events import AnyEvent  # noqa: E402
from projections.market import MarketBooks  # noqa: E402
from services.bus import Bus  # noqa: E402
from services.edges import registry  # noqa: E402
from services.edges.runtime import EdgeRunner, MemorySink  # noqa: E402
from services.edges.service import BusSink  # noqa: E402
from services.edges.sim.server import SimConn, SimServer  # noqa: E402
from services.edges.sync import BookSync, SyncResult  # noqa: E402
from services.edges.venue import BookUpdate, VenueEndpoints  # noqa: E402


def render_frames(name: str, steps: int) -> tuple[str, list[str | bytes]]:
    """Render a snapshot and `steps` market steps in the venue's own wire format."""
    protocol = registry.sim_protocols()[name]()
    instruments = registry.sim_instruments()[name][:1]
    server = SimServer(protocol, instruments, seed=3)  # not started: used for its markets only
    [(venue_symbol, market)] = server.markets_by_venue_symbol.items()
    fake_ws = SimpleNamespace(request=SimpleNamespace(path=protocol.ws_path))  # no socket: render only
    conn = SimConn(ws=fake_ws)  # type: ignore[arg-type]
    frames: list[str | bytes] = []
    # Subscribe the way a client would, so per-connection state (sids, sequence) exists.
    adapter = registry.adapters()[name](VenueEndpoints("ws://unused", "http://unused"))
    for frame in adapter.subscribe_frames([venue_symbol]):
        protocol.on_client_frame(conn, frame)
    conn.state.pop("_needs_snapshot", None)
    if not hasattr(adapter, "snapshot_url") or adapter.book_mode.value == "ws_snapshot":
        frames += protocol.snapshot_frames(conn, venue_symbol, market.book)
    for _ in range(steps):
        bids, asks = market.step(4)
        protocol.advance(venue_symbol, bids, asks)
        frames += protocol.delta_frames(conn, venue_symbol, bids, asks, market.book, False)
    return venue_symbol, frames


def parse_apply_us(name: str, steps: int) -> tuple[float, int]:
    venue_symbol, frames = render_frames(name, steps)
    adapter = registry.adapters()[name](VenueEndpoints("ws://unused", "http://unused"))
    sync = BookSync(adapter, venue_symbol)
    if adapter.book_mode.value == "rest_snapshot":
        # Bootstrap from the server's REST answer, as the runtime does.
        protocol_server = SimServer(registry.sim_protocols()[name](), registry.sim_instruments()[name][:1], seed=3)
        status, body = protocol_server.protocol.rest(*_rest_request(adapter, venue_symbol))  # type: ignore[misc]
        import json

        sync.apply(adapter.parse_snapshot(json.dumps(body).encode(), venue_symbol))
    applied = levels = 0
    t0 = time.perf_counter()
    for frame in frames:
        for item in adapter.parse(frame):
            if isinstance(item, BookUpdate):
                if sync.apply(item) is SyncResult.APPLIED:
                    applied += 1
                    levels += len(item.bids) + len(item.asks)
    dt = time.perf_counter() - t0
    return dt / max(applied, 1) * 1e6, applied, dt / max(levels, 1) * 1e6, levels


def _rest_request(adapter, venue_symbol: str) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(adapter.snapshot_url(venue_symbol))
    return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}


async def raw_publish_rate(url: str, size: int, n: int) -> float:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"]))
    payload = b"x" * size
    t0 = time.perf_counter()
    for _ in range(n):
        await js.publish_async("raw.x", payload)
    await js.publish_async_completed()
    rate = n / (time.perf_counter() - t0)
    await nc.close()
    return rate


async def edge_rate(bus: Bus, name: str, steps: int) -> tuple[float, int, list[AnyEvent]]:
    venue_symbol, frames = render_frames(name, steps)
    adapter = registry.adapters()[name](VenueEndpoints("ws://unused", "http://unused"))
    sink = BusSink(bus)
    runner = EdgeRunner(adapter, [adapter.to_canonical(venue_symbol)], sink)
    memory = MemorySink()
    t0 = time.perf_counter()
    for frame in frames:
        await runner.handle_frame(frame, time.time_ns())
    await bus.js.publish_async_completed()
    dt = time.perf_counter() - t0
    # Same frames again into memory, to hand the events to the NBBO fold benchmark.
    runner2 = EdgeRunner(adapter, [adapter.to_canonical(venue_symbol)], memory)
    for frame in frames:
        await runner2.handle_frame(frame, time.time_ns())
    return runner.counters["updates"] / dt, runner.counters["updates"], memory.events


def nbbo_fold_rate(events: list[AnyEvent]) -> float:
    books = MarketBooks()
    t0 = time.perf_counter()
    for i, event in enumerate(events):
        changed = books.apply(event, i + 1)
        for symbol in changed:
            books.nbbo(symbol)
    return len(events) / (time.perf_counter() - t0)


async def main(steps: int) -> None:
    print(f"parse + apply per book update ({steps} market steps rendered by each venue's sim protocol)")
    print(f"  {'venue':14s} {'µs/update':>10s} {'levels/update':>14s} {'µs/level':>9s}")
    for name in sorted(registry.sim_protocols()):
        samples = [parse_apply_us(name, steps) for _ in range(3)]
        us = statistics.median(s[0] for s in samples)
        per_level = statistics.median(s[2] for s in samples)
        _, updates, _, levels = samples[0]
        print(f"  {name:14s} {us:10.2f} {levels / max(updates, 1):14.1f} {per_level:9.2f}")
    with throwaway_cluster() as (settings, _tmp):
        bus = await Bus.connect(settings)
        await bus.ensure_streams()
        raw = await raw_publish_rate(settings.effective_nats_url, 180, 20_000)
        rate, updates, events = await edge_rate(bus, "okx", steps)
        await bus.close()
    _, _, _, okx_levels = parse_apply_us("okx", steps)
    print(f"raw JetStream publish_async (180 B)      {raw:12,.0f} msg/s")
    print(f"one edge (okx): parse+book+publish       {rate:12,.0f} updates/s   ratio vs raw {rate / raw:.2f}")
    print(f"                 = level changes/s         {rate * okx_levels / max(updates, 1):12,.0f}")
    fold = nbbo_fold_rate(events * 5)
    print(f"NBBO fold (MarketBooks.apply + nbbo)     {fold:12,.0f} events/s    vs 5 edges at full rate {fold / (5 * rate):.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=5_000, help="market steps rendered per venue")
    asyncio.run(main(parser.parse_args().frames))
