"""Follow market data from the present: current books in constant time, whatever the MD history.

A `StreamFollower` of MD from sequence 1 re-reads up to an hour (or a gigabyte) of market data
before its books are current, so start-up grew with retention. Instead:

1. Every edge republishes each live book as a `BookSnapshot` every `snapshot_refresh_s`
   (services/edges/runtime.py), so the newest snapshot of a live book is at most that old.
2. On start, JetStream's last-per-subject delivery hands over the newest `md.*.*.snap`,
   `md.*.*.status` and `md.*.*.trade` message of every subject (one message per venue book,
   not per event of history).
3. Reading starts at the oldest of the newest snapshots that are recent (within
   `horizon_ns` of the newest one). Each live book therefore meets its newest snapshot in the
   read, followed by every delta after it: the same book a read from sequence 1 would build.
   Deltas of a book before its first snapshot in the read are dropped (they belong to a book
   state this read never had). Statuses and trades older than the start are applied first, in
   stream order, so venue state and last prices are known too.
4. A book whose newest snapshot is older than the horizon has no live edge refreshing it
   (stopped, or down): it is left out, as a stale book would be.

The read covers about one refresh interval of market data: constant in the stream's length.
Why this rather than a KV bucket of current books (every delta would rewrite a whole book, or
the bucket would again be a snapshot plus deltas in another stream) or a snapshot request to
each edge (a restarting reader would wait on every edge, and get nothing from one that is
down): the log stays the only source, and a read from the present is an ordinary ordered read
that starts later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from events import AnyEvent, EventDecodeError, decode
from events.base import Event
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted
from projections.follower import Apply, StreamFollower
from services.bus import Bus
from services.bus.bus import filtered

MD_STREAM = "MD"
PRESENT_SUBJECTS = ["md.*.*.snap", "md.*.*.status", "md.*.*.trade"]
# Newest snapshots older than this (behind the newest one) belong to edges that stopped
# refreshing: several refresh intervals, so a busy edge's lag never drops a live book.
DEFAULT_HORIZON_NS = 10 * 10**9


@dataclass(frozen=True, slots=True)
class Latest:
    seq: int
    subject: str
    event: AnyEvent


async def _read_once(
    bus: Bus, stream: str, subjects: list[str], config: ConsumerConfig
) -> JetStreamContext.PullSubscription:
    """An ephemeral, ack-less pull consumer of `subjects` for one read (deleted when idle)."""
    config.ack_policy = AckPolicy.NONE
    config.inactive_threshold = 30.0
    config.mem_storage = True
    return await bus.js.pull_subscribe(subjects[0], stream=stream, config=filtered(config, subjects))


async def last_per_subject(bus: Bus, stream: str, subjects: list[str]) -> list[Latest]:
    """The newest message of every subject matching `subjects`, in stream order."""
    sub = await _read_once(bus, stream, subjects, ConsumerConfig(deliver_policy=DeliverPolicy.LAST_PER_SUBJECT))
    out: list[Latest] = []
    try:
        remaining = (await sub.consumer_info()).num_pending or 0
        while remaining > 0:
            msgs = await sub.fetch(min(512, remaining), timeout=5.0)
            for msg in msgs:
                remaining -= 1
                try:
                    event = decode(msg.data)
                except EventDecodeError:
                    continue  # counted by whoever reads it in order; nothing to start from here
                out.append(Latest(msg.metadata.sequence.stream, msg.subject, event))
    finally:
        await sub.unsubscribe()
    out.sort(key=lambda latest: latest.seq)
    return out


async def first_seq_since(bus: Bus, stream: str, subjects: list[str], since_ns: int) -> int:
    """The first sequence of `subjects` stored at or after `since_ns` (JetStream's by-start-time
    delivery, one message), else the stream's last sequence + 1."""
    last_seq = (await bus.js.stream_info(stream)).state.last_seq
    config = ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_TIME,
        opt_start_time=datetime.fromtimestamp(since_ns / 1e9, tz=UTC),
        headers_only=True,
    )
    sub = await _read_once(bus, stream, subjects, config)
    try:
        if not (await sub.consumer_info()).num_pending:
            return last_seq + 1
        return int((await sub.fetch(1, timeout=5.0))[0].metadata.sequence.stream)
    finally:
        await sub.unsubscribe()


def event_ts_ns(event: object) -> int:
    return event.ts_ns if isinstance(event, Event) else 0


def present_start(latest: list[Latest], after_seq: int, horizon_ns: int = DEFAULT_HORIZON_NS) -> int:
    """Where a read of current books starts: the oldest recent newest-snapshot, else `after_seq + 1`."""
    snapshots: list[tuple[int, int]] = []  # (ts_ns, seq)
    for x in latest:
        event: object = x.event
        if isinstance(event, BookSnapshot):
            snapshots.append((event.ts_ns, x.seq))
    if not snapshots:
        return after_seq + 1
    newest_ns = max(ts_ns for ts_ns, _ in snapshots)
    return min(seq for ts_ns, seq in snapshots if ts_ns >= newest_ns - horizon_ns)


class MarketFollower(StreamFollower):
    """A StreamFollower of `md.>` that starts from the present (see the module docstring).

    `start(start_seq)` with an explicit sequence reads from there instead (audits, rebuilds)."""

    def __init__(
        self,
        bus: Bus,
        apply: Apply,
        *,
        horizon_ns: int = DEFAULT_HORIZON_NS,
        batch: int = 1024,
        trade_history: tuple[frozenset[str], int] | None = None,
        also: tuple[str, ...] = (),
    ) -> None:
        """`also`: other MD subjects read along with `md.>`, from the same start and in stream
        order (e.g. `nbbo.>`; passed to `apply` as they come, never to the snapshot logic).
        `trade_history` = (venues, since_ns): every trade of those venues since then (as far
        as MD retention keeps them) is applied before the present, not only the last one, for
        folds that need a window of prints (e.g. /v1/markets' volume_24h on sparse markets)."""
        super().__init__(bus, MD_STREAM, ["md.>", *also], self._apply_from_snapshot, batch=batch)
        self._apply_event = apply
        self.horizon_ns = horizon_ns
        self.trade_history = trade_history
        self.start_seq = 1
        self._snapshotted: set[tuple[str, str]] = set()

    async def start(self, start_seq: int | None = None) -> None:
        if start_seq is None:
            last_seq = (await self.bus.js.stream_info(self.stream)).state.last_seq
            latest = await last_per_subject(self.bus, self.stream, PRESENT_SUBJECTS)
            start_seq = present_start(latest, last_seq, self.horizon_ns)
            venues = await self._apply_trade_history(start_seq)
            for older in latest:
                event: object = older.event
                if isinstance(event, TradePrinted) and event.venue in venues:
                    continue  # in the history just applied
                if older.seq < start_seq and not isinstance(event, BookSnapshot):
                    self._apply_event(older.event, older.seq)
        else:
            self._snapshotted.clear()
        self.start_seq = start_seq
        await super().start(start_seq)

    async def _apply_trade_history(self, start_seq: int) -> frozenset[str]:
        if self.trade_history is None or not self.trade_history[0]:
            return frozenset()
        venues, since_ns = self.trade_history
        subjects = [f"md.{venue}.*.trade" for venue in sorted(venues)]
        first = await first_seq_since(self.bus, self.stream, subjects, since_ns)
        if first < start_seq:
            async for delivered in self.bus.replay(self.stream, subjects, start_seq=first, end_seq=start_seq - 1):
                self._apply_event(delivered.event, delivered.seq)
        return venues

    def _apply_from_snapshot(self, event: AnyEvent, seq: int) -> object:
        md: object = event
        if isinstance(md, BookSnapshot):
            self._snapshotted.add((md.venue, md.symbol))
        elif isinstance(md, BookDeltaBatch) and (md.venue, md.symbol) not in self._snapshotted:
            return None  # a delta to a book state before this read's first snapshot of it
        return self._apply_event(event, seq)
