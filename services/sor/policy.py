"""The router's decisions, pure: what a node's risk check, plan, children, re-route and next
iceberg clip are, given the books, the rules, the account and the time. No I/O, no clock.

The live router (`service.py`) and the synchronous kernel (`services/kernel/kernel.py`) both
decide through `RoutingPolicy`; only how the events get appended differs. Ids derive from the
node's activation (and a tag naming the slice, re-route or clip), so a decision made twice
makes the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import msgspec

from events import AnyEvent
from events.graph import GraphSubmitted, NodeActivated, NodeSpec, Side, Tif
from events.ids import derive_id
from events.venues import credential_venue
from events.risk import RejectCode, RiskCheckRejected
from events.vault import CredentialRevoked, CredentialStored
from events.routing import Allocation, ChildAllocated, PlanMade
from projections.market import MarketBooks
from services.graph.schedule import Iceberg
from services.graph.state import IMMEDIATE_TIFS, GraphState, NodeState
from services.kernel.ports import derived_ids
from services.risk import AccountState, OrderIntent, RiskLimits, RiskRejected, RulesBook, decide_and_reserve
from services.sor import RoutePlan, SorError, SorParams, VenueBook, marketable_limit_px, plan_made_event, plan_order
from services.sor.books import venue_books
from services.sor.config import ROUTER_PARAMS
from services.sor.regions import RegionLatency
from services.sor.scores import VenueScoreBook

RESTING = ("passive", "iceberg")  # rest GTC at a price instead of sweeping
DEFAULT_COLLAR_BPS = 50  # room for the book to move between plan and fill (max_slippage_bps overrides)


def collar_ppm(node: NodeSpec) -> int:
    bps = node.execution.max_slippage_bps
    return (DEFAULT_COLLAR_BPS if bps is None else bps) * 100


def resting_allocation(side: Side, venue: str, qty_1e8: int, px_1e9: int) -> Allocation:
    """The plan line of a resting order: its notional at its own price, fee unknown until it fills."""
    notional = px_1e9 * qty_1e8 // 100_000_000
    return Allocation(
        venue=venue,
        qty_1e8=qty_1e8,
        est_avg_px_1e9=px_1e9,
        worst_px_1e9=px_1e9,
        fee_bps=0.0,  # resting: maker fee, known only when it fills
        est_cost_usd_1e9=notional if side == "buy" else -notional,
    )


def node_spec(graph: GraphSubmitted, node_id: str) -> NodeSpec:
    return next(n for n in graph.nodes if n.node_id == node_id)


@dataclass
class RoutingPolicy:
    """The router's view (books, rules, params, venue scores) and the decisions made on it."""

    market: MarketBooks
    rules: RulesBook
    params: SorParams = ROUTER_PARAMS
    scores: VenueScoreBook = field(default_factory=VenueScoreBook)
    # Live graphs route only where the tenant can really trade: venues it has credentials for
    # (folded from the vault's events, so replay decides the same) with live order entry for
    # the symbol (`live_entry`; None = nowhere, as in a backtest).
    live_entry: Callable[[str, str], bool] | None = None
    connected: dict[str, set[str]] = field(default_factory=dict)  # tenant -> venues with credentials
    # On the three-region supercluster: this router's region (CROSSBOOK_REGION); a remote
    # venue's latency gains the measured RTT to its region. "" = one region, no RTT.
    region: str = ""
    regions: RegionLatency | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.region:
            self.regions = RegionLatency(self.market, self.region)

    def fold_credentials(self, event: CredentialStored | CredentialRevoked) -> None:
        venues = self.connected.setdefault(event.tenant, set())
        if isinstance(event, CredentialStored):
            venues.add(event.venue)
        else:
            venues.discard(event.venue)

    def barred(self, graph: GraphSubmitted, symbol: str) -> Callable[[str], bool]:
        """Whether a venue is out of bounds for this graph's children (never for a sandbox one)."""
        if graph.is_sandbox:
            return lambda venue: False
        connected, entry = self.connected.get(graph.tenant, set()), self.live_entry
        return lambda venue: (credential_venue(venue) not in connected or entry is None
                              or not entry(venue, symbol))

    # --- reads ------------------------------------------------------------------------------
    def mark(self, symbol: str) -> int | None:
        nbbo = self.market.nbbo(symbol)
        return (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2 if nbbo and nbbo.bid_px_1e9 and nbbo.ask_px_1e9 else None

    def lot(self, symbol: str) -> int:
        # The coarsest lot of any venue listing the symbol: a size on it is valid everywhere.
        lots = [r.lot_1e8 for v in self.rules.values() if (r := v.get(symbol)) is not None]
        return max(lots or [1])

    def plan(
        self, node: NodeSpec, qty_1e8: int, graph: GraphSubmitted, exclude: Collection[str] = ()
    ) -> tuple[list[VenueBook], RoutePlan | None, int | None]:
        """The split of `qty_1e8` over the usable books (without `exclude`, and for a live
        graph only where the tenant can trade live), and the mark."""
        mark = self.mark(node.instrument.symbol)
        rtt = self.regions.rtt_ns if self.regions is not None else None
        books = venue_books(self.market, self.rules, node.instrument.symbol, node.side, node.instrument.venue,
                             qty_1e8, region_rtt_ns=rtt)
        barred = self.barred(graph, node.instrument.symbol)
        books = [b for b in books if b.venue not in exclude and not barred(b.venue)]
        plan = plan_order(
            node.side, qty_1e8, books, arrival_mid_px_1e9=mark or 0, params=self.params, limit_px_1e9=node.limit_px_1e9,
            scores=self.scores.for_symbol(node.instrument.symbol, graph.is_sandbox),
        ) if books else None
        return books, plan, mark

    def resting_part(self, node: NodeSpec, books: list[VenueBook], plan: RoutePlan | None) -> tuple[str, int] | None:
        """A limit order's quantity that cannot fill now rests, GTC at its limit, on one venue:
        the pinned one, else the venue showing the best price on that side."""
        market = self.market.by_symbol.get(node.instrument.symbol, {})
        books = [b for b in books if (m := market.get(b.venue)) is None or m.order_cost_quote_1e9 == 0]  # pools only swap
        if node.limit_px_1e9 is None or plan is None or plan.unroutable_qty_1e8 <= 0 or not books:
            return None
        best = min(books, key=lambda b: b.levels[0][0]) if node.side == "buy" else max(books, key=lambda b: b.levels[0][0])
        venue = next((b for b in books if b.venue == node.instrument.venue), best)
        qty = plan.unroutable_qty_1e8 // venue.lot_1e8 * venue.lot_1e8
        return (venue.venue, qty) if qty >= max(venue.min_qty_1e8, 1) else None

    def quote(self, node: NodeSpec, limit_px_1e9: int | None, graph: GraphSubmitted) -> tuple[str, int] | None:
        """Where and at what price a resting order goes, (venue, px_1e9), or None without a live
        book. A limit iceberg rests at its limit on the pinned venue or the one whose opposite
        side is best (most likely to fill it); passive and market icebergs join the touch of their
        own side on the venue quoting it, a passive limit behind the touch at its limit."""
        symbol, pinned, buy = node.instrument.symbol, node.instrument.venue, node.side == "buy"
        at_limit = node.execution.policy == "iceberg" and limit_px_1e9 is not None
        own_side: Side = "sell" if buy else "buy"  # the books a seller takes from show our side
        books = venue_books(self.market, self.rules, symbol, node.side if at_limit else own_side, pinned, resting=True)
        barred = self.barred(graph, symbol)
        books = [b for b in books if not barred(b.venue)]
        if not books:
            return None
        best = (min if buy == at_limit else max)(books, key=lambda b: b.levels[0][0])
        px = best.levels[0][0]
        if limit_px_1e9 is not None:
            px = limit_px_1e9 if at_limit else (min if buy else max)(px, limit_px_1e9)
        return best.venue, px

    def iceberg(self, node: NodeSpec, total_qty_1e8: int) -> Iceberg:
        lot = self.lot(node.instrument.symbol)
        display = max(node.execution.display_qty_1e8 or lot, lot)
        return Iceberg(total_qty_1e8=total_qty_1e8, display_qty_1e8=display, lot_1e8=lot)

    def next_clip_qty(self, state: GraphState, node: NodeState) -> int:
        """The iceberg clip due now: 0 until the previous one is filled or gone (and while its
        allocation is still on the way); none after a clip was rejected."""
        if (
            node.spec.execution.policy != "iceberg"
            or not node.activated
            or node.final
            or node.plan_count == 0
            or node.allocated_qty_1e8 < node.planned_qty_1e8
            or node.last_reject_reason is not None
        ):
            return 0
        working = sum(c.working_qty_1e8 for c in state.children.values() if c.node_id == node.node_id)
        return self.iceberg(node.spec, node.target_qty_1e8).next_display(node.filled_qty_1e8, working)

    # --- decisions --------------------------------------------------------------------------
    def risk(
        self,
        account: AccountState,
        activation: NodeActivated,
        node: NodeSpec,
        plan: RoutePlan | None,
        mark: int | None,
        resting: tuple[str, int] | None,
        *,
        limits: RiskLimits,
        now_ns: int,
        live: bool = False,
    ) -> tuple[list[AnyEvent], bool]:
        """Check and reserve for the whole node: (the account events, passed). A refusal's
        events are the refusal; a pass's carry its reservations ([] when it is already on the log)."""
        new_id = derived_ids(activation.event_id)
        amounts = {a.venue: a.qty_1e8 for a in plan.allocations if a.qty_1e8 > 0} if plan else {}
        if resting is not None:
            amounts[resting[0]] = amounts.get(resting[0], 0) + resting[1]
        intent = OrderIntent(
            tenant=activation.tenant,
            graph_id=activation.graph_id,
            node_id=node.node_id,
            symbol=node.instrument.symbol,
            side=node.side,
            qty_1e8=sum(amounts.values()) if amounts else node.qty_1e8,
            limit_px_1e9=node.limit_px_1e9,
            venue=node.instrument.venue,
        )
        outcome = decide_and_reserve(
            account, intent, limits=limits, rules=self.rules, mark_px_1e9=mark, now_ns=now_ns, new_id=new_id,
            venue_amounts=amounts or None,
        ) if amounts or node.instrument.venue is not None else None  # nowhere to go: refused below
        if outcome is None or isinstance(outcome.decision, RiskRejected) or not amounts:
            code: RejectCode = "STALE_VENUE"
            message = f"no live book for {node.instrument.symbol} on any venue"
            if live:
                code, message = "NO_LIVE_VENUE", (
                    f"no venue with live order entry for {node.instrument.symbol} where this account has credentials"
                    " has a live book")
            events: list[AnyEvent] = list(outcome.events if outcome else ()) or [
                RiskCheckRejected(
                    event_id=new_id(),
                    ts_ns=now_ns,
                    tenant=activation.tenant,
                    graph_id=activation.graph_id,
                    node_id=node.node_id,
                    code=code,
                    message=message,
                )
            ]
            return events, False
        return ([] if outcome.already_passed else list(outcome.events)), True

    def plan_events(
        self,
        activation: NodeActivated,
        graph: GraphSubmitted,
        node: NodeSpec,
        books: list[VenueBook],
        plan: RoutePlan,
        *,
        tag: str | None,
        now_ns: int,
        resting: tuple[str, int] | None = None,
    ) -> list[AnyEvent]:
        """The plan (carrying its children) followed by its children. `tag` names a slice
        ("0", "1", ...) or a re-route ("r1", ...), whose children are IOC; `resting` adds a GTC
        child at the node's limit for what cannot fill now."""
        tags = [] if tag is None else [tag]
        made = plan_made_event(
            plan,
            event_id=derive_id("plan_made", activation.event_id, *tags),
            ts_ns=now_ns,
            plan_id=derive_id("plan", activation.event_id, *tags),
            graph_id=graph.graph_id,
            node_id=node.node_id,
            symbol=node.instrument.symbol,
            tenant=activation.tenant,
            causation_id=activation.event_id,
        )
        if resting is not None:
            rest_alloc = resting_allocation(node.side, *resting, node.limit_px_1e9 or 0)
            made = msgspec.structs.replace(made, allocations=[*made.allocations, rest_alloc])
        children = []
        for alloc in (a for a in plan.allocations if a.qty_1e8 > 0):
            book = next(b for b in books if b.venue == alloc.venue)
            limit_px = marketable_limit_px(
                node.side, alloc.worst_px_1e9, book.tick_1e9, collar_ppm=collar_ppm(node), limit_px_1e9=node.limit_px_1e9
            )
            tif: Tif = "ioc" if node.limit_px_1e9 is None or tag is not None else node.execution.tif
            children.append(child_event(activation, graph, node, made, tag, alloc.venue, alloc.qty_1e8, limit_px, tif, now_ns))
        if resting is not None:
            venue, qty = resting
            tif = "gtc" if node.execution.tif in IMMEDIATE_TIFS else node.execution.tif
            children.append(child_event(activation, graph, node, made, None, venue, qty, node.limit_px_1e9, tif, now_ns,
                                        id_kind="child_resting", suffix=f"{venue}:resting"))
        return [msgspec.structs.replace(made, children=tuple(children)), *children]

    def resting_events(
        self,
        activation: NodeActivated,
        graph: GraphSubmitted,
        node: NodeSpec,
        index: int,
        venue: str,
        px: int,
        qty: int,
        *,
        arrival_mid_px_1e9: int | None,
        now_ns: int,
    ) -> list[AnyEvent]:
        """One resting child (a passive order or iceberg clip `index`) as its own one-line plan."""
        tag = f"clip{index}"
        alloc = resting_allocation(node.side, venue, qty, px)
        made = PlanMade(
            event_id=derive_id("plan_made", activation.event_id, tag),
            ts_ns=now_ns,
            tenant=activation.tenant,
            causation_id=activation.event_id,
            plan_id=derive_id("plan", activation.event_id, tag),
            graph_id=graph.graph_id,
            node_id=node.node_id,
            symbol=node.instrument.symbol,
            side=node.side,
            qty_1e8=qty,
            allocations=[alloc],
            arrival_mid_px_1e9=arrival_mid_px_1e9 or self.mark(node.instrument.symbol) or px,
            expected_avg_px_1e9=px,
            expected_slippage_bps=0.0,
            expected_cost_usd_1e9=alloc.est_cost_usd_1e9,
            best_single_venue=venue,
            best_single_venue_cost_usd_1e9=alloc.est_cost_usd_1e9,
            best_single_venue_qty_1e8=qty,
        )
        tif = "gtc" if node.execution.tif in IMMEDIATE_TIFS else node.execution.tif
        child = child_event(activation, graph, node, made, tag, venue, qty, px, tif, now_ns)
        return [msgspec.structs.replace(made, children=(child,)), child]

    def reroute_events(
        self,
        activation: NodeActivated,
        graph: GraphSubmitted,
        state: GraphState,
        node: NodeState,
        *,
        arrival_mid_px_1e9: int,
        now_ns: int,
    ) -> list[AnyEvent]:
        """Plan what IOC children missed again, without the venues that missed, within the
        collar from the arrival mid; with nothing routable, an empty plan ends the node."""
        spec = node.spec
        missed = {c.venue for c in state.children.values() if c.node_id == node.node_id and c.missed and c.venue}
        arrival = arrival_mid_px_1e9
        # The worst price a re-route may plan to: the collar from the arrival mid (on a 1e-9 tick),
        # never past the order's limit, however many attempts it takes.
        cap = (
            marketable_limit_px(spec.side, arrival, 1, collar_ppm=collar_ppm(spec), limit_px_1e9=spec.limit_px_1e9)
            if arrival else spec.limit_px_1e9
        )
        capped = msgspec.structs.replace(spec, limit_px_1e9=cap)
        try:
            books, plan, _ = self.plan(capped, node.remaining_qty_1e8, graph, exclude=missed)
        except SorError:  # e.g. no NBBO left: the node must still hear an answer
            books, plan = [], None
        if plan is None:  # no venue left to try: the empty plan says so
            plan = plan_order(spec.side, node.remaining_qty_1e8, [], arrival_mid_px_1e9=max(arrival, 1))
        return self.plan_events(activation, graph, capped, books, plan, tag=f"r{node.plan_count}", now_ns=now_ns)


def child_event(
    activation: NodeActivated,
    graph: GraphSubmitted,
    node: NodeSpec,
    made: PlanMade,
    tag: str | None,
    venue: str,
    qty: int,
    limit_px: int | None,
    tif: Tif,
    now_ns: int,
    *,
    id_kind: str = "child",
    suffix: str | None = None,
) -> ChildAllocated:
    """One child order of a plan; its client order id derives from its event id (a retry is the same order)."""
    event_id = derive_id(id_kind, activation.event_id, *([] if tag is None else [tag]), venue)
    if suffix is None:
        suffix = venue if tag is None else f"{tag}:{venue}"
    return ChildAllocated(
        event_id=event_id,
        ts_ns=now_ns,
        tenant=activation.tenant,
        causation_id=made.event_id,
        plan_id=made.plan_id,
        graph_id=graph.graph_id,
        node_id=node.node_id,
        child_id=f"{activation.node_order_id}:{suffix}",
        client_order_id=event_id.replace("-", ""),
        venue=venue,
        symbol=node.instrument.symbol,
        side=node.side,
        qty_1e8=qty,
        order_type="limit",
        limit_px_1e9=limit_px,
        tif=tif,
        is_sandbox=graph.is_sandbox,
        post_only=node.execution.policy == "passive",
    )
