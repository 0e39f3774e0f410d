"""The JetStream runner: the synchronous `Kernel` as the live trader, one process, one writer.

One in-order read of the kernel's inputs: market data (MD `md.>` from each book's newest
snapshot, and `nbbo.>` for the TCA's interval benchmarks) and the LEDGER subjects it folds (`cmd.>` commands, `exec.>` execution facts of other
writers -- the live executor, the API's paper funding --, `vault.>` for which venues each
tenant is connected to (live routing), and on a restart its own earlier outputs). Each input goes through `Kernel.handle` on the event loop's one thread; what it causes
is appended pipelined (`AggregateAppender`: one round trip per batch, the first append per
aggregate under `Nats-Expected-Last-Subject-Sequence`, each next one chained after its
predecessor), as the kernel's roles (graph, risk, router, executor, tca: each subject stamped
with the role that owns it). Ids derive from causes, so a re-run after a crash appends nothing
twice (`Nats-Msg-Id`). Time is the wall clock (`WallClock`); what the kernel schedules (venue
latency of the sandbox, graph timers, TWAP slices) is released by a timer task at its due time.

Restart: the LEDGER as it stood at start is restored (`Kernel.restore`: folded, nothing decided),
then `Kernel.finish_restore` sends the children that were open back to their simulated venues and
decides follow-ups, and commands with no answer on the log are decided. Our own appends read back
later are skipped (already folded when decided).

A conflict (an append refused because the subject moved since the fold the decision was made
on: a second writer) means the kernel's state holds facts the log does not. The appender halts
(nothing decided on that state is appended, `AggregateAppender.halt_on_conflict`) and the kernel
is rebuilt from the log exactly as on a restart (`_refold`): a new `Kernel` restores the LEDGER
as it stands, keeping only the market books (no fold of the ledger), then picks up open work and
decides the commands left unanswered. Its state is then the fold of the log, and ids derived from
causes keep a re-decision of anything stored from being appended twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from events import AnyEvent, commands
from events.subjects import graph_subject, subject_for
from projections.follower import SharedFollower, SharedView, StreamFollower
from projections.market_follower import MarketFollower
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.live.venues import can_trade as can_trade_live
from services.edges.sandbox.config import SandboxConfig
from services.kernel.appender import AggregateAppender
from services.kernel.kernel import Kernel
from services.kernel.snapshot import SnapshotError, load, snapshot
from services.kernel.ports import Clock, WallClock
from services.risk import RiskLimits

log = logging.getLogger("crossbook.kernel")

KERNEL_ROLES = ("graph", "risk", "router", "executor", "tca")
LEDGER_INPUTS = ["cmd.>", "ord.>", "risk.>", "route.>", "exec.>", "tca.>", "vault.>"]
# Aggregates only the kernel writes: each batch's first append to one is checked. exec.* is also
# written by the API (paper funding), which the kernel cannot know of before reading it.
CHECKED = ("ord.", "risk.", "route.", "tca.")


@dataclass
class _Shadow:
    """A restore-only fold of the LEDGER beside the live kernel, for periodic snapshots: the live
    kernel's state holds what it decided before the log does (and simulated venues, timers), so
    only a fold that decides nothing is a function of a log prefix."""

    kernel: Kernel
    seq: int
    last_seq: dict[str, int]
    unanswered: dict[str, AnyEvent]
    since: int = 0


@dataclass
class Restored:
    """Readiness: set once the log as it stood at start is restored and open work picked up."""

    caught_up: asyncio.Event = field(default_factory=asyncio.Event)


class JetStreamKernel:
    def __init__(
        self,
        bus: Bus,
        *,
        limits: RiskLimits | None = None,
        sandbox: SandboxConfig | None = None,
        seed: int = 7,
        clock: Clock | None = None,
        simulate_live: bool = True,
        md: SharedFollower | None = None,
        snapshots: Path | None = None,
        snapshot_every: int = 0,
    ) -> None:
        """`clock`: the wall clock unless given (a test's virtual clock); `simulate_live`: fill
        live graphs' children at the simulated venues too (off when the live executor runs);
        `md`: a view of the process's one read of market data, else its own; `snapshots`: a
        directory for the restored fold's snapshot (restore starts from it; None: from seq 1);
        `snapshot_every`: also one every so many LEDGER inputs while running (0: at restores only)."""
        self.bus = bus
        self.clock = clock or WallClock()
        self._kernel_args = dict(limits=limits, sandbox=sandbox, simulate_live=simulate_live, live_entry=can_trade_live)
        self._seed = seed
        self.kernel = self._new_kernel()
        self.market = self.kernel.market  # readiness looks at the books decisions are made on
        self.appender = AggregateAppender(as_writer(bus, *KERNEL_ROLES), "kernel")
        self.appender.checks = lambda subject: subject.startswith(CHECKED)
        self.appender.on_refused = self._refused
        self.appender.halt_on_conflict = True
        self.refolds = 0  # rebuilds from the log after a conflict
        self.snapshots = snapshots
        self.restored_from = 1  # the first LEDGER sequence the last restore read (after a snapshot)
        self.snapshot_every = snapshot_every
        self._shadow: _Shadow | None = None
        self._refolding: asyncio.Task[None] | None = None
        self.mine: set[str] = set()  # ids appended by this process, not read back yet
        self.restored = Restored()
        self.handled = 0  # inputs handled
        self._restore_to = 0
        self._stream_id = ""
        self._unanswered: dict[str, AnyEvent] = {}  # commands restored without an answer on the log
        self._wake = asyncio.Event()
        self._armed_ns: int | None = None  # the due time the timer task waits for
        self._timer: asyncio.Task[None] | None = None
        self._finisher: asyncio.Task[None] | None = None
        self.md: StreamFollower | SharedView = (
            md.view(["md.>", "nbbo.>"], self._on_md) if md is not None
            else MarketFollower(bus, self._on_md, also=("nbbo.>",))  # NBBO mids: TWAP/VWAP interval benchmarks
        )
        self.ledger = StreamFollower(bus, "LEDGER", LEDGER_INPUTS, self._on_ledger)

    def _new_kernel(self) -> Kernel:
        return Kernel(clock=self.clock, rng=random.Random(self._seed), **self._kernel_args)  # type: ignore[arg-type]

    async def start(self) -> None:
        await self.appender.start()
        await self.md.start()
        await self._start_ledger()

    async def _start_ledger(self) -> None:
        info = await self.bus.js.stream_info("LEDGER")
        self._restore_to, self._stream_id = info.state.last_seq, str(info.created)
        self.restored_from = self._load_snapshot() + 1
        await self.ledger.start(self.restored_from)
        self._finisher = asyncio.create_task(self._finish_when_caught_up(), name="kernel-restore")

    async def stop(self) -> None:
        if self._refolding is not None:
            await cancel_and_wait(self._refolding)
        for task in (self._finisher, self._timer):
            if task is not None:
                await cancel_and_wait(task)
        await self.ledger.stop()
        await self.md.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.appender.drain()  # what was decided goes out (a crash re-decides it anyway)
        await self.appender.stop()

    def advance_to(self, ts_ns: int) -> None:
        """Release what is scheduled up to `ts_ns` now (a test's virtual clock; live, the timer does)."""
        self.clock.advance_to(ts_ns)
        self._append(self.kernel.advance_to(ts_ns))

    # --- inputs -----------------------------------------------------------------------------
    def _on_md(self, event: AnyEvent, seq: int) -> None:
        if not self.restored.caught_up.is_set():
            self.kernel.observe(event)  # nothing rests at a simulated venue before the restore ends
            return
        self._handle(event)

    def _on_ledger(self, event: AnyEvent, seq: int) -> None:
        subject = subject_for(event)
        self.appender.saw(subject, seq)
        if seq <= self._restore_to:
            self._restore(event)
            return
        if not self.restored.caught_up.is_set():
            self._finish_restore()
        if self._shadow is not None:
            self._shadow_fold(event, seq)
        if event.event_id in self.mine:
            self.mine.discard(event.event_id)  # ours, folded when decided
            return
        self._handle(event)

    def _handle(self, event: AnyEvent) -> None:
        self.handled += 1
        self._append(self._decide(event))

    def _decide(self, event: AnyEvent) -> list[AnyEvent]:
        if isinstance(event, commands.SubmitGraph) and self.appender.last_seq.get(
            graph_subject(event.tenant, event.graph_id)
        ):
            return []  # the graph exists on the log (it may have left the hot state): not a new one
        return self.kernel.handle(event)

    def _restore(self, event: AnyEvent) -> None:
        if isinstance(event, commands.COMMANDS):
            self._unanswered[event.event_id] = event
        elif event.causation_id:
            self._unanswered.pop(event.causation_id, None)
        self.kernel.restore(event)

    async def _finish_when_caught_up(self) -> None:
        await self.ledger.caught_up.wait()
        self._finish_restore()

    # --- snapshots ------------------------------------------------------------------------
    # A file under the data dir, not a KV bucket or object store: it is a cache of this process's
    # fold (lost, it costs one fold from seq 1), it may outgrow JetStream's message size, and it
    # is written once per restore, off the ledger. It names the stream it folds (its creation
    # time): a snapshot of another LEDGER, or one ahead of it, is not used.
    def _snapshot_path(self) -> Path | None:
        return None if self.snapshots is None else self.snapshots / "kernel.snapshot"

    def _load_snapshot(self) -> int:
        path = self._snapshot_path()
        if path is None or not path.exists():
            return 0
        kernel = self._new_kernel()
        try:
            seq, extra = load(kernel, path.read_bytes())
        except (SnapshotError, msgspec.DecodeError, ValueError, TypeError, AttributeError) as exc:
            log.warning("kernel: snapshot %s not used: %s", path, exc)
            return 0
        if extra.get("stream") != self._stream_id or seq > self._restore_to:
            log.warning("kernel: snapshot %s is of another LEDGER; restoring from seq 1", path)
            return 0
        kernel.adopt_market(self.kernel)
        self.kernel = kernel
        self.appender.last_seq.update(extra["last_seq"])
        self._unanswered = extra["unanswered"]
        log.info("kernel: snapshot loaded up to LEDGER seq %d", seq)
        return seq

    def _write_snapshot(self) -> None:
        path = self._snapshot_path()
        if path is None:
            return
        last_seq = {s: q for s, q in self.appender.last_seq.items() if q <= self._restore_to}
        extra = {"stream": self._stream_id, "last_seq": last_seq, "unanswered": self._unanswered}
        data = snapshot(self.kernel, self._restore_to, extra)
        if self._restore_to >= self.restored_from:  # else nothing was folded since the one loaded
            self._store(path, data)
        if self.snapshot_every > 0:  # the shadow starts as a copy of the restored fold
            shadow = Kernel(clock=WallClock(), rng=random.Random(self._seed), **self._kernel_args)  # type: ignore[arg-type]
            _, loaded = load(shadow, data)
            self._shadow = _Shadow(shadow, self._restore_to, loaded["last_seq"], loaded["unanswered"])

    @staticmethod
    def _store(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a crash leaves the old snapshot or the new one

    def _shadow_fold(self, event: AnyEvent, seq: int) -> None:
        shadow = self._shadow
        assert shadow is not None
        try:
            shadow.kernel.restore(event)
        except Exception as exc:  # a snapshot is an optimisation: never let it stop trading
            log.error("kernel: snapshot fold failed at seq %d (%r); periodic snapshots off until a restore", seq, exc)
            self._shadow = None
            return
        subject = subject_for(event)
        if seq > shadow.last_seq.get(subject, 0):
            shadow.last_seq[subject] = seq
        if isinstance(event, commands.COMMANDS):
            shadow.unanswered[event.event_id] = event
        elif event.causation_id:
            shadow.unanswered.pop(event.causation_id, None)
        shadow.seq, shadow.since = seq, shadow.since + 1
        path = self._snapshot_path()
        if path is not None and shadow.since >= self.snapshot_every:
            shadow.since = 0
            extra = {"stream": self._stream_id, "last_seq": shadow.last_seq, "unanswered": shadow.unanswered}
            self._store(path, snapshot(shadow.kernel, seq, extra))

    def _finish_restore(self) -> None:
        if self.restored.caught_up.is_set():
            return
        self._write_snapshot()
        self.restored.caught_up.set()
        out = self.kernel.finish_restore()
        unanswered, self._unanswered = self._unanswered, {}
        for command in unanswered.values():  # appended, but the kernel died before answering
            self.handled += 1
            out += self._decide(command)
        if unanswered:
            log.info("kernel: %d commands without an answer on the log decided now", len(unanswered))
        self._append(out)
        self._timer = asyncio.create_task(self._run_timers(), name="kernel-timers")
        log.info("kernel: restored up to LEDGER seq %d; %d open graphs", self._restore_to, len(self.kernel.graphs))

    # --- outputs ----------------------------------------------------------------------------
    def _append(self, events: list[AnyEvent]) -> None:
        if events:
            for event in events:
                self.mine.add(event.event_id)
            self.appender.put(events)
        if self.kernel.next_due_ns() != self._armed_ns:
            self._wake.set()  # the next timer moved

    def _refused(self, events: list[AnyEvent], expected_seq: int) -> None:
        for event in events:
            self.mine.discard(event.event_id)
        if self.appender.halted and (self._refolding is None or self._refolding.done()):
            self._refolding = asyncio.create_task(self._refold(), name="kernel-refold")

    async def _refold(self) -> None:
        """Rebuild the kernel from the log after a conflict, as a restart does (see the module doc)."""
        await self.ledger.stop()
        for task in (self._finisher, self._timer):
            if task is not None:
                await cancel_and_wait(task)
        self._finisher = self._timer = None
        self._armed_ns = None
        old, self.kernel = self.kernel, self._new_kernel()
        self.kernel.adopt_market(old)
        self._shadow = None  # started again from the restore's snapshot
        self.restored.caught_up.clear()  # market data is observed, not reacted to, until restored
        self.mine.clear()
        self._unanswered.clear()
        self.appender.last_seq.clear()  # read again from the log
        self.appender.resume()  # drops what the old state decided and is still queued
        self.refolds += 1
        self.ledger = StreamFollower(self.bus, "LEDGER", LEDGER_INPUTS, self._on_ledger)
        await self._start_ledger()
        log.warning("kernel: state rebuilt from the log after a conflict (LEDGER up to seq %d)", self._restore_to)

    async def _run_timers(self) -> None:
        while True:
            self._wake.clear()
            due = self._armed_ns = self.kernel.next_due_ns()
            now = self.clock.now_ns()
            if due is not None and due <= now:
                self._append(self.kernel.advance_to(now))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), None if due is None else (due - now) / 1e9)
