"""Deterministic backtests: recorded market data and orders through the synchronous kernel.

    from replay.backtest import run_backtest

    run = run_backtest(market_events, orders, seed=7)
    for event in run:          # streams: each event the run appends, in log order
        ...
    run.summary                # BacktestSummary, complete once the iteration has ended

- `market_events`: `Iterable[AnyEvent]` (BookSnapshot, BookDeltaBatch, TradePrinted,
  VenueStatusChanged; anything else, e.g. a recorded NbboChanged, is skipped and counted), in
  time order (`ts_ns`, the receive time); read lazily, never held.
- `orders`: `Iterable[tuple[int, dict]]`: (offset_ns after the first market event's `ts_ns`,
  the body of POST /v1/orders, simple or graph form). Parsed by the API's own parser
  (`services.graph.parse_order_body`, sandbox forced) into the same `SubmitGraph` command the
  API appends (`services.graph.commands.submit_command`). A body without `graph_id` gets
  `g_<uuid>` derived from its position in `orders`. Sorted by offset (stable) before the run;
  an order is submitted after the market events stamped at or before its time.
- `seed`: the only randomness (each simulated venue's latency draws).
- `limits`, `sandbox` (latency, jitter, fees, max book age), `tenant`, `funding` (paper
  balances granted at the start), `drain_ns` (how long after the last input the run goes on
  releasing replies and timers still on their way).
- `algo`: makes the run's WASM algos (`replay/algo.py`, `BacktestAlgo`) from the run's virtual
  clock, the kernel's books and the tenant: they hear each book of their symbols, a heartbeat
  each second of virtual time, their fills and rejects from the kernel's output and each other's
  mesh messages (delivered at their send time + `MESH_LATENCY_NS`, before a market event of a
  later time); their commands go through the kernel at once, and what they cause comes back to
  them. When the data (and the orders due) ends, they stop as a user's stop stops them live:
  `on_shutdown`, whose actions still go out, then nothing more is called while the drain runs.

Yields the paper funding, each order's command and everything the kernel did (graph events,
risk verdicts and reservations, plans and children, venue acks, fills and cancels, TCA reports,
venue scores), not the market data itself. Same inputs and seed: the same events, byte for
byte (`events.encode`). A body that fails validation raises `ValidationError` (a note names
the order's index).
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from events import AnyEvent
from events.algos import AlgoInstancePaused, AlgoMeshMessage
from events.commands import FundSandbox, SubmitGraph
from events.execution import FillRecorded
from events.graph import GraphCancelled, GraphCompleted
from events.ids import derive_id
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted, VenueStatusChanged
from events.sandbox import BalanceDelta
from events.tca import TcaReported
from services.edges.sandbox.balances import FundingPlan
from services.edges.sandbox.config import SandboxConfig
from services.edges.sandbox.accounts import command_id
from services.edges.sandbox.balances import paper_funding
from services.graph import parse_order_body
from services.graph.commands import submit_command
from services.graph.errors import ValidationError
from services.kernel.kernel import Kernel
from services.kernel.ports import VirtualClock
from services.refdata import instrument_rules
from services.risk import RiskLimits

if TYPE_CHECKING:
    from projections.market import MarketBooks
    from replay.algo import BacktestAlgo

# Makes the run's algo from its virtual clock, the kernel's books and the tenant (replay/algo.py).
AlgoFactory = Callable[[Callable[[], int], "MarketBooks", str], "BacktestAlgo"]

DEFAULT_TENANT = "backtest"
HEARTBEAT_NS = 10**9  # an algo's on_heartbeat: once a second of virtual time
DEFAULT_DRAIN_NS = 60_000_000_000  # a minute of replies and timers after the last input
_QTY = 10**8  # px_1e9 * qty_1e8 // _QTY = USD_1e9


class VenueTotals(msgspec.Struct, kw_only=True):
    fills: int = 0
    qty_1e8: int = 0
    notional_usd_1e9: int = 0
    fees_usd_1e9: int = 0


class BacktestSummary(msgspec.Struct, kw_only=True):
    """What a run did. Money in USD_1e9, quantities in qty_1e8, rates in ppm; PnL marks what
    is held at the end to the last NBBO mid of its symbol (0 when none)."""

    seed: int
    market_events: int = 0
    skipped_events: int = 0  # in market_events but not books, trades or venue status
    events_out: int = 0
    first_ts_ns: int = 0
    last_ts_ns: int = 0
    orders: int = 0
    graphs: dict[str, int] = {}  # final status -> count (an unfinished graph is not counted)
    fills: int = 0
    bought_qty_1e8: int = 0
    sold_qty_1e8: int = 0
    notional_usd_1e9: int = 0
    fees_usd_1e9: int = 0
    cash_usd_1e9: int = 0  # - bought notional + sold notional - fees
    position_qty_1e8: dict[str, int] = {}  # symbol -> net quantity held at the end
    pnl_usd_1e9: int = 0  # cash + positions at the last mid
    shortfall_ppm: int | None = None  # the TCA reports' implementation shortfall, arrival-notional weighted
    venues: dict[str, VenueTotals] = {}


class Backtest:
    """One run; iterate it to run it (once)."""

    def __init__(
        self,
        market_events: Iterable[AnyEvent],
        orders: Iterable[tuple[int, dict[str, Any]]],
        *,
        seed: int,
        limits: RiskLimits | None = None,
        sandbox: SandboxConfig | None = None,
        tenant: str = DEFAULT_TENANT,
        funding: FundingPlan | None = None,
        drain_ns: int = DEFAULT_DRAIN_NS,
        algo: AlgoFactory | None = None,
    ) -> None:
        self.clock = VirtualClock()
        self.kernel = Kernel(clock=self.clock, rng=random.Random(seed), limits=limits, sandbox=sandbox)
        self.summary = BacktestSummary(seed=seed)
        self.tenant = tenant
        self.funding = funding
        self.drain_ns = drain_ns
        self._market = market_events
        self._orders = sorted(enumerate(orders), key=lambda item: item[1][0])  # stable by offset
        self._started = False
        self._shortfall_num = 0
        self._shortfall_den = 0
        # The algo reads the kernel's own clock and books, so it is made here.
        self.algo = algo(self.clock.now_ns, self.kernel.market, tenant) if algo is not None else None
        self._next_heartbeat_ns = 0

    def __iter__(self) -> Iterator[AnyEvent]:
        if self._started:
            raise RuntimeError("a backtest runs once; call run_backtest again for another run")
        self._started = True
        kernel, summary = self.kernel, self.summary
        market = (BookSnapshot, BookDeltaBatch, TradePrinted, VenueStatusChanged)
        pending: list[tuple[int, int, dict[str, Any]]] = []  # (due_ns, index, body)
        last_ns = count = skipped = 0
        handle = kernel.handle
        for event in self._market:
            if not isinstance(event, market):
                skipped += 1  # e.g. a recorded NbboChanged or funding rate: the kernel folds its own
                continue
            ts = event.ts_ns
            if not count:
                summary.first_ts_ns = ts
                pending = [(ts + offset, index, body) for index, (offset, body) in self._orders]
                heapq.heapify(pending)
                yield from self._record(self._start(ts))
                self._next_heartbeat_ns = ts + HEARTBEAT_NS
            while True:  # orders, mesh messages and heartbeats due before this event, in time order
                due_order = pending[0][0] if pending and pending[0][0] < ts else None
                due_mesh = due_beat = None
                if self.algo is not None:
                    due_mesh = self.algo.next_message_ns()
                    due_mesh = due_mesh if due_mesh is not None and due_mesh < ts else None
                    due_beat = self._next_heartbeat_ns if self._next_heartbeat_ns < ts else None
                first = min((t for t in (due_order, due_mesh, due_beat) if t is not None), default=None)
                if first is None:
                    break
                if first == due_order:  # at one time: orders, then messages, then the heartbeat
                    yield from self._record(self._algo_reacts(self._submit(*heapq.heappop(pending))))
                elif first == due_mesh:
                    yield from self._record(self._deliver(first))
                else:
                    yield from self._record(self._heartbeat())
            count += 1
            if ts > last_ns:
                last_ns = ts
            out = handle(event)  # with the replies and timers due before it
            if self.algo is not None:
                out = self._algo_reacts(out, event)
            if out:
                yield from self._record(out)
        summary.market_events, summary.skipped_events = count, skipped
        if not summary.market_events:
            return  # no market: nothing to trade against, nothing happens
        while pending:
            yield from self._record(self._algo_reacts(self._submit(*heapq.heappop(pending))))
        last_ns = max(last_ns, self.clock.now_ns())
        if self.algo is not None:  # the data ended: messages sent by then land, then the algos stop as live
            while (due := self.algo.next_message_ns()) is not None and due <= last_ns + self.algo.mesh_latency_ns:
                yield from self._record(self._deliver(due))
            yield from self._record(self._algo_reacts([], shutdown=True))
        yield from self._record(self._algo_reacts(kernel.advance_to(last_ns + self.drain_ns)))
        summary.last_ts_ns = self.clock.now_ns()
        self._close()

    def run(self) -> BacktestSummary:
        """Run without keeping the events; return the summary."""
        for _ in self:
            pass
        return self.summary

    # ---------------------------------------------------------------------------------------
    def _start(self, ts_ns: int) -> list[AnyEvent]:
        venues = sorted({r.venue for r in instrument_rules()})
        # The front door's funding command: the kernel grants the paper balances as the live
        # sandbox executor does (services/edges/sandbox/accounts.py).
        grants = [BalanceDelta(venue=g.venue, asset=g.asset, delta_qty_1e8=g.qty_1e8)
                  for g in paper_funding(venues, self.funding)]
        command = FundSandbox(event_id=command_id("fund", self.tenant), ts_ns=ts_ns, tenant=self.tenant, grants=grants)
        return [command, *self.kernel.handle(command)]

    def _submit(self, due_ns: int, index: int, body: dict[str, Any]) -> list[AnyEvent]:
        kernel = self.kernel
        out = kernel.advance_to(due_ns)
        self.clock.advance_to(due_ns)
        now = self.clock.now_ns()

        def graph_id() -> str:
            return str(uuid.UUID(derive_id("backtest_order", str(index))))

        try:
            parsed = parse_order_body(body, graph_id, force_sandbox=True)
        except ValidationError as exc:
            exc.add_note(f"in order {index} (offset {due_ns - self.summary.first_ts_ns} ns)")
            raise
        command, _ = submit_command(parsed, self.tenant, now)
        self.summary.orders += 1
        return [*out, command, *kernel.handle(command)]

    def _heartbeat(self) -> list[AnyEvent]:
        assert self.algo is not None
        due = self._next_heartbeat_ns
        self._next_heartbeat_ns += HEARTBEAT_NS
        out = self.kernel.advance_to(due)
        self.clock.advance_to(due)
        return self._algo_reacts(out, heartbeat_ns=due)

    def _deliver(self, due_ns: int) -> list[AnyEvent]:
        """The mesh messages due at `due_ns`, after the kernel's replies and timers due by then."""
        assert self.algo is not None
        out = self.kernel.advance_to(due_ns)
        self.clock.advance_to(due_ns)
        return self._algo_reacts(out, deliver_ns=due_ns)

    def _algo_reacts(self, out: list[AnyEvent], market: AnyEvent | None = None,
                     heartbeat_ns: int | None = None, deliver_ns: int | None = None,
                     shutdown: bool = False) -> list[AnyEvent]:
        """`out` with what the algo does about it (and about `market`, a heartbeat or the mesh
        messages due at `deliver_ns`, or the end: `shutdown`), its commands run through the kernel until nothing more comes back."""
        algo = self.algo
        if algo is None:
            return out
        result = list(out)
        queue: deque[AnyEvent] = deque(algo.on_output(out))
        if market is not None:
            queue += algo.on_market(market)
        if heartbeat_ns is not None:
            queue += algo.heartbeat(heartbeat_ns)
        if deliver_ns is not None:
            queue += algo.deliver(deliver_ns)
        if shutdown:
            queue += algo.shutdown()
        handle = self.kernel.handle
        while queue:
            item = queue.popleft()
            result.append(item)
            if isinstance(item, (AlgoInstancePaused, AlgoMeshMessage)):
                continue  # reports of the algo host: nothing for the kernel
            if isinstance(item, SubmitGraph):
                self.summary.orders += 1
            produced = handle(item)
            result += produced
            queue += algo.on_output(produced)
        return result

    def _record(self, events: list[AnyEvent]) -> list[AnyEvent]:
        summary = self.summary
        summary.events_out += len(events)
        for event in events:
            if isinstance(event, FillRecorded):
                self._fill(event)
            elif isinstance(event, GraphCompleted):
                summary.graphs[event.status] = summary.graphs.get(event.status, 0) + 1
            elif isinstance(event, GraphCancelled):
                summary.graphs["CANCELLED"] = summary.graphs.get("CANCELLED", 0) + 1
            elif isinstance(event, TcaReported) and event.implementation_shortfall_ppm is not None:
                weight = event.filled_qty_1e8 * event.arrival_mid_px_1e9 // _QTY
                self._shortfall_num += event.implementation_shortfall_ppm * weight
                self._shortfall_den += weight
        return events

    def _fill(self, fill: FillRecorded) -> None:
        summary = self.summary
        notional = fill.px_1e9 * fill.qty_1e8 // _QTY
        summary.fills += 1
        summary.notional_usd_1e9 += notional
        summary.fees_usd_1e9 += fill.fee_usd_1e9
        held = summary.position_qty_1e8.get(fill.symbol, 0)
        if fill.side == "buy":
            summary.bought_qty_1e8 += fill.qty_1e8
            summary.cash_usd_1e9 -= notional
            summary.position_qty_1e8[fill.symbol] = held + fill.qty_1e8
        else:
            summary.sold_qty_1e8 += fill.qty_1e8
            summary.cash_usd_1e9 += notional
            summary.position_qty_1e8[fill.symbol] = held - fill.qty_1e8
        summary.cash_usd_1e9 -= fill.fee_usd_1e9
        venue = summary.venues.setdefault(fill.venue, VenueTotals())
        venue.fills += 1
        venue.qty_1e8 += fill.qty_1e8
        venue.notional_usd_1e9 += notional
        venue.fees_usd_1e9 += fill.fee_usd_1e9

    def _close(self) -> None:
        summary = self.summary
        marked = 0
        for symbol, qty in summary.position_qty_1e8.items():
            mid = self.kernel.policy.mark(symbol) or 0
            marked += mid * qty // _QTY
        summary.pnl_usd_1e9 = summary.cash_usd_1e9 + marked
        if self._shortfall_den:
            summary.shortfall_ppm = self._shortfall_num // self._shortfall_den


def run_backtest(
    market_events: Iterable[AnyEvent],
    orders: Iterable[tuple[int, dict[str, Any]]],
    *,
    seed: int,
    limits: RiskLimits | None = None,
    sandbox: SandboxConfig | None = None,
    tenant: str = DEFAULT_TENANT,
    funding: FundingPlan | None = None,
    drain_ns: int = DEFAULT_DRAIN_NS,
    algo: AlgoFactory | None = None,
) -> Backtest:
    """Return the run of `orders` against `market_events` (see the module's docstring);
    iterate it for the events, then read `.summary` (or call `.run()`)."""
    return Backtest(market_events, orders, seed=seed, limits=limits, sandbox=sandbox, tenant=tenant, funding=funding,
                    drain_ns=drain_ns, algo=algo)
