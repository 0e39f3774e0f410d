"""A WASM algo inside a backtest: the live runner's mapping, driven by the kernel's virtual clock.

    algo = BacktestAlgo(wasm, targets=[("BTC-USDT", None)], clock=clock, market=kernel.market)
    run_backtest(market_events, orders, seed=7, algo=algo)

Each target (symbol, venue or None = the venue of the first book of that symbol) is one instance
of the module, as a deployment instance is live: `on_book` on each book event of its (venue,
symbol) with the kernel's own book, `on_nbbo` (if the module exports it) whenever the NBBO of
its symbol over the kernel's books changes (as the live NBBO service publishes `NbboChanged`:
a change of a best price or size or of a venue's BBO), `on_trade` feeding its OnlineFeatures, `on_heartbeat` at
1 Hz of virtual time (the backtest calls `heartbeat`), `on_fill`/`on_reject` from the kernel's
output events. Actions become commands with the runner's mapping
(`services.algos.orders.commands_for_actions`: graph ids `algo_<deployment>_<index>_1_<order
id>`, command ids derived) and the instance's `Account` folds its orders and fills like live
(`apply_ledger_event`). The host's clock is the virtual clock and no latency timer is read, so
the same module, data and seed give the same run. A trap, fuel or memory exhaustion or a bad
action pauses the instance (an `AlgoInstancePaused` in the output, the reason in the report);
the backtest goes on. Mesh messages are not delivered in backtests (counted). The first
`LOGS_KEPT` log lines of each instance are kept (`AlgoInstanceRun.logs`), not written out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from events import AnyEvent
from events.algos import AlgoInstancePaused, AlgoInstanceSpec
from events.commands import AmendNode, CancelGraph, SubmitGraph
from events.ids import derive_id
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted, VenueStatusChanged
from projections.market import MarketBooks, NbboKey
from services.algos.bridge import HostLoader
from services.algos.orders import Account, Ended, Filled, apply_ledger_event, commands_for_actions, parse_graph_id
from services.algos.runner import (
    BOOK_DEPTH,
    _Unloaded,
    BookInput,
    FillInput,
    Guest,
    GuestContext,
    Outcome,
    StateInput,
    nbbo_input,
    touch,
)

RUN = 1  # every backtest instance is the first run of its deployment
HEARTBEAT_NS = 10**9
LOGS_KEPT = 10_000  # per instance: the first lines of a run, for tests and a look at what it said

Command = SubmitGraph | CancelGraph | AmendNode
Produced = Command | AlgoInstancePaused  # what the algo adds to the run


@dataclass
class AlgoInstanceRun:
    """One instance in a backtest: its guest, account and figures for the report."""

    index: int
    spec: AlgoInstanceSpec
    guest: Guest
    account: Account = field(default_factory=Account)
    paused: str | None = None
    paused_ns: int | None = None
    action_seq: int = 0
    books: int = 0
    nbbos: int = 0
    callbacks: int = 0
    rejects: int = 0
    refused: int = 0
    log_lines: int = 0
    messages_dropped: int = 0
    logs: list[tuple[int, str, str]] = field(default_factory=list)  # (virtual ns, level, message)

    def report(self) -> dict[str, Any]:
        a = self.account
        return {
            "instance_id": self.spec.instance_id, "symbol": self.spec.symbol, "venue": self.spec.venue,
            "books": self.books, "nbbos": self.nbbos, "callbacks": self.callbacks, "orders_sent": a.orders_sent, "fills": a.fill_count,
            "rejects": self.rejects, "refused_actions": self.refused, "position_1e8": a.position_1e8,
            "realized_pnl_1e9": a.realized_pnl_1e9, "log_lines": self.log_lines,
            "mesh_messages_not_delivered": self.messages_dropped, "paused": self.paused, "paused_ns": self.paused_ns,
        }


class BacktestAlgo:
    """One module on one or more (symbol, venue) targets of a backtest (see the module docstring)."""

    def __init__(
        self,
        wasm: bytes,
        targets: list[tuple[str, str | None]] | None,
        *,
        clock: Callable[[], int],
        market: MarketBooks,
        tenant: str,
        name: str = "algo",
    ) -> None:
        self.wasm = wasm
        self.sha256 = hashlib.sha256(wasm).hexdigest()
        self.deployment_id = f"bt{self.sha256[:12]}"
        self.name = name
        self.targets = targets  # None: the first book's symbol at its venue
        self.clock = clock
        self.market = market
        self.tenant = tenant
        self.loader = HostLoader(clock_ns=clock, timer_ns=None)
        self.instances: list[AlgoInstanceRun] = []
        self.by_book: dict[tuple[str, str], list[AlgoInstanceRun]] = {}
        self.nbbo_keys: dict[str, NbboKey | None] = {}  # symbol -> the NBBO its instances were last given
        self.pending: list[Produced] = []  # pauses of instances that did not load, for the next output
        self._unbound: list[tuple[str, str | None]] = list(targets or [])  # instances not loaded yet

    # ------------------------------------------------------------------ inputs from the run

    def on_market(self, event: AnyEvent) -> list[Produced]:
        """After the kernel folded a market event: on_trade / on_book of the instances on it."""
        if isinstance(event, TradePrinted):
            side = {"buy": 1, "sell": -1}.get(event.aggressor, 0)
            for inst in self.by_book.get((event.venue, event.symbol), ()):
                inst.guest.on_trade(event.ts_recv_ns or event.ts_ns, event.qty_1e8, side)
            return []
        if isinstance(event, VenueStatusChanged):  # a venue's books went stale: NBBOs may change
            return self._nbbo_changes(sorted({inst.spec.symbol for inst in self.instances}), event.ts_ns)
        if not isinstance(event, (BookSnapshot, BookDeltaBatch)):
            return []
        key = (event.venue, event.symbol)
        if key not in self.by_book:
            self._bind(event.venue, event.symbol)
        instances = self.by_book.get(key)
        out: list[Produced] = self.pending
        self.pending = []
        recv_ns = event.ts_recv_ns or event.ts_ns
        book = self.market.books.get(key)
        if instances and book is not None and book.usable:
            bids, asks = book.top(BOOK_DEPTH)
            for inst in instances:
                if inst.paused is None:
                    inst.books += 1
                    entry = BookInput(bids, asks, recv_ns, inst.index + 1)
                    out += self._call(inst, lambda g, s: g.on_book(entry, s))
        return out + self._nbbo_changes([event.symbol], recv_ns)

    def _nbbo_changes(self, symbols: list[str], recv_ns: int) -> list[Produced]:
        """`on_nbbo` of the instances on `symbols` that want it, where the symbol's NBBO changed."""
        out: list[Produced] = []
        for symbol in symbols:
            wanting = [i for i in self.instances if i.spec.symbol == symbol and i.paused is None and i.guest.wants_nbbo]
            if not wanting:
                continue
            nbbo = self.market.nbbo(symbol)
            key = nbbo.key if nbbo is not None else None
            if key == self.nbbo_keys.get(symbol):
                continue
            self.nbbo_keys[symbol] = key
            if nbbo is None:
                continue  # no usable venue book: the live service publishes nothing either
            for inst in wanting:
                if inst.paused is None:
                    inst.nbbos += 1
                    entry = nbbo_input(self.market, nbbo.venues, symbol, recv_ns, inst.index + 1)
                    out += self._call(inst, lambda g, s: g.on_nbbo(entry, s))
        return out

    def on_output(self, events: list[AnyEvent]) -> list[Produced]:
        """The kernel's output: each instance's fills, ended orders and held commands."""
        out: list[Produced] = []
        for event in events:
            graph_id = getattr(event, "graph_id", "")
            parsed = parse_graph_id(graph_id) if graph_id.startswith("algo_") else None
            if parsed is None or parsed[0] != self.deployment_id or parsed[1] >= len(self.instances):
                continue
            inst = self.instances[parsed[1]]
            outcome = apply_ledger_event(inst.account, event)
            if isinstance(outcome, list):
                out += outcome
            elif outcome is None or inst.paused is not None:
                continue
            elif isinstance(outcome, Filled):
                fill = FillInput(outcome.order_id, outcome.px_1e9, outcome.qty_1e8, outcome.side, outcome.recv_ns)
                out += self._call(inst, lambda g, s: g.on_fill(fill, s))
            else:
                out += self._reject(inst, outcome)
        return out

    def heartbeat(self, now_ns: int) -> list[Produced]:
        out: list[Produced] = []
        for inst in self.instances:
            if inst.paused is None:
                out += self._call(inst, lambda g, s: g.on_heartbeat(now_ns, s))
        return out

    def report(self) -> dict[str, Any]:
        return {"module": self.name, "sha256": self.sha256, "deployment_id": self.deployment_id,
                "instances": [inst.report() for inst in self.instances],
                "paused": sum(inst.paused is not None for inst in self.instances)}

    # ------------------------------------------------------------------ instances

    def _bind(self, venue: str, symbol: str) -> None:
        """Load the instances waiting for this book (their venue known now)."""
        if self.targets is None and not self.instances:
            self._unbound = [(symbol, venue)]
        wanted = [t for t in self._unbound if t[0] == symbol and t[1] in (None, venue)]
        if not wanted:
            self.by_book.setdefault((venue, symbol), [])
            return
        for target in wanted:
            self._unbound.remove(target)
            index = len(self.instances)
            instance_id = f"{symbol}@{venue}"
            spec = AlgoInstanceSpec(instance_id=instance_id, label=instance_id[:32], symbol=symbol, venue=venue)
            context = GuestContext(self.deployment_id, spec, index + 1, {}, index + 1)
            try:
                inst = AlgoInstanceRun(index, spec, self.loader.load(self.wasm, context))
            except Exception as exc:  # a module that will not load pauses its instance, nothing else
                inst = AlgoInstanceRun(index, spec, _Unloaded())
                self.pending.append(self._pause(inst, f"could not load the module: {exc}"))
            self.instances.append(inst)
            self.by_book.setdefault((venue, symbol), []).append(inst)

    def _state(self, inst: AlgoInstanceRun) -> StateInput:
        bid, ask = touch(self.market, inst.spec.venue, inst.spec.symbol)
        mid = (bid + ask) // 2 if bid and ask else None
        return StateInput(inst.account, mid, inst.spec.symbol, inst.spec.venue)

    def _call(self, inst: AlgoInstanceRun, callback: Callable[[Guest, StateInput], Outcome]) -> list[Produced]:
        state = self._state(inst)
        inst.callbacks += 1
        try:
            outcome = callback(inst.guest, state)
        except Exception as exc:  # the host must not raise; if it does, contain it to this instance
            outcome = Outcome(paused_reason=f"host error: {exc!r}")
        return self._handle(inst, outcome, state)

    def _handle(self, inst: AlgoInstanceRun, outcome: Outcome, state: StateInput) -> list[Produced]:
        inst.log_lines += len(outcome.logs)
        if len(inst.logs) < LOGS_KEPT:
            now_ns = self.clock()
            inst.logs += [(now_ns, level, message) for level, message in outcome.logs[: LOGS_KEPT - len(inst.logs)]]
        inst.messages_dropped += len(outcome.messages)
        commands, refused, inst.action_seq = commands_for_actions(
            outcome.actions, tenant=self.tenant, deployment_id=self.deployment_id, index=inst.index, run=RUN,
            symbol=inst.spec.symbol, venue=inst.spec.venue, account=state.account,
            touch_of=lambda venue: touch(self.market, venue, inst.spec.symbol), now_ns=self.clock(),
            seq=inst.action_seq,
        )
        out: list[Produced] = list(commands)
        if outcome.paused_reason is not None and inst.paused is None:
            out.append(self._pause(inst, outcome.paused_reason))
            return out
        inst.refused += len(refused)
        for r in refused:
            if inst.paused is None:
                out += self._reject(inst, Ended(r.order_id, r.code, r.reason))
        return out

    def _reject(self, inst: AlgoInstanceRun, ended: Ended) -> list[Produced]:
        inst.rejects += 1
        return self._call(inst, lambda g, s: g.on_reject(ended.order_id, ended.code, s))

    def _pause(self, inst: AlgoInstanceRun, reason: str) -> AlgoInstancePaused:
        now_ns = self.clock()
        inst.paused, inst.paused_ns = reason, now_ns
        return AlgoInstancePaused(
            event_id=derive_id("algo-paused", self.deployment_id, inst.spec.instance_id, str(RUN)), ts_ns=now_ns,
            tenant=self.tenant, deployment_id=self.deployment_id, instance_id=inst.spec.instance_id, run=RUN,
            reason=reason,
        )
