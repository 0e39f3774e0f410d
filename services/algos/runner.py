"""The algo runner (`crossbook algos`): runs every deployed instance beside the venue edges.

Where instances run, and why here: one runner process per host, next to that host's edge
processes (the Procfile starts it with them), rather than inside each edge. The edge's only job
stays publishing market data: a guest that burns its fuel budget on every tick, or a burst of
compiles at deploy time, costs the runner's CPU, never the edge's socket loop, so market data on
the edge never stops while an instance misbehaves (and a crash of wasmtime itself cannot take an
edge down). Every instance reads the same books the edge just published (JetStream on loopback
adds ~0.1 ms). `--venues` limits a runner to the edges of its host when edges are spread over
several hosts; one runner per venue.

What it does, per instance (`AlgoInstanceSpec`: one symbol on one venue):
- calls `on_book` on every book update of its (venue, symbol), with the instance's account
  (services/algos/orders.py: position, PnL, open orders, authoritative on our side) written into
  the guest before each callback; `on_nbbo` (if the module exports it) on every `NbboChanged`
  of its symbol, read with the books from the same MD stream (so each venue's book is as of
  that NBBO); `on_heartbeat` at 1 Hz; `on_fill`/`on_reject` when the ledger
  shows a fill or a refusal of one of its orders; `on_message` for mesh messages sent to its label.
- turns actions into commands on `cmd.<tenant>` (graph engine, risk, router, like any order).
- pauses an instance whose callback trapped, ran out of fuel or memory, or returned a bad action
  (`AlgoInstancePaused` with the reason); the other instances and the edges keep running.
- ships logs in batches (1 s), stats (2 s) and mesh messages as `algo.<tenant>.<id>.run` events.

State comes from the log: on start the runner folds `algo.>`, `ord.>` and `exec.>` from the
beginning (deployments, desired states, each instance's orders and fills), then starts what
should run, each as a new `run` (so its order ids never meet an earlier run's graphs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from events import AnyEvent
from events.algos import (
    ALGO_EVENTS,
    MESSAGE_MAX_BYTES,
    AlgoInstancePaused,
    AlgoInstanceRunning,
    AlgoInstanceSpec,
    AlgoLogBatch,
    AlgoLogLine,
    AlgoMeshMessage,
    AlgoStats,
    LogLevel,
)
from events.ids import derive_id
from events.market import BookDeltaBatch, BookSnapshot, NbboChanged, TradePrinted, VenueBbo
from projections.follower import StreamFollower
from projections.market import MarketBooks
from projections.market_follower import MarketFollower
from services.aio import cancel_and_wait
from services.algos.deployments import Deployment, DeploymentsView
from services.algos.modules import ModuleStore
from services.algos.orders import (
    Account,
    Action,
    Ended,
    Filled,
    Touch,
    apply_ledger_event,
    commands_for_actions,
    parse_graph_id,
)
from services.bus import Bus
from services.bus.writer import as_writer
from services.errors import BusError

log = logging.getLogger("crossbook.algos")

BOOK_DEPTH = 20
LOG_FLUSH_S = 1.0
STATS_EVERY_S = 2.0
HEARTBEAT_S = 1.0
LOG_LINES_PER_BATCH = 500  # per deployment and flush; more are counted as dropped
LATENCY_SAMPLES = 2048


@dataclass(frozen=True)
class BookInput:
    bids: list[tuple[int, int]]  # (px_1e9, sz_1e8), best first, at most 20
    asks: list[tuple[int, int]]
    recv_ns: int
    symbol_id: int


@dataclass(frozen=True)
class NbboInput:
    """The cross-venue view of one symbol: each venue's BBO and its book (top 20)."""

    venues: list[VenueBbo]
    books: list[tuple[str, BookInput]]
    recv_ns: int
    symbol_id: int
    # The on-chain pools among them: (venue, one swap's gas in quote x 1e9, book) for PoolBooks
    pools: list[tuple[str, int, BookInput]] = field(default_factory=list)


def nbbo_input(books: MarketBooks, venues: Iterable[VenueBbo], symbol: str, recv_ns: int, symbol_id: int) -> NbboInput:
    """`venues` (an NBBO's per-venue BBOs) with each venue's book from `books`, where known."""
    quotes = list(venues)
    with_books: list[tuple[str, BookInput]] = []
    pools: list[tuple[str, int, BookInput]] = []
    for quote in quotes:
        book = books.books.get((quote.venue, symbol))
        if book is not None and book.usable:
            bids, asks = book.top(BOOK_DEPTH)
            entry = BookInput(bids, asks, book.last_update_ns, symbol_id)
            with_books.append((quote.venue, entry))
            if book.order_cost_quote_1e9 > 0:  # a pool: its gas per swap rides on its snapshot
                pools.append((quote.venue, book.order_cost_quote_1e9, entry))
    return NbboInput(quotes, with_books, recv_ns, symbol_id, pools)


@dataclass(frozen=True)
class FillInput:
    order_id: int
    px_1e9: int
    qty_1e8: int  # > 0; the direction is `side`
    side: int  # 1 buy, -1 sell
    recv_ns: int


@dataclass
class Outcome:
    """What one callback gave back: actions, logs, mesh messages, or why the instance must pause."""

    actions: list[Action] = field(default_factory=list)
    logs: list[tuple[LogLevel, str]] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # (to label, payload)
    paused_reason: str | None = None


@dataclass(frozen=True)
class StateInput:
    """The instance's AlgoState, as the runner holds it (the guest gets it written before each call)."""

    account: Account
    mid_1e9: int | None
    symbol: str
    venue: str


class Guest(Protocol):
    """One loaded module instance (services/algos/bridge.py adapts the wasmtime host to this)."""

    @property
    def wants_nbbo(self) -> bool:
        """Whether the module exports `algo_on_nbbo` (the others are not handed NBBOs)."""

    def on_book(self, book: BookInput, state: StateInput) -> Outcome: ...

    def on_nbbo(self, nbbo: NbboInput, state: StateInput) -> Outcome: ...

    def on_fill(self, fill: FillInput, state: StateInput) -> Outcome: ...

    def on_reject(self, order_id: int, code: int, state: StateInput) -> Outcome: ...

    def on_heartbeat(self, now_ns: int, state: StateInput) -> Outcome: ...

    def on_message(self, from_label: str, payload: bytes, state: StateInput) -> Outcome: ...

    def on_shutdown(self, state: StateInput) -> Outcome: ...

    def on_trade(self, recv_ns: int, qty_1e8: int, aggressor_side: int) -> None:
        """A print on the instance's venue and symbol (feeds OnlineFeatures; no callback)."""


@dataclass(frozen=True)
class GuestContext:
    deployment_id: str
    spec: AlgoInstanceSpec
    mesh_id: int  # the instance's 1-based index in the deployment: its id in every peer's mesh table
    peers: dict[str, int]  # the other instances: label -> mesh id
    symbol_id: int  # 1-based index of the instance's symbol among the deployment's symbols


GuestFactory = Callable[[bytes, GuestContext], Guest]


@dataclass
class Runtime:
    deployment: Deployment
    spec: AlgoInstanceSpec
    index: int
    run: int
    guest: Guest
    started_for: str  # the start request (event id) this run answers
    paused: str | None = None
    update_count: int = 0
    action_seq: int = 0
    latencies_ns: deque[int] = field(default_factory=lambda: deque(maxlen=LATENCY_SAMPLES))
    last_heartbeat_ns: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return self.deployment.deployment_id, self.spec.instance_id


def touch(books: MarketBooks, venue: str, symbol: str) -> Touch:
    """(best bid, best ask) of one venue book, None where a side is empty or the book unknown."""
    book = books.books.get((venue, symbol))
    if book is None:
        return None, None
    bid, ask = book.best_bid(), book.best_ask()
    return bid[0] if bid else None, ask[0] if ask else None


def percentile(samples: Iterable[int], q: float) -> int:
    ordered = sorted(samples)
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class AlgoRunner:
    def __init__(
        self,
        bus: Bus,
        modules: ModuleStore,
        load: GuestFactory,
        *,
        venues: set[str] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.bus = bus
        self.modules = modules
        self.load = load
        self.venues = venues  # None = every venue
        self.clock_ns = clock_ns
        self.view = DeploymentsView()
        self.books = MarketBooks()
        self.accounts: dict[tuple[str, int], Account] = {}  # (deployment id, instance index) -> account
        self.runtimes: dict[tuple[str, str], Runtime] = {}
        self.by_book: dict[tuple[str, str], list[Runtime]] = {}  # (venue, symbol) -> runtimes on it
        self.ledger = StreamFollower(bus, "LEDGER", ["algo.>", "ord.>", "exec.>"], self._on_ledger)
        self.md = MarketFollower(bus, self._on_md, also=("nbbo.>",))  # books, and the NBBOs for on_nbbo
        self.commands = as_writer(bus, "algo_host")  # the front door of its algos' orders (cmd.* only)
        self.reports = as_writer(bus, "algo_host")
        self.outbox: asyncio.Queue[AnyEvent] = asyncio.Queue()
        self.logs: dict[str, list[AlgoLogLine]] = {}
        self.dropped: dict[str, int] = {}
        self.refused_messages = 0
        self.publish_errors = 0
        self._dirty = asyncio.Event()
        self._moved: set[tuple[str, int]] = set()  # accounts changed since the last stats
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.ledger.start()
        await self.md.start()
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name="algos-publish"),
            asyncio.create_task(self._reconcile_loop(), name="algos-reconcile"),
            asyncio.create_task(self._tick_loop(), name="algos-tick"),
        ]

    async def stop(self) -> None:
        for runtime in list(self.runtimes.values()):
            self._unload(runtime, "runner shutdown", by_user=True, shutdown=False)
        await self._drain()
        for task in self._tasks:
            await cancel_and_wait(task)
        await self.md.stop()
        await self.ledger.stop()

    async def _drain(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                while not self.outbox.empty():
                    await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ folds

    def _on_ledger(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, ALGO_EVENTS):
            changed = self.view.apply(event, seq)
            if changed is not None:
                self._dirty.set()
            if isinstance(event, AlgoMeshMessage) and self.ledger.caught_up.is_set():
                self._deliver_message(event)
            return
        graph_id = getattr(event, "graph_id", "")
        parsed = parse_graph_id(graph_id) if graph_id else None
        if parsed is None:
            return
        deployment_id, index, _, _ = parsed
        account = self.accounts.setdefault((deployment_id, index), Account())
        self._moved.add((deployment_id, index))
        live = self.ledger.caught_up.is_set()
        runtime = self._runtime_at(deployment_id, index)
        outcome = apply_ledger_event(account, event)
        if isinstance(outcome, list):
            for command in outcome:  # held until the graph was on the log
                self.outbox.put_nowait(command)
        elif outcome is None or not live or runtime is None or runtime.paused is not None:
            return
        elif isinstance(outcome, Filled):
            fill = FillInput(outcome.order_id, outcome.px_1e9, outcome.qty_1e8, outcome.side, outcome.recv_ns)
            self._call(runtime, lambda g, s: g.on_fill(fill, s))
        else:
            self._reject(runtime, outcome)

    def _on_md(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, NbboChanged):
            self._on_nbbo(event)
            return
        self.books.apply(event, seq)
        if isinstance(event, TradePrinted):
            side = {"buy": 1, "sell": -1}.get(event.aggressor, 0)
            for runtime in self.by_book.get((event.venue, event.symbol), ()):
                runtime.guest.on_trade(event.ts_recv_ns or event.ts_ns, event.qty_1e8, side)
            return
        if not isinstance(event, (BookSnapshot, BookDeltaBatch)) or not self.ledger.caught_up.is_set():
            return
        runtimes = self.by_book.get((event.venue, event.symbol))
        if not runtimes:
            return
        book = self.books.books.get((event.venue, event.symbol))
        if book is None or not book.usable:
            return
        bids, asks = book.top(BOOK_DEPTH)
        recv_ns = event.ts_recv_ns or event.ts_ns
        for runtime in list(runtimes):
            if runtime.paused is None:
                runtime.update_count += 1
                entry = BookInput(bids, asks, recv_ns, self._symbol_id(runtime))
                self._call(runtime, lambda g, s: g.on_book(entry, s), timed=True)

    def _on_nbbo(self, event: NbboChanged) -> None:
        if not self.ledger.caught_up.is_set():
            return
        wanting = [r for r in self.runtimes.values()
                   if r.spec.symbol == event.symbol and r.paused is None and r.guest.wants_nbbo]
        for runtime in wanting:
            if runtime.paused is None:
                runtime.update_count += 1
                entry = nbbo_input(self.books, event.venues, event.symbol, event.ts_ns, self._symbol_id(runtime))
                self._call(runtime, lambda g, s: g.on_nbbo(entry, s), timed=True)

    # ------------------------------------------------------------------ calling guests

    def _symbol_id(self, runtime: Runtime) -> int:
        return runtime.deployment.deployed.symbols.index(runtime.spec.symbol) + 1 if runtime.spec.symbol in (
            runtime.deployment.deployed.symbols) else runtime.index + 1

    def _state(self, runtime: Runtime) -> StateInput:
        account = self.accounts.setdefault((runtime.deployment.deployment_id, runtime.index), Account())
        return StateInput(account, self._mid(runtime.spec), runtime.spec.symbol, runtime.spec.venue)

    def _mid(self, spec: AlgoInstanceSpec) -> int | None:
        book = self.books.books.get((spec.venue, spec.symbol))
        if book is None:
            return None
        bid, ask = book.best_bid(), book.best_ask()
        return (bid[0] + ask[0]) // 2 if bid and ask else None

    def _runtime_at(self, deployment_id: str, index: int) -> Runtime | None:
        deployment = self.view.deployments.get(deployment_id)
        if deployment is None:
            return None
        specs = deployment.deployed.instances
        return self.runtimes.get((deployment_id, specs[index].instance_id)) if index < len(specs) else None

    def _call(self, runtime: Runtime, callback: Callable[[Guest, StateInput], Outcome], timed: bool = False) -> None:
        state = self._state(runtime)
        started = time.perf_counter_ns()
        try:
            outcome = callback(runtime.guest, state)
        except Exception as exc:  # the host must not raise; if it does, contain it to this instance
            log.exception("algo %s %s: host raised", *runtime.key)
            outcome = Outcome(paused_reason=f"host error: {exc!r}")
        if timed:
            runtime.latencies_ns.append(time.perf_counter_ns() - started)
        self._handle(runtime, outcome, state)

    def _handle(self, runtime: Runtime, outcome: Outcome, state: StateInput) -> None:
        deployment = runtime.deployment
        now_ns = self.clock_ns()
        for level, message in outcome.logs:
            self._log(deployment.deployment_id, runtime.spec.instance_id, level, message, now_ns)
        for to_label, payload in outcome.messages:
            self._send(runtime, to_label, payload, now_ns)
        commands, refused, runtime.action_seq = commands_for_actions(
            outcome.actions, tenant=deployment.tenant, deployment_id=deployment.deployment_id, index=runtime.index,
            run=runtime.run, symbol=runtime.spec.symbol, venue=runtime.spec.venue, account=state.account,
            touch_of=lambda venue: touch(self.books, venue, runtime.spec.symbol), now_ns=now_ns,
            seq=runtime.action_seq,
        )
        for command in commands:
            self.outbox.put_nowait(command)
        if outcome.paused_reason is not None and runtime.paused is None:
            self._pause(runtime, outcome.paused_reason)
            return
        for r in refused:
            self._log(deployment.deployment_id, runtime.spec.instance_id, "warn", f"order {r.order_id} refused: {r.reason}",
                      now_ns)
            if runtime.paused is None:
                self._reject(runtime, Ended(r.order_id, r.code, r.reason))

    def _reject(self, runtime: Runtime, ended: Ended) -> None:
        self._call(runtime, lambda g, s: g.on_reject(ended.order_id, ended.code, s))

    def _pause(self, runtime: Runtime, reason: str) -> None:
        runtime.paused = reason
        self._detach(runtime)
        deployment = runtime.deployment
        log.warning("algo %s %s paused: %s", deployment.deployment_id, runtime.spec.instance_id, reason)
        self._log(deployment.deployment_id, runtime.spec.instance_id, "error", f"paused: {reason}", self.clock_ns())
        self.outbox.put_nowait(AlgoInstancePaused(
            event_id=derive_id("algo-paused", deployment.deployment_id, runtime.spec.instance_id, str(runtime.run)),
            ts_ns=self.clock_ns(), tenant=deployment.tenant, deployment_id=deployment.deployment_id,
            instance_id=runtime.spec.instance_id, run=runtime.run, reason=reason,
        ))

    def _log(self, deployment_id: str, instance_id: str, level: LogLevel, message: str, now_ns: int) -> None:
        lines = self.logs.setdefault(deployment_id, [])
        if len(lines) >= LOG_LINES_PER_BATCH:
            self.dropped[deployment_id] = self.dropped.get(deployment_id, 0) + 1
            return
        lines.append(AlgoLogLine(ts_ns=now_ns, instance_id=instance_id, level=level, message=message[:1024]))

    # ------------------------------------------------------------------ mesh

    def _send(self, runtime: Runtime, to_label: str, payload: bytes, now_ns: int) -> None:
        deployment = runtime.deployment
        if len(payload) > MESSAGE_MAX_BYTES:
            self.refused_messages += 1
            self._log(deployment.deployment_id, runtime.spec.instance_id, "warn",
                      f"mesh message to {to_label!r} refused: {len(payload)} bytes > {MESSAGE_MAX_BYTES}", now_ns)
            return
        target = self.view.find_label(deployment, to_label)
        if target is None:
            self.refused_messages += 1
            self._log(deployment.deployment_id, runtime.spec.instance_id, "warn",
                      f"mesh message refused: no instance is labelled {to_label!r}", now_ns)
            return
        runtime.action_seq += 1
        to_deployment = target[0].deployment_id
        self.outbox.put_nowait(AlgoMeshMessage(
            event_id=derive_id("algo-mesh", deployment.deployment_id, runtime.spec.instance_id, str(runtime.run),
                               str(runtime.action_seq)),
            ts_ns=now_ns, tenant=deployment.tenant, deployment_id=deployment.deployment_id,
            from_instance=runtime.spec.instance_id, from_label=runtime.spec.label, to_label=to_label, payload=payload,
            to_deployment_id="" if to_deployment == deployment.deployment_id else to_deployment,
        ))

    def _deliver_message(self, message: AlgoMeshMessage) -> None:
        deployment = self.view.deployments.get(message.to_deployment_id or message.deployment_id)
        if deployment is None or deployment.deleted or deployment.tenant != message.tenant:
            return
        target = deployment.by_label(message.to_label)
        if target is None:
            return
        runtime = self.runtimes.get((deployment.deployment_id, target.spec.instance_id))
        if runtime is not None and runtime.paused is None:
            self._call(runtime, lambda g, s: g.on_message(message.from_label, message.payload, s))

    # ------------------------------------------------------------------ desired state

    async def _reconcile_loop(self) -> None:
        await self.ledger.caught_up.wait()
        await self.md.caught_up.wait()
        while True:
            self._dirty.clear()
            try:
                await self._reconcile()
            except Exception:  # the outermost loop: log it and try on the next change
                log.exception("algo reconcile failed")
            await self._dirty.wait()

    async def _reconcile(self) -> None:
        for deployment in list(self.view.deployments.values()):
            for index, spec in enumerate(deployment.deployed.instances):
                if self.venues is not None and spec.venue not in self.venues:
                    continue
                instance = deployment.instances[spec.instance_id]
                runtime = self.runtimes.get((deployment.deployment_id, spec.instance_id))
                should_run = instance.desired == "running" and not deployment.deleted
                if not should_run:
                    if runtime is not None:
                        self._unload(runtime, "stopped", by_user=True, shutdown=True)
                    continue
                if runtime is not None and (runtime.paused is None or runtime.started_for == instance.started_by):
                    continue  # running, or paused and not asked to start again
                if runtime is not None:
                    self.runtimes.pop(runtime.key, None)
                await self._load(deployment, index, spec, instance.started_by, max(instance.run, runtime.run if runtime
                                                                                   else 0) + 1)

    async def _load(self, deployment: Deployment, index: int, spec: AlgoInstanceSpec, started_for: str, run: int) -> None:
        try:
            wasm = await asyncio.to_thread(self.modules.get, deployment.deployed.wasm_sha256)
            peers = self.view.mesh_peers(deployment, spec.instance_id)
            context = GuestContext(deployment.deployment_id, spec, index + 1, peers, index + 1)
            guest = await asyncio.to_thread(self.load, wasm, context)
        except Exception as exc:  # a module that will not load pauses its instance, nothing else
            guest_error = f"could not load the module: {exc}"
            runtime = Runtime(deployment, spec, index, run, _Unloaded(), started_for, paused=guest_error)
            self.runtimes[runtime.key] = runtime
            self._pause_event(runtime, guest_error)
            return
        runtime = Runtime(deployment, spec, index, run, guest, started_for)
        self.runtimes[runtime.key] = runtime
        self.by_book.setdefault((spec.venue, spec.symbol), []).append(runtime)
        self.outbox.put_nowait(AlgoInstanceRunning(
            event_id=derive_id("algo-running", deployment.deployment_id, spec.instance_id, str(run)),
            ts_ns=self.clock_ns(), tenant=deployment.tenant, deployment_id=deployment.deployment_id,
            instance_id=spec.instance_id, run=run,
        ))
        log.info("algo %s %s running (run %d)", deployment.deployment_id, spec.instance_id, run)

    def _pause_event(self, runtime: Runtime, reason: str) -> None:
        deployment = runtime.deployment
        self.outbox.put_nowait(AlgoInstancePaused(
            event_id=derive_id("algo-paused", deployment.deployment_id, runtime.spec.instance_id, str(runtime.run)),
            ts_ns=self.clock_ns(), tenant=deployment.tenant, deployment_id=deployment.deployment_id,
            instance_id=runtime.spec.instance_id, run=runtime.run, reason=reason,
        ))

    def _detach(self, runtime: Runtime) -> None:
        on_book = self.by_book.get((runtime.spec.venue, runtime.spec.symbol), [])
        if runtime in on_book:
            on_book.remove(runtime)

    def _unload(self, runtime: Runtime, reason: str, *, by_user: bool, shutdown: bool) -> None:
        """Stop calling an instance; `on_shutdown` first (its actions, e.g. cancels, still go out)."""
        if shutdown and runtime.paused is None:
            self._call(runtime, lambda g, s: g.on_shutdown(s))
        self._stats_of(runtime, self.clock_ns())  # its figures as it stops
        self._detach(runtime)
        self.runtimes.pop(runtime.key, None)
        if runtime.paused is None:
            deployment = runtime.deployment
            self.outbox.put_nowait(AlgoInstancePaused(
                event_id=derive_id("algo-stopped", deployment.deployment_id, runtime.spec.instance_id, str(runtime.run)),
                ts_ns=self.clock_ns(), tenant=deployment.tenant, deployment_id=deployment.deployment_id,
                instance_id=runtime.spec.instance_id, run=runtime.run, reason=reason, by_user=by_user,
            ))

    # ------------------------------------------------------------------ periodic work and output

    async def _tick_loop(self) -> None:
        await self.ledger.caught_up.wait()
        ticks = 0
        while True:
            await asyncio.sleep(HEARTBEAT_S)  # a timer: heartbeats are due once a second
            ticks += 1
            now_ns = self.clock_ns()
            for runtime in list(self.runtimes.values()):
                if runtime.paused is None:
                    runtime.last_heartbeat_ns = now_ns
                    self._call(runtime, lambda g, s: g.on_heartbeat(now_ns, s))
            self._flush_logs(now_ns)
            if ticks % round(STATS_EVERY_S / HEARTBEAT_S) == 0:
                self._stats(now_ns)

    def flush(self) -> None:
        """Queue the pending logs and current stats now (tests and shutdown)."""
        now_ns = self.clock_ns()
        self._flush_logs(now_ns)
        self._stats(now_ns)

    def _flush_logs(self, now_ns: int) -> None:
        for deployment_id, lines in list(self.logs.items()):
            deployment = self.view.deployments.get(deployment_id)
            if deployment is None or not lines:
                continue
            dropped = self.dropped.pop(deployment_id, 0)
            self.outbox.put_nowait(AlgoLogBatch(
                event_id=derive_id("algo-logs", deployment_id, str(now_ns), str(lines[0].ts_ns)), ts_ns=now_ns,
                tenant=deployment.tenant, deployment_id=deployment_id, lines=lines, dropped=dropped,
            ))
            self.logs[deployment_id] = []

    def _stats(self, now_ns: int) -> None:
        for runtime in list(self.runtimes.values()):
            self._stats_of(runtime, now_ns)
        # Instances not running whose account moved since (a resting order filled after a stop):
        # their last stats with the account's figures now.
        for key in sorted(self._moved):
            deployment_id, index = key
            deployment = self.view.deployments.get(deployment_id)
            if deployment is None or index >= len(deployment.deployed.instances):
                continue
            spec = deployment.deployed.instances[index]
            last = deployment.instances[spec.instance_id].stats
            if (deployment_id, spec.instance_id) in self.runtimes or last is None:
                continue
            account = self.accounts[key]
            self.outbox.put_nowait(msgspec.structs.replace(
                last, event_id=derive_id("algo-stats", deployment_id, spec.instance_id, str(now_ns)), ts_ns=now_ns,
                orders_sent=account.orders_sent, fills=account.fill_count, position_1e8=account.position_1e8,
                realized_pnl_1e9=account.realized_pnl_1e9, session_realized_pnl_1e9=account.session_pnl_1e9,
                unrealized_pnl_1e9=account.unrealized_pnl_1e9(self._mid(spec)),
            ))
        self._moved.clear()

    def _stats_of(self, runtime: Runtime, now_ns: int) -> None:
        deployment, spec = runtime.deployment, runtime.spec
        account = self.accounts.setdefault((deployment.deployment_id, runtime.index), Account())
        samples = list(runtime.latencies_ns)
        self.outbox.put_nowait(AlgoStats(
            event_id=derive_id("algo-stats", deployment.deployment_id, spec.instance_id, str(now_ns)), ts_ns=now_ns,
            tenant=deployment.tenant, deployment_id=deployment.deployment_id, instance_id=spec.instance_id,
            run=runtime.run, update_count=runtime.update_count, callback_p50_ns=percentile(samples, 0.5),
            callback_p99_ns=percentile(samples, 0.99), orders_sent=account.orders_sent, fills=account.fill_count,
            position_1e8=account.position_1e8, realized_pnl_1e9=account.realized_pnl_1e9,
            session_realized_pnl_1e9=account.session_pnl_1e9,
            unrealized_pnl_1e9=account.unrealized_pnl_1e9(self._mid(spec)),
            last_heartbeat_ns=runtime.last_heartbeat_ns,
        ))

    async def _publish_loop(self) -> None:
        while True:
            batch = [await self.outbox.get()]
            while not self.outbox.empty() and len(batch) < 256:
                batch.append(self.outbox.get_nowait())
            try:
                await self._publish(batch)
            except BusError as exc:  # JetStream did not answer: these events are lost, say so
                self.publish_errors += len(batch)
                log.error("algo runner could not append %d events: %s", len(batch), exc)

    async def _publish(self, batch: list[AnyEvent]) -> None:
        # Commands as the front door, reports as the algo host; order kept within each kind.
        commands = [e for e in batch if not isinstance(e, ALGO_EVENTS)]
        reports = [e for e in batch if isinstance(e, ALGO_EVENTS)]
        if commands:
            await self.commands.publish_many(commands)
        if reports:
            await self.reports.publish_many(reports)


class _Unloaded:
    """The guest of an instance whose module did not load (never called: the instance is paused)."""

    def _none(self, *args: object) -> Outcome:
        return Outcome()

    wants_nbbo = False
    on_book = on_nbbo = on_fill = on_reject = on_heartbeat = on_message = on_shutdown = _none

    def on_trade(self, recv_ns: int, qty_1e8: int, aggressor_side: int) -> None:
        return None


async def run_algos(settings: object, venues: list[str] | None = None) -> None:
    """`crossbook algos`: the algo runner of this host, until SIGINT/SIGTERM."""
    from services.algos.bridge import HostLoader
    from services.runtime import configure_logging, wait_for_shutdown
    from services.settings import Settings

    assert isinstance(settings, Settings)
    configure_logging()
    bus = await Bus.connect(settings, name="algos", user="algos")
    await bus.ensure_streams()
    loader = HostLoader()
    runner = AlgoRunner(bus, ModuleStore.under(settings.data_dir), loader.load, venues=set(venues) if venues else None)
    await runner.start()
    log.info("algo runner running%s", f" for {', '.join(venues)}" if venues else "")
    await wait_for_shutdown()
    await runner.stop()
    await bus.close()
