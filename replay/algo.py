"""WASM algos inside a backtest: the live runner's mapping, driven by the kernel's virtual clock.

    algo = BacktestAlgo([AlgoSpec(wasm, "mm", [AlgoTarget("BTC-USDT", "binance", "quoter")])], clock=clock,
                        market=kernel.market, tenant="backtest")
    run_backtest(market_events, orders, seed=7, algo=lambda clock, market, tenant: algo)

Each `AlgoSpec` is one module, as one deployment is live; each of its targets (symbol, venue or
None = the venue of the first book of that symbol, label or None = the instance id
`SYMBOL@venue`) is one instance, loaded at the first book of its (venue, symbol). An instance gets
`on_book` on each book event of its (venue, symbol) with the kernel's own book, `on_nbbo` (if the
module exports it) whenever the NBBO of its symbol over the kernel's books changes (as the live
NBBO service publishes `NbboChanged`: a change of a best price or size or of a venue's BBO),
`on_trade` feeding its OnlineFeatures, `on_heartbeat` at 1 Hz of virtual time (the backtest calls
`heartbeat`), `on_fill`/`on_reject` from the kernel's output events, and `on_message` for mesh
messages. Actions become commands with the runner's mapping (`services.algos.orders.
commands_for_actions`: graph ids `algo_<deployment>_<index>_1_<order id>`, index = the target's
position in its spec, command ids derived) and the instance's `Account` folds its orders and fills
like live (`apply_ledger_event`).

Mesh, as the live runner: a message goes to the instance of the sender's own module with that
label, else to the instance another module labelled so explicitly (a named label); the mesh table
of an instance lists its own module's other targets (mesh id = position + 1) and the named targets
of the other modules (from 1001), so a target's label must be known before the data: give it a
label or a venue. Each message is an `AlgoMeshMessage` in the output at the virtual time it was
sent and reaches `on_message` MESH_LATENCY_NS later (live it is appended to JetStream and read back
by the runner); messages to an unknown, unloaded, paused or stopped instance are counted as not
delivered.

At the end of the data (`shutdown`), every running instance is stopped as a user's stop stops it
live: `on_shutdown` is called (its actions, e.g. cancels, still go out) and an
`AlgoInstancePaused` with `by_user` records the stop; afterwards its orders and fills still fold
into its account but it is called no more. The host's clock is the virtual clock and no latency
timer is read, so the same modules, data and seed give the same run. A trap, fuel or memory
exhaustion or a bad action pauses the instance (an `AlgoInstancePaused` in the output, the reason
in the report); the backtest goes on. The first `LOGS_KEPT` log lines of each instance are kept
(`AlgoInstanceRun.logs`), not written out.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events import AnyEvent
from events.algos import MESSAGE_MAX_BYTES, AlgoInstancePaused, AlgoInstanceSpec, AlgoMeshMessage
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
# From a send to its delivery: live, the runner appends the message to JetStream and its ledger
# follower reads it back (a JetStream round trip on loopback measures 0.19-0.35 ms here).
MESH_LATENCY_NS = 500_000
MESH_PEERS = 16  # the mesh table's size (services/algos/deployments.py mesh_peers)
OTHER_MODULE_MESH_ID = 1001  # mesh ids of named instances of other modules start here, as live
STOP_REASON = "stopped: the backtest's data ended"

Command = SubmitGraph | CancelGraph | AmendNode
Produced = Command | AlgoInstancePaused | AlgoMeshMessage  # what the algos add to the run


@dataclass(frozen=True)
class AlgoTarget:
    """One instance: `symbol` at `venue` (None = its first book's venue), mesh name `label`
    (None = the instance id `SYMBOL@venue`)."""

    symbol: str
    venue: str | None = None
    label: str | None = None


@dataclass(frozen=True)
class AlgoSpec:
    """One module (one deployment live) and its instances; no targets = one instance on the
    first book's symbol at its venue."""

    wasm: bytes
    name: str = "algo"
    targets: Sequence[AlgoTarget] | None = None


def _target(t: AlgoTarget | tuple[str, str | None]) -> AlgoTarget:
    return t if isinstance(t, AlgoTarget) else AlgoTarget(t[0], t[1])


@dataclass
class AlgoInstanceRun:
    """One instance in a backtest: its guest, account and figures for the report."""

    index: int  # the target's position in its module's targets (graph ids, mesh id, symbol id)
    spec: AlgoInstanceSpec
    guest: Guest
    deployment_id: str = ""
    account: Account = field(default_factory=Account)
    paused: str | None = None
    paused_ns: int | None = None
    stopped_ns: int | None = None  # on_shutdown ran (the end of the data)
    action_seq: int = 0
    books: int = 0
    nbbos: int = 0
    callbacks: int = 0
    rejects: int = 0
    refused: int = 0
    log_lines: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    messages_dropped: int = 0  # sent but refused or not delivered
    logs: list[tuple[int, str, str]] = field(default_factory=list)  # (virtual ns, level, message)

    @property
    def called(self) -> bool:
        """Still called: neither paused nor stopped."""
        return self.paused is None and self.stopped_ns is None

    def report(self) -> dict[str, Any]:
        a = self.account
        return {
            "instance_id": self.spec.instance_id, "label": self.spec.label, "deployment_id": self.deployment_id,
            "symbol": self.spec.symbol, "venue": self.spec.venue,
            "books": self.books, "nbbos": self.nbbos, "callbacks": self.callbacks, "orders_sent": a.orders_sent, "fills": a.fill_count,
            "rejects": self.rejects, "refused_actions": self.refused, "position_1e8": a.position_1e8,
            "realized_pnl_1e9": a.realized_pnl_1e9, "log_lines": self.log_lines,
            "mesh_messages_sent": self.messages_sent, "mesh_messages_received": self.messages_received,
            "mesh_messages_not_delivered": self.messages_dropped, "paused": self.paused, "paused_ns": self.paused_ns,
            "stopped_ns": self.stopped_ns,
        }


@dataclass
class _Module:
    spec: AlgoSpec
    deployment_id: str
    sha256: str
    unbound: list[tuple[int, AlgoTarget]]  # (position, target) not loaded yet
    by_index: dict[int, AlgoInstanceRun] = field(default_factory=dict)

    def label_of(self, target: AlgoTarget) -> str | None:
        if target.label:
            return target.label
        return f"{target.symbol}@{target.venue}" if target.venue else None


@dataclass(order=True)
class _InFlight:
    due_ns: int
    seq: int
    message: AlgoMeshMessage = field(compare=False)
    to: AlgoInstanceRun = field(compare=False)
    sender: AlgoInstanceRun = field(compare=False)


class BacktestAlgo:
    """Modules on (symbol, venue) targets of a backtest (see the module docstring). `BacktestAlgo(
    wasm, targets, ...)` is one module; a list of `AlgoSpec` several, each a deployment of its own."""

    def __init__(
        self,
        modules: bytes | bytearray | Sequence[AlgoSpec],
        targets: Sequence[AlgoTarget | tuple[str, str | None]] | None = None,
        *,
        clock: Callable[[], int],
        market: MarketBooks,
        tenant: str,
        name: str = "algo",
        mesh_latency_ns: int = MESH_LATENCY_NS,
    ) -> None:
        if isinstance(modules, (bytes, bytearray)):
            specs = [AlgoSpec(bytes(modules), name, [_target(t) for t in targets] if targets is not None else None)]
        else:
            specs = [AlgoSpec(s.wasm, s.name, [_target(t) for t in s.targets] if s.targets is not None else None)
                     for s in modules]
        self.modules: list[_Module] = []
        for i, spec in enumerate(specs):
            sha = hashlib.sha256(spec.wasm).hexdigest()
            # `bt<sha>` as before for the first; a second module (or a second copy of one) gets its position.
            deployment_id = f"bt{sha[:12]}" if i == 0 else f"bt{sha[:12]}{i}"
            self.modules.append(_Module(spec, deployment_id, sha, list(enumerate(spec.targets or []))))
        self.clock = clock
        self.market = market
        self.tenant = tenant
        self.mesh_latency_ns = max(1, mesh_latency_ns)  # > 0: a message never reaches its receiver in its own callback
        self.loader = HostLoader(clock_ns=clock, timer_ns=None)
        self.instances: list[AlgoInstanceRun] = []  # in the order they loaded
        self.by_book: dict[tuple[str, str], list[AlgoInstanceRun]] = {}
        self.by_deployment: dict[str, _Module] = {m.deployment_id: m for m in self.modules}
        self.nbbo_keys: dict[str, NbboKey | None] = {}  # symbol -> the NBBO its instances were last given
        self.pending: list[Produced] = []  # pauses of instances that did not load, for the next output
        self.in_flight: list[_InFlight] = []  # a heap by delivery time
        self._mesh_seq = 0
        self.delivered = 0
        self.ended = False

    # compatibility with the one-module form
    @property
    def deployment_id(self) -> str:
        return self.modules[0].deployment_id

    @property
    def sha256(self) -> str:
        return self.modules[0].sha256

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
                if inst.called:
                    inst.books += 1
                    entry = BookInput(bids, asks, recv_ns, inst.index + 1)
                    out += self._call(inst, lambda g, s: g.on_book(entry, s))
        return out + self._nbbo_changes([event.symbol], recv_ns)

    def _nbbo_changes(self, symbols: list[str], recv_ns: int) -> list[Produced]:
        """`on_nbbo` of the instances on `symbols` that want it, where the symbol's NBBO changed."""
        out: list[Produced] = []
        for symbol in symbols:
            wanting = [i for i in self.instances if i.spec.symbol == symbol and i.called and i.guest.wants_nbbo]
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
                if inst.called:
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
            module = self.by_deployment.get(parsed[0]) if parsed is not None else None
            inst = module.by_index.get(parsed[1]) if module is not None and parsed is not None else None
            if inst is None:
                continue
            outcome = apply_ledger_event(inst.account, event)
            if isinstance(outcome, list):
                out += outcome  # held commands (a cancel from on_shutdown included) still go out
            elif outcome is None or not inst.called:
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
            if inst.called:
                out += self._call(inst, lambda g, s: g.on_heartbeat(now_ns, s))
        return out

    # ------------------------------------------------------------------ mesh delivery

    def next_message_ns(self) -> int | None:
        """When the next mesh message in flight is due (None: none is)."""
        return self.in_flight[0].due_ns if self.in_flight else None

    def deliver(self, now_ns: int) -> list[Produced]:
        """`on_message` of the receivers of every message due at or before `now_ns`, in send order."""
        out: list[Produced] = []
        while self.in_flight and self.in_flight[0].due_ns <= now_ns:
            flight = heapq.heappop(self.in_flight)
            to, message = flight.to, flight.message
            if not to.called:
                flight.sender.messages_dropped += 1
                continue
            to.messages_received += 1
            self.delivered += 1
            out += self._call(to, lambda g, s: g.on_message(message.from_label, message.payload, s))
        return out

    def shutdown(self) -> list[Produced]:
        """The end of the data: each running instance's `on_shutdown` (in load order), then its stop."""
        self.ended = True
        out: list[Produced] = list(self.pending)
        self.pending = []
        for inst in self.instances:
            if not inst.called:
                continue
            out += self._call(inst, lambda g, s: g.on_shutdown(s))
            now_ns = self.clock()
            if inst.paused is not None:
                continue  # on_shutdown itself trapped: the pause says so
            inst.stopped_ns = now_ns
            out.append(AlgoInstancePaused(
                event_id=derive_id("algo-stopped", inst.deployment_id, inst.spec.instance_id, str(RUN)), ts_ns=now_ns,
                tenant=self.tenant, deployment_id=inst.deployment_id, instance_id=inst.spec.instance_id, run=RUN,
                reason=STOP_REASON, by_user=True,
            ))
        for flight in self.in_flight:  # on their way to stopped instances: never delivered
            flight.sender.messages_dropped += 1
        self.in_flight = []
        return out

    def report(self) -> dict[str, Any]:
        first = self.modules[0]
        return {"module": first.spec.name, "sha256": first.sha256, "deployment_id": first.deployment_id,
                "modules": [{"module": m.spec.name, "sha256": m.sha256, "deployment_id": m.deployment_id}
                            for m in self.modules],
                "instances": [inst.report() for inst in self.instances],
                "paused": sum(inst.paused is not None for inst in self.instances),
                "mesh_messages_delivered": self.delivered}

    # ------------------------------------------------------------------ instances

    def _bind(self, venue: str, symbol: str) -> None:
        """Load the instances waiting for this book (their venue known now)."""
        for module in self.modules:
            if module.spec.targets is None and not module.by_index and not module.unbound:
                module.unbound = [(0, AlgoTarget(symbol, venue))]  # no targets: the first book's
            wanted = [(i, t) for i, t in module.unbound if t.symbol == symbol and t.venue in (None, venue)]
            for position, target in wanted:
                module.unbound.remove((position, target))
                instance_id = f"{symbol}@{venue}"
                label = target.label or instance_id
                spec = AlgoInstanceSpec(instance_id=instance_id, label=label[:32], symbol=symbol, venue=venue)
                context = GuestContext(module.deployment_id, spec, position + 1, self._peers(module, position, spec),
                                       position + 1)
                try:
                    inst = AlgoInstanceRun(position, spec, self.loader.load(module.spec.wasm, context),
                                           module.deployment_id)
                except Exception as exc:  # a module that will not load pauses its instance, nothing else
                    inst = AlgoInstanceRun(position, spec, _Unloaded(), module.deployment_id)
                    self.pending.append(self._pause(inst, f"could not load the module: {exc}"))
                module.by_index[position] = inst
                self.instances.append(inst)
                self.by_book.setdefault((venue, symbol), []).append(inst)
        self.by_book.setdefault((venue, symbol), [])

    def _peers(self, module: _Module, position: int, spec: AlgoInstanceSpec) -> dict[str, int]:
        """The instance's mesh table, as `DeploymentsView.mesh_peers` builds it live."""
        peers: dict[str, int] = {}
        for i, target in enumerate(module.spec.targets or []):
            bound = module.by_index.get(i)
            label = bound.spec.label if bound is not None else module.label_of(target)
            if i != position and label and label != spec.label:
                peers[label] = i + 1
        extra = OTHER_MODULE_MESH_ID
        for other in self.modules:
            if other is module:
                continue
            for target in other.spec.targets or []:
                label = target.label
                named = label is not None and label != f"{target.symbol}@{target.venue}"  # not its instance id
                if label is not None and named and label not in peers and len(peers) < MESH_PEERS:
                    peers[label] = extra
                    extra += 1
        return dict(list(peers.items())[:MESH_PEERS])

    def _find_label(self, sender: AlgoInstanceRun, label: str) -> AlgoInstanceRun | None:
        """The receiver of a message to `label`: the sender's module first, then a named instance elsewhere."""
        own = self.by_deployment[sender.deployment_id]
        for inst in own.by_index.values():
            if inst.spec.label == label:
                return inst
        for module in self.modules:
            if module is own:
                continue
            for inst in module.by_index.values():
                if inst.spec.label == label and inst.spec.label != inst.spec.instance_id:
                    return inst
        return None

    def _send(self, inst: AlgoInstanceRun, to_label: str, payload: bytes, now_ns: int) -> list[Produced]:
        inst.messages_sent += 1
        why = None
        if len(payload) > MESSAGE_MAX_BYTES:
            why = f"{len(payload)} bytes > {MESSAGE_MAX_BYTES}"
        elif self.ended:
            why = "the backtest's data ended"
        to = self._find_label(inst, to_label) if why is None else None
        if to is None:
            inst.messages_dropped += 1
            self._keep_log(inst, now_ns, [("warn", f"mesh message to {to_label!r} not delivered: "
                                                   f"{why or 'no instance has that label'}")])
            return []
        inst.action_seq += 1
        message = AlgoMeshMessage(
            event_id=derive_id("algo-mesh", inst.deployment_id, inst.spec.instance_id, str(RUN), str(inst.action_seq)),
            ts_ns=now_ns, tenant=self.tenant, deployment_id=inst.deployment_id, from_instance=inst.spec.instance_id,
            from_label=inst.spec.label, to_label=to_label, payload=payload,
            to_deployment_id="" if to.deployment_id == inst.deployment_id else to.deployment_id,
        )
        self._mesh_seq += 1
        heapq.heappush(self.in_flight, _InFlight(now_ns + self.mesh_latency_ns, self._mesh_seq, message, to, inst))
        return [message]

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

    def _keep_log(self, inst: AlgoInstanceRun, now_ns: int, lines: Sequence[tuple[str, str]]) -> None:
        inst.log_lines += len(lines)
        if len(inst.logs) < LOGS_KEPT:
            inst.logs += [(now_ns, level, message) for level, message in lines[: LOGS_KEPT - len(inst.logs)]]

    def _handle(self, inst: AlgoInstanceRun, outcome: Outcome, state: StateInput) -> list[Produced]:
        now_ns = self.clock()
        self._keep_log(inst, now_ns, outcome.logs)
        out: list[Produced] = []
        for to_label, payload in outcome.messages:
            out += self._send(inst, to_label, payload, now_ns)
        commands, refused, inst.action_seq = commands_for_actions(
            outcome.actions, tenant=self.tenant, deployment_id=inst.deployment_id, index=inst.index, run=RUN,
            symbol=inst.spec.symbol, venue=inst.spec.venue, account=state.account,
            touch_of=lambda venue: touch(self.market, venue, inst.spec.symbol), now_ns=now_ns,
            seq=inst.action_seq,
        )
        out += commands
        if outcome.paused_reason is not None and inst.paused is None:
            out.append(self._pause(inst, outcome.paused_reason))
            return out
        inst.refused += len(refused)
        for r in refused:
            if inst.called:
                out += self._reject(inst, Ended(r.order_id, r.code, r.reason))
        return out

    def _reject(self, inst: AlgoInstanceRun, ended: Ended) -> list[Produced]:
        inst.rejects += 1
        return self._call(inst, lambda g, s: g.on_reject(ended.order_id, ended.code, s))

    def _pause(self, inst: AlgoInstanceRun, reason: str) -> AlgoInstancePaused:
        now_ns = self.clock()
        inst.paused, inst.paused_ns = reason, now_ns
        return AlgoInstancePaused(
            event_id=derive_id("algo-paused", inst.deployment_id, inst.spec.instance_id, str(RUN)), ts_ns=now_ns,
            tenant=self.tenant, deployment_id=inst.deployment_id, instance_id=inst.spec.instance_id, run=RUN,
            reason=reason,
        )
