"""Fill the MD stream with market-data history fast: pre-encoded events, pipelined raw publishes.

The history is what refreshing edges leave behind (services/edges/runtime.py): per book, a
snapshot every `snapshot_every` events and absolute deltas in between, all in the past. One
pre-encoded cycle of payloads is published over and over with core-NATS publishes (no ack
each), in windows each closed by a JetStream publish and its ack. Used by the start-up tests
and bench/startup.py.
"""

from __future__ import annotations

from nats.aio.client import Client

from events import encode, new_event_id
from events.market import BookDeltaBatch, BookSnapshot
from events.subjects import subject_for

PX_1E9 = 60_000 * 10**9
TICK_1E9 = 10**8


def _levels(mid: int, side: int, depth: int) -> list[tuple[int, int]]:
    return [(mid + side * (i + 1) * TICK_1E9, 10**7 * (i + 1)) for i in range(depth)]


def history_cycle(
    books: list[tuple[str, str]], *, snapshot_every: int = 1000, depth: int = 20, ts_ns: int = 10**18
) -> list[tuple[str, bytes]]:
    """One cycle of (subject, payload): per book a snapshot, then `snapshot_every - 1` deltas."""
    out: list[tuple[str, bytes]] = []
    for i in range(snapshot_every):
        for venue, symbol in books:
            t = ts_ns + i * 1_000_000
            if i == 0:
                event: BookSnapshot | BookDeltaBatch = BookSnapshot(
                    event_id=new_event_id(), ts_ns=t, venue=venue, symbol=symbol,
                    bids=_levels(PX_1E9, -1, depth), asks=_levels(PX_1E9, 1, depth), ts_recv_ns=t,
                )
            else:
                k = i % depth
                event = BookDeltaBatch(
                    event_id=new_event_id(), ts_ns=t, venue=venue, symbol=symbol,
                    bids=[(PX_1E9 - (k + 1) * TICK_1E9, 10**7 * (1 + i % 7))], asks=[], ts_recv_ns=t,
                )
            out.append((subject_for(event), encode(event)))
    return out


async def load_history(nc: Client, count: int, cycle: list[tuple[str, bytes]], *, window: int = 2000) -> int:
    """Publish `count` messages cycling through `cycle`; return the MD stream sequence of the last.

    Core-NATS publishes in windows of `window`, each closed by one JetStream publish whose ack
    says the server has taken in the window: a busy server drops core publishes beyond its
    stream's inbound queue instead of slowing the publisher down."""
    js = nc.jetstream()
    first = (await js.stream_info("MD")).state.last_seq + 1
    last = first - 1
    for start in range(0, count, window):
        end = min(start + window, count)
        for i in range(start, end - 1):
            subject, payload = cycle[i % len(cycle)]
            await nc.publish(subject, payload)
        subject, payload = cycle[(end - 1) % len(cycle)]
        last = (await js.publish(subject, payload, timeout=60)).seq
    if last - first + 1 != count:
        raise RuntimeError(f"the server stored {last - first + 1} of {count} history messages")
    return last
