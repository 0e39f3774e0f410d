"""The router process: for each activated node, check risk, plan the split, reserve, allocate.

Inputs are folds of the log: the MD stream (books, NBBO) and the LEDGER stream (graphs, the
account: balances, reservations, kill switch). A node is routed once: nodes that already have
a plan or a risk verdict on the log are skipped, so a restart never routes twice; ids of the
events a node produces are derived from its activation event.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import msgspec

from events import AnyEvent
from events.graph import GraphSubmitted, NodeActivated, NodeCancelled, NodeCompleted, NodeSpec
from events.risk import RiskCheckRejected
from events.routing import Allocation, ChildAllocated, PlanMade
from events.ids import derive_id
from events.subjects import account_subject
from projections.follower import StreamFollower
from projections.market import MarketBooks
from services.aio import cancel_and_wait
from services.bus import Bus
from services.edges.instruments import instrument_rules
from services.errors import ConcurrencyConflict
from services.graph.service import derived_ids
from services.risk import (
    AccountState,
    OrderIntent,
    RiskLimits,
    RiskRejected,
    decide_and_reserve,
    fold_into,
    new_account,
    rules_book,
)
from services.graph.schedule import slices_for
from services.sor import RoutePlan, SorParams, VenueBook, marketable_limit_px, plan_made_event, plan_order
from services.sor.books import venue_books

log = logging.getLogger("crossbook.sor")

SLICED = ("twap", "vwap")  # released over time; iceberg/passive are not driven yet
DEFAULT_COLLAR_BPS = 50  # room for the book to move between plan and fill (max_slippage_bps overrides)


def _collar_ppm(node: NodeSpec) -> int:
    bps = node.execution.max_slippage_bps
    return (DEFAULT_COLLAR_BPS if bps is None else bps) * 100


class RouterService:
    def __init__(
        self,
        bus: Bus,
        *,
        limits: RiskLimits | None = None,
        params: SorParams | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.bus = bus
        self.limits = limits or RiskLimits()
        self.params = params or SorParams(latency_penalty_ppm_per_ms=5)
        self.clock_ns = clock_ns
        self.rules_list = instrument_rules()
        self.rules = rules_book(self.rules_list)
        self.market = MarketBooks()
        self.accounts: dict[str, AccountState] = {}
        self.graphs: dict[str, GraphSubmitted] = {}
        self.routed: set[tuple[str, str]] = set()
        self.plans_seen: dict[tuple[str, str], int] = {}  # plans per node: sliced nodes resume after them
        self.finished: set[tuple[str, str]] = set()
        self.slicing: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.pending: asyncio.Queue[NodeActivated] = asyncio.Queue()
        self.md = StreamFollower(bus, "MD", ["md.>"], self.market.apply)
        self.ledger = StreamFollower(bus, "LEDGER", ["ord.>", "risk.>", "route.>", "exec.>"], self.on_ledger)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.md.start()
        await self.ledger.start()
        self._task = asyncio.create_task(self._work(), name="router")

    async def stop(self) -> None:
        for task in list(self.slicing.values()):
            await cancel_and_wait(task)
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self.ledger.stop()
        await self.md.stop()

    def _is_sliced(self, key: tuple[str, str]) -> bool:
        graph = self.graphs.get(key[0])
        node = next((n for n in graph.nodes if n.node_id == key[1]), None) if graph else None
        return node is not None and node.execution.policy in SLICED

    def account(self, tenant: str) -> AccountState:
        if tenant not in self.accounts:
            self.accounts[tenant] = new_account(tenant)
        return self.accounts[tenant]

    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        match event:
            case GraphSubmitted():
                self.graphs[event.graph_id] = event
            case NodeActivated():
                self.pending.put_nowait(event)
            case PlanMade():
                key = (event.graph_id, event.node_id)
                self.plans_seen[key] = self.plans_seen.get(key, 0) + 1
                self.routed.add(key)
            case RiskCheckRejected():
                # A pass without a plan (crash between the two) is routed again: the risk
                # decision then reports already_passed and the plan is made.
                self.routed.add((event.graph_id, event.node_id))
            case NodeCompleted() | NodeCancelled():
                self.finished.add((event.graph_id, event.node_id))
        if event.tenant:
            try:
                fold_into(self.account(event.tenant), event, self.rules)
            except Exception as exc:  # a fold bug must not stop routing for every tenant
                log.error("account fold of %s failed: %s", type(event).__name__, exc)

    async def _work(self) -> None:
        await self.ledger.caught_up.wait()  # decide only on a complete view of the log
        await self.md.caught_up.wait()
        while True:
            activation = await self.pending.get()
            await self.ledger.wait_caught_up()  # the account must include everything before it
            key = (activation.graph_id, activation.node_id)
            if key in self.finished or key in self.slicing:
                continue
            if key in self.routed and not self._is_sliced(key):
                continue
            try:
                await self.route(activation)
            except Exception as exc:  # the outermost loop: log and go on with the next node
                log.exception("routing %s failed: %s", key, exc)

    async def route(self, activation: NodeActivated) -> None:
        graph = self.graphs.get(activation.graph_id)
        if graph is None:
            log.error("activation for unknown graph %s", activation.graph_id)
            return
        node = next(n for n in graph.nodes if n.node_id == activation.node_id)
        books, plan, mark = self._plan(node, node.qty_1e8)
        resting = self._resting_part(node, books, plan)
        if not await self._risk(activation, node, plan, mark, resting):
            return
        if node.execution.policy in SLICED:
            # TWAP/VWAP: risk reserved the whole node above; slices are released on schedule.
            key = (activation.graph_id, activation.node_id)
            self.slicing[key] = asyncio.create_task(self._release_slices(activation, graph, node))
            return
        assert plan is not None
        if resting is not None:
            # What rests is routed (to the book), not unroutable.
            plan = msgspec.structs.replace(plan, unroutable_qty_1e8=plan.unroutable_qty_1e8 - resting[1])
        await self._publish_plan(activation, graph, node, books, plan, index=None, resting=resting)

    def _resting_part(
        self, node: NodeSpec, books: list[VenueBook], plan: RoutePlan | None
    ) -> tuple[str, int] | None:
        """A limit order's quantity that cannot fill now rests, GTC at its limit, on one venue:
        the pinned one, else the venue showing the best price on that side."""
        if node.limit_px_1e9 is None or plan is None or plan.unroutable_qty_1e8 <= 0 or not books:
            return None
        best = min(books, key=lambda b: b.levels[0][0]) if node.side == "buy" else max(books, key=lambda b: b.levels[0][0])
        venue = next((b for b in books if b.venue == node.instrument.venue), best)
        qty = plan.unroutable_qty_1e8 // venue.lot_1e8 * venue.lot_1e8
        return (venue.venue, qty) if qty >= max(venue.min_qty_1e8, 1) else None

    def _plan(self, node: NodeSpec, qty_1e8: int) -> tuple[list[VenueBook], RoutePlan | None, int | None]:
        nbbo = self.market.nbbo(node.instrument.symbol)
        mark = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2 if nbbo and nbbo.bid_px_1e9 and nbbo.ask_px_1e9 else None
        books = venue_books(self.market, self.rules, node.instrument.symbol, node.side, node.instrument.venue)
        plan = plan_order(
            node.side, qty_1e8, books, arrival_mid_px_1e9=mark or 0, params=self.params, limit_px_1e9=node.limit_px_1e9
        ) if books else None
        return books, plan, mark

    async def _risk(
        self,
        activation: NodeActivated,
        node: NodeSpec,
        plan: RoutePlan | None,
        mark: int | None,
        resting: tuple[str, int] | None = None,
    ) -> bool:
        """Check and reserve for the whole node; publish the verdict. True = go on and route."""
        new_id = derived_ids(activation.event_id)
        now = self.clock_ns()
        tenant = activation.tenant
        amounts = {a.venue: a.qty_1e8 for a in plan.allocations if a.qty_1e8 > 0} if plan else {}
        if resting is not None:
            amounts[resting[0]] = amounts.get(resting[0], 0) + resting[1]
        intent = OrderIntent(
            tenant=tenant,
            graph_id=activation.graph_id,
            node_id=node.node_id,
            symbol=node.instrument.symbol,
            side=node.side,
            qty_1e8=sum(amounts.values()) if amounts else node.qty_1e8,
            limit_px_1e9=node.limit_px_1e9,
            venue=node.instrument.venue,
        )
        outcome = decide_and_reserve(
            self.account(tenant),
            intent,
            limits=self.limits,
            rules=self.rules,
            mark_px_1e9=mark,
            now_ns=now,
            new_id=new_id,
            venue_amounts=amounts or None,
        )
        if isinstance(outcome.decision, RiskRejected) or not amounts:
            events = list(outcome.events) or [
                RiskCheckRejected(
                    event_id=new_id(),
                    ts_ns=now,
                    tenant=tenant,
                    graph_id=activation.graph_id,
                    node_id=node.node_id,
                    code="STALE_VENUE",
                    message=f"no live book for {node.instrument.symbol} on any venue",
                )
            ]
            await self._publish_account(tenant, events)
            return False
        if not outcome.already_passed:
            await self._publish_account(tenant, list(outcome.events))
        return True

    async def _release_slices(self, activation: NodeActivated, graph: GraphSubmitted, node: NodeSpec) -> None:
        key = (activation.graph_id, activation.node_id)
        lots = [r.lot_1e8 for v in self.rules.values() if (r := v.get(node.instrument.symbol)) is not None]
        slices = slices_for(
            node,
            node.qty_1e8,
            activation.ts_ns,  # from the log: a restart recomputes the same schedule
            lot_1e8=max(lots or [1]),
            rng=random.Random(activation.event_id),
            profile=[1] * max(2, node.execution.num_slices or 2) if node.execution.policy == "vwap" else None,
        )
        for index, piece in enumerate(slices):
            if index < self.plans_seen.get(key, 0):
                continue  # released before a restart
            delay_s = (piece.due_ns - self.clock_ns()) / 1e9
            if delay_s > 0:
                await asyncio.sleep(delay_s)  # the schedule's own clock: slices are due at set times
            books, plan, _ = self._plan(node, piece.qty_1e8)
            if plan is None or not any(a.qty_1e8 for a in plan.allocations):
                log.warning("slice %s of %s: no live book; skipped", index, key)
                continue
            await self._publish_plan(activation, graph, node, books, plan, index=index)
        self.slicing.pop(key, None)

    async def _publish_plan(
        self,
        activation: NodeActivated,
        graph: GraphSubmitted,
        node: NodeSpec,
        books: list[VenueBook],
        plan: RoutePlan,
        index: int | None,
        resting: tuple[str, int] | None = None,
    ) -> None:
        # Stable ids (not counter-derived): a re-route after a crash republishes the same ids.
        tag = [] if index is None else [str(index)]
        tenant = activation.tenant
        plan_id = derive_id("plan", activation.event_id, *tag)
        made = plan_made_event(
            plan,
            event_id=derive_id("plan_made", activation.event_id, *tag),
            ts_ns=self.clock_ns(),
            plan_id=plan_id,
            graph_id=graph.graph_id,
            node_id=node.node_id,
            symbol=node.instrument.symbol,
            tenant=tenant,
            causation_id=activation.event_id,
        )
        if resting is not None:
            venue, qty = resting
            notional = node.limit_px_1e9 * qty // 100_000_000 if node.limit_px_1e9 else 0
            rest_alloc = Allocation(
                venue=venue,
                qty_1e8=qty,
                est_avg_px_1e9=node.limit_px_1e9 or 0,
                worst_px_1e9=node.limit_px_1e9 or 0,
                fee_bps=0.0,  # resting: maker fee, known only when it fills
                est_cost_usd_1e9=notional if node.side == "buy" else -notional,
            )
            made = msgspec.structs.replace(made, allocations=[*made.allocations, rest_alloc])
        def child(id_kind: str, venue: str, suffix: str, qty: int, limit_px: int | None, tif: str) -> ChildAllocated:
            event_id = derive_id(id_kind, activation.event_id, *tag, venue)
            return ChildAllocated(
                event_id=event_id,
                ts_ns=self.clock_ns(),
                tenant=tenant,
                causation_id=made.event_id,
                plan_id=plan_id,
                graph_id=graph.graph_id,
                node_id=node.node_id,
                child_id=f"{activation.node_order_id}:{suffix}",
                client_order_id=event_id.replace("-", ""),  # derived from the event id: a retry is the same order
                venue=venue,
                symbol=node.instrument.symbol,
                side=node.side,
                qty_1e8=qty,
                order_type="limit",
                limit_px_1e9=limit_px,
                tif=tif,  # type: ignore[arg-type]
                is_sandbox=graph.is_sandbox,
            )

        children = []
        for alloc in (a for a in plan.allocations if a.qty_1e8 > 0):
            book = next(b for b in books if b.venue == alloc.venue)
            limit_px = marketable_limit_px(
                node.side, alloc.worst_px_1e9, book.tick_1e9, collar_ppm=_collar_ppm(node), limit_px_1e9=node.limit_px_1e9
            )
            suffix = alloc.venue if index is None else f"{index}:{alloc.venue}"
            tif = "ioc" if node.limit_px_1e9 is None else node.execution.tif
            children.append(child("child", alloc.venue, suffix, alloc.qty_1e8, limit_px, tif))
        if resting is not None:
            venue, qty = resting
            tif = "gtc" if node.execution.tif in ("ioc", "fok") else node.execution.tif
            children.append(child("child_resting", venue, f"{venue}:resting", qty, node.limit_px_1e9, tif))
        await self.bus.publish_many([made, *children])

    async def _publish_account(self, tenant: str, events: list[AnyEvent]) -> None:
        # Single writer of the account subject: each append names the sequence it saw last.
        subject = account_subject(tenant)
        last = await self.bus.last_subject_seq(subject)
        for event in events:
            try:
                ack = await self.bus.publish(event, expected_last_subject_seq=last)
            except ConcurrencyConflict:
                log.warning("account %s moved under us; the decision is re-made on the next pass", tenant)
                raise
            last = ack.seq
