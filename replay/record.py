"""Record a running cluster's market data (the MD stream's md.* subjects) into a recording.

The read starts at the present as the market follower does (projections/market_follower.py):
at the oldest of the books' newest snapshots, so every recorded book opens with a snapshot;
a book's deltas before its first snapshot in the read are dropped. It then follows the stream
live for `seconds` of wall time (recording is I/O at the edge, not kernel logic), or until the
caller's `until` event is set and everything the stream held at that moment is recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from events import EventDecodeError, decode
from events.market import BookDeltaBatch, BookSnapshot
from events.subjects import VENUE_WIDE, token
from projections.market_follower import MD_STREAM, last_per_subject, present_start
from replay.recording import RecordingWriter, is_md_event
from services.bus import Bus
from services.bus.bus import filtered

FETCH_BATCH = 1_024
FETCH_WAIT_S = 0.2


@dataclass
class RecordStats:
    events: int = 0
    dropped_before_snapshot: int = 0
    undecodable: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    start_seq: int = 0
    last_seq: int = 0


def md_subjects(symbols: list[str], venues: list[str] | None) -> list[str]:
    """The md.* filters of these symbols (each venue's book, trade and status subjects, and
    venue-wide status); every venue when `venues` is empty."""
    vs = [token(v) for v in venues] if venues else ["*"]
    out = [f"md.{v}.{token(s)}.*" for v in vs for s in symbols]
    out.extend(f"md.{v}.{VENUE_WIDE}.status" for v in vs)
    return out


async def record(
    bus: Bus,
    out: Path,
    *,
    symbols: list[str],
    venues: list[str] | None = None,
    seconds: float | None = None,
    until: asyncio.Event | None = None,
    on_progress: Callable[[RecordStats, float], None] | None = None,
) -> RecordStats:
    """Record md events of `symbols` into `out` for `seconds`, or until `until` is set (then up to
    the stream's end at that moment: a session's recording covers all that happened in it, however
    slow the machine); whichever comes first. `on_progress(stats, elapsed_s)` is called after every
    fetched batch."""
    if seconds is None and until is None:
        raise ValueError("record needs `seconds`, `until` or both")
    limit_s = float("inf") if seconds is None else seconds
    subjects = md_subjects(symbols, venues)
    info = await bus.js.stream_info(MD_STREAM)
    latest = await last_per_subject(bus, MD_STREAM, subjects)
    start_seq = present_start(latest, info.state.last_seq)
    stats = RecordStats(start_seq=start_seq)
    config = ConsumerConfig(
        ack_policy=AckPolicy.NONE,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=max(start_seq, info.state.first_seq or 1),
        inactive_threshold=30.0,
        mem_storage=True,
    )
    sub = await bus.js.pull_subscribe(subjects[0], stream=MD_STREAM, config=filtered(config, subjects))
    live_books: set[tuple[str, str]] = set()
    started = time.monotonic()
    end_seq: int | None = None  # the stream's end when `until` was set
    idle = False  # the last fetch found nothing
    try:
        with RecordingWriter(out) as writer:
            while (elapsed := time.monotonic() - started) < limit_s:
                if end_seq is None and until is not None and until.is_set():
                    end_seq = (await bus.js.stream_info(MD_STREAM)).state.last_seq
                if end_seq is not None and (
                    stats.last_seq >= end_seq or (idle and (await sub.consumer_info()).num_pending == 0)
                ):
                    break  # all of it read (the stream's last messages may be other subjects')
                try:
                    msgs = await sub.fetch(FETCH_BATCH, timeout=min(FETCH_WAIT_S, max(0.01, limit_s - elapsed)))
                except (TimeoutError, asyncio.TimeoutError):
                    msgs = []
                idle = not msgs
                for msg in msgs:
                    stats.last_seq = msg.metadata.sequence.stream
                    try:
                        event = decode(msg.data)
                    except EventDecodeError:
                        stats.undecodable += 1
                        continue
                    if not is_md_event(event):
                        continue
                    if isinstance(event, BookSnapshot):
                        live_books.add((event.venue, event.symbol))
                    elif isinstance(event, BookDeltaBatch) and (event.venue, event.symbol) not in live_books:
                        stats.dropped_before_snapshot += 1
                        continue
                    writer.write(event)  # type: ignore[arg-type]
                    stats.events += 1
                    kind = msg.subject.rsplit(".", 1)[-1]
                    stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
                if on_progress is not None:
                    on_progress(stats, time.monotonic() - started)
    finally:
        await sub.unsubscribe()
    return stats
