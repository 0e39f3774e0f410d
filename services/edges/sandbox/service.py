"""Sandbox order transport: child orders fill against each venue's live book, as events.

Follows the MD stream (books and trades feed one `SandboxVenue` per venue) and the LEDGER
stream's child allocations. A child that already has an execution event on the log is never
submitted again, and outcome ids derive from the client order id, so a restart cannot fill
a child twice.

It also applies the front doors' sandbox book commands (paper funding, settings, set balance,
reset, redemption: services/edges/sandbox/accounts.py), as the one writer of `exec.*`. A
command read while replaying runs once caught up unless a fact naming it (its causation) was
read meanwhile, as the graph engine runs its commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from events import AnyEvent
from events.execution import ChildAcked, ChildCancelled, ChildRejected, FillRecorded
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted, NodeAmended, NodeCancelled
from events.ids import derive_id
from events.routing import ChildAllocated
from events.venues import ONCHAIN_VENUES
from projections.follower import SharedFollower, follow
from projections.market_follower import MarketFollower
from projections.retention import Retention, window_ns
from services.aio import cancel_and_wait
from services.bus import Bus
from services.bus.outbox import Outbox
from services.edges import cancels, registry
from services.edges.cancels import CancelledNodes
from services.edges.sandbox.accounts import SandboxAccounts
from services.edges.sandbox.config import SandboxConfig, build_venue
from services.edges.sandbox.fees import default_fee_venues
from services.edges.sandbox.engine import MarketEvent, SandboxVenue
from services.edges.sandbox.mapping import ChildRef, to_event
from services.edges.sandbox.mapping import funding_events as funding_events  # its old home
from services.edges.sandbox.orders import Outcome, SandboxOrder, amended_child_qty

log = logging.getLogger("crossbook.sandbox")


class SandboxExecutor:
    def __init__(self, bus: Bus, *, config: SandboxConfig | None = None, seed: int = 7,
                 clock_ns: Callable[[], int] = time.time_ns, ledger: SharedFollower | None = None,
                 md: SharedFollower | None = None, retention_s: float | None = None) -> None:
        """`retention_s`: how long an ended graph's children stay (default: the bus's dedup window)."""
        self.bus = bus
        self.config = config or SandboxConfig()
        self.seed = seed
        self.clock_ns = clock_ns
        self.venues: dict[str, SandboxVenue] = {}
        # md from anything else is not a venue it simulates: an edge without a fee schedule (the
        # DEX edge's connection status; its pools' books are the DEX executor's) is skipped.
        self.known_venues = set(registry.venue_ids()) & set(default_fee_venues())
        self.refs: dict[str, ChildRef] = {}  # client order id -> owner
        self.emitted: dict[str, int] = {}  # client order id -> outcomes published
        self.done: set[str] = set()  # client order ids that already have execution events
        self.deferred: list[ChildAllocated] = []  # seen while replaying: decided once caught up
        self.allocated: dict[str, ChildAllocated] = {}
        self.filled: dict[str, int] = {}
        self.final: set[str] = set()
        self.live: set[str] = set()  # submitted by this process
        # (graph_id, node_id) cancelled, node_id None for a whole graph: a child allocated after
        # its node's cancel (an iceberg clip racing it) is refused, never left resting.
        self.cancelled = CancelledNodes()
        self.icebergs: set[tuple[str, str]] = set()  # (graph_id, node_id): its resting child is one clip
        # Per graph, its client order ids (amend replacements too) and node ids: what to forget
        # once it ended a dedup window ago (on the log's clock).
        self.graph_orders: dict[str, list[str]] = {}
        self.graph_nodes: dict[str, tuple[str, ...]] = {}
        self.retention: Retention[str] = Retention(window_ns(bus, retention_s))
        self.evicted = 0
        self.outbox = Outbox(bus, "sandbox")
        self.accounts = SandboxAccounts()
        self._resume: asyncio.Task[None] | None = None
        # The process's one read of market data when it has one (the trader), else its own.
        self.md = md.view(["md.>"], self.on_md) if md is not None else MarketFollower(bus, self.on_md)
        # ord.> for NodeCancelled/GraphCancelled: a cancelled node's resting children are pulled.
        self.ledger = follow(bus, "LEDGER", ["cmd.>", "route.>", "exec.>", "ord.>"], self.on_ledger, ledger)

    async def start(self) -> None:
        await self.outbox.start()
        await self.md.start()
        await self.ledger.start()
        self._resume = asyncio.create_task(self._submit_deferred(), name="sandbox-resume")

    async def _submit_deferred(self) -> None:
        # After a restart, children allocated before it and never executed are submitted once
        # both the ledger (what was done) and the books (what to fill against) are caught up.
        await self.ledger.caught_up.wait()
        self.outbox.put(self.accounts.run_unrun(self.clock_ns()))  # the book's commands need no market data
        await self.md.caught_up.wait()
        deferred, self.deferred = self.deferred, []
        for event in deferred:
            if event.client_order_id not in self.done:
                self._submit(event)
        self._reconcile()

    def _reconcile(self) -> None:
        # Reconcile on restart: a child acked by the previous process and neither filled nor
        # closed lived only in that process's simulated venue, so it is cancelled, visibly.
        events = []
        for coid, alloc in self.allocated.items():
            filled = self.filled.get(coid, 0)
            if coid in self.done and coid not in self.final and filled < alloc.qty_1e8 and coid not in self.live:
                events.append(
                    ChildCancelled(
                        event_id=derive_id("sandbox_reconcile", coid),
                        ts_ns=self.clock_ns(),
                        tenant=alloc.tenant,
                        child_id=alloc.child_id,
                        venue=alloc.venue,
                        client_order_id=coid,
                        filled_qty_1e8=filled,
                        cancelled_qty_1e8=alloc.qty_1e8 - filled,
                        reason="sandbox restarted: simulated venue state was lost",
                        graph_id=alloc.graph_id,
                        node_id=alloc.node_id,
                    )
                )
        if events:
            log.warning("sandbox: reconciled %d children left open by a restart", len(events))
        self.outbox.put(events)

    async def stop(self) -> None:
        if self._resume is not None:
            await cancel_and_wait(self._resume)
        await self.ledger.stop()
        await self.md.stop()
        await self.outbox.stop()

    def venue(self, name: str) -> SandboxVenue:
        if name not in self.venues:
            self.venues[name] = build_venue(name, self.config, self.seed)
        return self.venues[name]

    def on_md(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, MarketEvent) and event.venue in self.known_venues:
            self._emit(self.venue(event.venue).on_event(event))

    def _evict(self, graph_id: str) -> None:
        # Ended a dedup window ago: no retry of its children can reach the venues any more, and a
        # late event naming one of them finds nothing to act on here.
        coids = self.graph_orders.get(graph_id, [])
        if any(o.client_order_id in coids for v in self.venues.values() for o in v.open_orders()):
            self.retention.ended(graph_id)  # something still rests: look again a window later
            return
        for coid in self.graph_orders.pop(graph_id, []):
            for table in (self.refs, self.emitted, self.allocated, self.filled):
                table.pop(coid, None)
            for marks in (self.done, self.final, self.live):
                marks.discard(coid)
            for venue in self.venues.values():
                venue.forget(coid)
        node_ids = self.graph_nodes.pop(graph_id, ())
        self.cancelled.forget(graph_id, node_ids)
        for node_id in node_ids:
            self.icebergs.discard((graph_id, node_id))
        self.evicted += 1

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.retention.read(event.ts_ns)
        if len(self.retention):
            for graph_id in self.retention.due():
                self._evict(graph_id)
        self.outbox.put(self.accounts.read(event, self.ledger.caught_up.is_set(), self.clock_ns()))
        if isinstance(event, GraphCompleted | GraphCancelled):
            self.retention.ended(event.graph_id)
        if isinstance(event, (NodeCancelled, GraphCancelled)):
            graph_id, node_id = self.cancelled.read(event)
            self._cancel_resting(graph_id, node_id)
            return
        if isinstance(event, NodeAmended):
            self._amend_resting(event)
            return
        if isinstance(event, GraphSubmitted):
            self.graph_nodes[event.graph_id] = tuple(n.node_id for n in event.nodes)
            self.icebergs.update((event.graph_id, n.node_id) for n in event.nodes if n.execution.policy == "iceberg")
            return
        if isinstance(event, (ChildAcked, ChildRejected, ChildCancelled, FillRecorded)):
            coid = event.client_order_id
            if coid not in self.refs:
                return  # not a sandbox child, or one forgotten a dedup window after its graph ended
            self.done.add(coid)
            if isinstance(event, FillRecorded):
                self.filled[coid] = self.filled.get(coid, 0) + event.qty_1e8
            elif isinstance(event, (ChildRejected, ChildCancelled)):
                self.final.add(coid)
            return
        if not isinstance(event, ChildAllocated) or not event.is_sandbox or event.venue in ONCHAIN_VENUES:
            return  # a swap is the DEX executor's, sandbox graph or not (services/edges/evm/service.py)
        coid = event.client_order_id
        if coid not in self.refs:
            self.graph_orders.setdefault(event.graph_id, []).append(coid)
        self.refs[coid] = ChildRef(event.child_id, event.graph_id, event.node_id, event.venue, event.tenant)
        self.allocated[coid] = event
        if coid in self.done:
            return  # executed before a restart
        if not (self.ledger.caught_up.is_set() and self.md.caught_up.is_set()):
            self.deferred.append(event)
            return
        self._submit(event)

    def _cancel_resting(self, graph_id: str, node_id: str | None) -> None:
        # Only orders resting in this process's simulated venues can be pulled; while replaying
        # after a restart none are, and `_reconcile` closes the ones the old process left.
        for venue in list(self.venues.values()):
            for order in venue.open_orders():
                ref = self.refs.get(order.client_order_id)
                if ref is not None and ref.graph_id == graph_id and node_id in (None, ref.node_id):
                    self._emit(venue.cancel(order.client_order_id, self.clock_ns()))

    def _amend_resting(self, event: NodeAmended) -> None:
        # The node's new total applies to its resting child: what the node filled elsewhere stays
        # filled, the rest is the child's new size (the venue decides native vs cancel-replace).
        node_filled = sum(
            self.filled.get(coid, 0) for coid, ref in self.refs.items()
            if ref.graph_id == event.graph_id and ref.node_id == event.node_id
        )
        for venue in list(self.venues.values()):
            for order in venue.open_orders():
                ref = self.refs.get(order.client_order_id)
                if ref is None or ref.graph_id != event.graph_id or ref.node_id != event.node_id:
                    continue
                new_qty = amended_child_qty(order, event.new_qty_1e8, node_filled,
                                            one_clip=(ref.graph_id, ref.node_id) in self.icebergs)
                if new_qty == order.qty_1e8 and event.new_limit_px_1e9 is None:
                    return  # nothing changes at the venue
                replacement = derive_id("sandbox_amend", order.client_order_id, event.event_id).replace("-", "")
                outcomes = venue.amend(
                    order.client_order_id, new_qty, event.new_limit_px_1e9, self.clock_ns(),
                    new_client_order_id=replacement,
                )
                self.refs[replacement] = ref  # a cancel-replace child keeps its owner
                self.graph_orders.setdefault(ref.graph_id, []).append(replacement)
                self._emit(outcomes)
                return  # one resting child per node (the router rests one)

    def _submit(self, event: ChildAllocated) -> None:
        coid = event.client_order_id
        self.live.add(coid)
        if self.cancelled.covers(event.graph_id, event.node_id):  # the rule shared with the live executor
            self._emit([cancels.refusal(coid, event.node_id, self.clock_ns())])
            return
        order = SandboxOrder(
            client_order_id=coid,
            symbol=event.symbol,
            side=event.side,
            qty_1e8=event.qty_1e8,
            order_type=event.order_type,
            limit_px_1e9=event.limit_px_1e9,
            tif=event.tif,
            post_only=event.post_only,
        )
        self._emit(self.venue(event.venue).submit(order, self.clock_ns()))

    def _emit(self, outcomes: list[Outcome]) -> None:
        events = []
        for outcome in outcomes:
            coid = outcome.client_order_id
            ref = self.refs.get(coid)
            if ref is None:
                continue
            n = self.emitted.get(coid, 0)
            self.emitted[coid] = n + 1
            events.append(
                to_event(
                    outcome,
                    ref,
                    event_id=derive_id("sandbox", coid, str(n)),
                    ts_ns=self.clock_ns(),
                    correlation_id=ref.graph_id,
                )
            )
        self.outbox.put(events)



class SandboxBook:
    """Only the sandbox book's commands (no order execution): the executor's part that a test
    stack without venues runs (tests/stack.py `kernel`). Never beside a `SandboxExecutor`."""

    def __init__(self, bus: Bus, *, ledger: SharedFollower | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.clock_ns = clock_ns
        self.accounts = SandboxAccounts()
        self.outbox = Outbox(bus, "sandbox-book")
        self.ledger = follow(bus, "LEDGER", ["cmd.>", "exec.>"], self.on_ledger, ledger)
        self._resume: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.outbox.start()
        await self.ledger.start()
        self._resume = asyncio.create_task(self._caught_up(), name="sandbox-book-resume")

    async def _caught_up(self) -> None:
        await self.ledger.caught_up.wait()
        self.outbox.put(self.accounts.run_unrun(self.clock_ns()))

    async def stop(self) -> None:
        if self._resume is not None:
            await cancel_and_wait(self._resume)
        await self.ledger.stop()
        await self.outbox.stop()

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.outbox.put(self.accounts.read(event, self.ledger.caught_up.is_set(), self.clock_ns()))
