"""The runner's view of the wasmtime host: `HostLoader.load` turns a module into a runner `Guest`.

The host (services/algos/host.py, `AlgoInstance`) packs the ABI structs and calls the guest; this
module keeps each instance's OnlineFeatures (services/algos/features.py, fed its venue's books
and prints) and converts between the runner's values (books, the instance's `Account`, actions as
`services.algos.orders.Action`) and the host's (`abi.Book`, `abi.AlgoState`, `abi.Action`).
Modules are compiled once per hash (several instances of one deployment share it).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from services.algos import abi
from services.algos.features import FeatureTracker
from services.algos.host import AlgoInstance, CallbackResult, HostPorts, MeshConfig
from services.algos.module import AlgoModule, load_module, new_engine
from services.algos.orders import Account, Action
from services.algos.runner import BookInput, FillInput, Guest, GuestContext, NbboInput, Outcome, StateInput
from services.refdata import instrument_rules

_KINDS = {abi.ActionKind.NEW: "new", abi.ActionKind.CANCEL: "cancel", abi.ActionKind.AMEND: "amend"}


def symbol_meta(venue: str, symbol: str) -> abi.SymbolMeta:
    """The instance's SymbolMeta from reference data (zeros = unknown, as the ABI says)."""
    for rule in instrument_rules():
        if rule.venue == venue and rule.symbol == symbol:
            return abi.SymbolMeta(tick_size_1e9=rule.tick_1e9, lot_size_1e8=rule.lot_1e8, min_qty_1e8=rule.min_qty_1e8,
                                  min_notional_1e9=rule.min_notional_usd_1e9)
    return abi.SymbolMeta()


def algo_state(account: Account, mid_1e9: int | None, meta: abi.SymbolMeta) -> abi.AlgoState:
    orders = tuple(
        abi.OpenOrder(order_id=o.order_id, px_1e9=o.px_1e9, qty_1e8=o.qty_1e8 * o.side, filled_1e8=o.filled_1e8,
                      side=o.side, status=abi.OrderStatus(o.status))
        for o in account.open_orders()[: abi.MAX_ORDERS]
    )
    return abi.AlgoState(
        position_1e8=account.position_1e8, avg_entry_1e9=account.avg_entry_1e9,
        realized_pnl_1e9=account.realized_pnl_1e9, unrealized_pnl_1e9=account.unrealized_pnl_1e9(mid_1e9),
        orders=orders, session_pnl_1e9=account.session_pnl_1e9, total_fill_count=account.fill_count, symbol=meta,
    )


def outcome(result: CallbackResult) -> Outcome:
    actions = [
        Action(kind=_KINDS[a.kind], order_id=a.order_id, side=a.side, qty_1e8=a.qty_1e8,  # type: ignore[arg-type]
               px_1e9=a.px_1e9, order_type=int(a.order_type),
               venue=abi.VENUE_NAMES.get(a.venue_id) if a.venue_id else None)
        for a in result.actions
    ]
    logs = [(line.level, line.message) for line in result.logs]
    logs += [("warn", sentence) for sentence in result.refused]
    if result.logs_dropped:
        logs.append(("warn", f"{result.logs_dropped} log lines of {result.callback} dropped (at most 32 per callback)"))
    return Outcome(
        actions=actions, logs=logs,  # type: ignore[arg-type]
        messages=[(m.to_label, m.payload) for m in result.messages],
        paused_reason=result.paused.reason if result.paused is not None else None,
    )


class HostedGuest:
    """One `AlgoInstance`, called with the runner's values."""

    def __init__(self, instance: AlgoInstance, meta: abi.SymbolMeta) -> None:
        self.instance = instance
        self.meta = meta
        self.features = FeatureTracker()  # this instance's venue book and prints

    def _state(self, state: StateInput) -> abi.AlgoState:
        return algo_state(state.account, state.mid_1e9, self.meta)

    def on_book(self, book: BookInput, state: StateInput) -> Outcome:
        entry = abi.Book(bids=tuple(book.bids), asks=tuple(book.asks), recv_ns=book.recv_ns, symbol_id=book.symbol_id)
        features = self.features.on_book(entry)
        return outcome(self.instance.on_book(entry, self._state(state), features))

    @property
    def wants_nbbo(self) -> bool:
        return "algo_on_nbbo" in self.instance.module.exports

    def on_nbbo(self, nbbo: NbboInput, state: StateInput) -> Outcome:
        snapshot = abi.NbboSnapshot(
            venues=tuple(abi.VenueQuote(venue=q.venue, bid_px_1e9=q.bid_px_1e9, bid_sz_1e8=q.bid_qty_1e8,
                                        ask_px_1e9=q.ask_px_1e9, ask_sz_1e8=q.ask_qty_1e8, recv_ns=q.ts_recv_ns)
                         for q in nbbo.venues),
            recv_ns=nbbo.recv_ns, symbol_id=nbbo.symbol_id,
            books=tuple((venue, abi.Book(bids=tuple(b.bids), asks=tuple(b.asks), recv_ns=b.recv_ns,
                                         symbol_id=b.symbol_id)) for venue, b in nbbo.books),
            pools=tuple((abi.PoolMeta(venue=venue, protocol_id=protocol_id(venue), gas_cost_1e5=gas // 10**4),
                         abi.Book(bids=tuple(b.bids), asks=tuple(b.asks), recv_ns=b.recv_ns, symbol_id=b.symbol_id))
                        for venue, gas, b in nbbo.pools),
        )
        return outcome(self.instance.on_nbbo(snapshot, self._state(state), self.features.features))

    def on_fill(self, fill: FillInput, state: StateInput) -> Outcome:
        entry = abi.Fill(order_id=fill.order_id, px_1e9=fill.px_1e9, qty_1e8=fill.qty_1e8, recv_ns=fill.recv_ns,
                         side=fill.side)
        return outcome(self.instance.on_fill(entry, self._state(state)))

    def on_reject(self, order_id: int, code: int, state: StateInput) -> Outcome:
        return outcome(self.instance.on_reject(abi.Reject(order_id=order_id, code=code)))

    def on_heartbeat(self, now_ns: int, state: StateInput) -> Outcome:
        return outcome(self.instance.on_heartbeat(self._state(state), now_ns, self.features.features))

    def on_message(self, from_label: str, payload: bytes, state: StateInput) -> Outcome:
        return outcome(self.instance.on_message(from_label, payload, self._state(state)))

    def on_shutdown(self, state: StateInput) -> Outcome:
        return outcome(self.instance.on_shutdown(self._state(state)))

    def on_trade(self, recv_ns: int, qty_1e8: int, aggressor_side: int) -> None:
        self.features.on_trade(recv_ns, qty_1e8, aggressor_side)


class HostLoader:
    """Loads modules for one runner: one engine, each module compiled once (by hash)."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns,
                 timer_ns: Callable[[], int] | None = time.perf_counter_ns) -> None:
        # A backtest passes its virtual clock and no timer: nothing then reads the wall clock.
        self.engine = new_engine()
        self.clock_ns = clock_ns
        self.timer_ns = timer_ns
        self.modules: dict[str, AlgoModule] = {}

    def load(self, wasm: bytes, context: GuestContext) -> Guest:
        sha = hashlib.sha256(wasm).hexdigest()
        module = self.modules.get(sha)
        if module is None:
            module = self.modules[sha] = load_module(self.engine, wasm)
        mesh = MeshConfig(label=context.spec.label, mesh_id=context.mesh_id, peers=context.peers)
        ports = HostPorts(clock_ns=self.clock_ns, timer_ns=self.timer_ns) if self.timer_ns else HostPorts(
            clock_ns=self.clock_ns)
        instance = AlgoInstance(module, ports=ports, mesh=mesh)
        return HostedGuest(instance, symbol_meta(context.spec.venue, context.spec.symbol))


def protocol_id(venue: str) -> int:
    """A pool venue's PoolMeta protocol id from its name (`uniswap_v3_ethereum` -> 2; 0 unknown)."""
    return next((pid for name, pid in abi.PROTOCOL_IDS.items() if venue.startswith(name + "_")), 0)
