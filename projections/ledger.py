"""The API's hot, in-memory ledger: whole graph states, fills, kill switches, funding, TCA.

Rebuilt from the LEDGER stream on start, like the market books. Commands decide on it (submit
idempotency and kill switch, cancel/amend/resume need the freshest whole `GraphState`), and the
WebSocket and TCA routes read it. REST reads of orders, fills and graph status come from the
durable, tracked `orders` view (projections/orders.py), which folds graphs the same way.

Every per-caller read goes through a per-tenant index (`graphs_of`, `working_of`, `fills_of`,
`reports_of`, `changed_since`), never a scan of every tenant's history, and the indexes are kept
in LEDGER sequence order so a `/v1/stream` cursor is a ledger sequence: "what followed seq N" is a
bisection, not a list offset (services/api/routers/stream.py).

It also keeps the risk account of each tenant's books (services/risk/books.py: sandbox and live
apart, as the router keeps them), so /v1/balances can show what open orders hold (`locked`).

Bounded: a graph leaves this view (with its fills, reports and index entries) once it ended a
`window_ns` ago on the log's clock (projections/retention.py), and the per-tenant fill and report
lists keep only that window; reads of finished history come from the durable `orders` view
(projections/orders.py: graphs, fills, TCA reports, plans, traces). `on_evict` tells the API's
other in-memory indexes (plans, traces) which graph left."""

from __future__ import annotations

import logging
from bisect import bisect_right
from collections.abc import Callable, Iterator
from typing import TypeVar

from events import AnyEvent
from events.execution import BalanceAdjusted, FillRecorded, PositionRedeemed, VenueReconciled
from events.graph import GraphSubmitted
from events.risk import KillSwitchCleared, KillSwitchEngaged
from events.sandbox import SandboxReset, SandboxSettingsChanged
from events.tca import TcaReported
from events.vault import CredentialRevoked, CredentialStored
from projections.retention import Retention
from services.refdata import instrument_rules
from services.graph import GraphState
from services.graph import apply as apply_graph
from services.graph.state import graph_of
from services.graph.state import initial
from services.risk import RulesBook, rules_book
from services.risk.books import AccountBooks

log = logging.getLogger(__name__)

E = TypeVar("E")
# The facts the executor appends for a sandbox command (services/edges/sandbox/accounts.py).
_SANDBOX_FACTS = (BalanceAdjusted, SandboxSettingsChanged, SandboxReset, PositionRedeemed)


class LedgerView:
    def __init__(self, rules: RulesBook | None = None, *, window_ns: int | None = None) -> None:
        """`window_ns`: how long an ended graph stays (None: for ever)."""
        # The fold needs the rules only for a fill's base and quote asset.
        self.rules = rules if rules is not None else rules_book(instrument_rules())
        self.graphs: dict[str, GraphState] = {}
        self.fill_ids: set[str] = set()  # kept a window after each fill (the bus drops repeats within it)
        self.books = AccountBooks(self.rules, window_ns=window_ns)
        self.window_ns = window_ns
        self.retention: Retention[str] = Retention(window_ns or 0)  # ended graphs
        self.fill_retention: Retention[str] = Retention(window_ns or 0)  # fill ids
        self.on_evict: list[Callable[[GraphState], None]] = []
        self.evicted = 0
        self.funded: set[str] = set()  # tenants holding paper balances
        self.connected: dict[str, set[str]] = {}  # tenant -> venues it has credentials for
        self.reconciled: dict[str, list[VenueReconciled]] = {}  # SyncPositions id -> the executor's answers
        self.kill: dict[str, KillSwitchEngaged] = {}  # tenant -> the engagement in force
        self.tca: dict[str, TcaReported] = {}  # event_id -> report, in log order
        self.sandbox_settings: dict[str, SandboxSettingsChanged] = {}  # tenant -> settings in force
        self.sandbox_resets: dict[tuple[str, str], SandboxReset] = {}  # (tenant, request_id) -> reset
        # Sandbox command id -> how many of its facts were folded (the executor names the command
        # as each fact's causation): a front door waits on it. Kept a window on the log's clock.
        self.applied: dict[str, int] = {}
        self.applied_retention: Retention[str] = Retention(window_ns or 0)
        self.position = 0
        # Execution facts the account fold refused (a fill, ack or cancel for a child the
        # ledger does not know, or from another venue), per tenant: /v1/health shows them.
        self.refused: dict[str, int] = {}
        # Per-tenant indexes, each in LEDGER sequence order.
        self.tenant_graphs: dict[str, dict[str, None]] = {}  # tenant -> its graph ids, submit order
        self.working: dict[str, dict[str, None]] = {}  # tenant -> its graphs not yet terminal
        self.changed: dict[str, dict[str, int]] = {}  # tenant -> graph id -> seq of its last change, oldest first
        self.tenant_fills: dict[str, list[tuple[int, FillRecorded]]] = {}
        self.graph_fills: dict[str, list[FillRecorded]] = {}  # graph id -> its tenant's fills naming it
        self.tenant_tca: dict[str, list[tuple[int, TcaReported]]] = {}
        self.graph_tca: dict[str, list[TcaReported]] = {}  # graph id -> its tenant's reports naming it

    def apply(self, event: AnyEvent, seq: int) -> None:
        self.position = max(self.position, seq)
        if self.window_ns is not None:
            self._evict_due(event.ts_ns)
        if event.tenant:
            self._fold_accounts(event)
            if self.books.refusal(event) is not None:
                self.refused[event.tenant] = self.refused.get(event.tenant, 0) + 1
                return  # listed nowhere, folded into no graph
        if isinstance(event, _SANDBOX_FACTS) and event.causation_id is not None:
            cause = event.causation_id
            if cause not in self.applied and self.window_ns is not None:
                self.applied_retention.ended(cause, event.ts_ns)
            self.applied[cause] = self.applied.get(cause, 0) + 1
        if isinstance(event, GraphSubmitted):
            if event.graph_id not in self.graphs:
                submitted = initial(event)
                self.graphs[event.graph_id] = submitted
                self.tenant_graphs.setdefault(submitted.tenant, {})[event.graph_id] = None
                if not submitted.terminal:
                    self.working.setdefault(submitted.tenant, {})[event.graph_id] = None
                self._touch(submitted.tenant, event.graph_id, seq)
            return
        if isinstance(event, TcaReported):
            if event.event_id not in self.tca and self._owner(event.graph_id) == event.tenant:
                self.tca[event.event_id] = event
                self.tenant_tca.setdefault(event.tenant, []).append((seq, event))
                self.graph_tca.setdefault(event.graph_id, []).append(event)
            return
        if isinstance(event, VenueReconciled):
            if event.causation_id:
                self.reconciled.setdefault(event.causation_id, []).append(event)
            return
        if isinstance(event, (CredentialStored, CredentialRevoked)):
            venues = self.connected.setdefault(event.tenant, set())
            (venues.add if isinstance(event, CredentialStored) else venues.discard)(event.venue)
            return
        if isinstance(event, KillSwitchEngaged):
            self.kill[event.tenant] = event
            return
        if isinstance(event, KillSwitchCleared):
            self.kill.pop(event.tenant, None)
            return
        if isinstance(event, SandboxSettingsChanged):
            self.sandbox_settings[event.tenant] = event
            return
        if isinstance(event, SandboxReset):
            self.sandbox_resets.setdefault((event.tenant, event.request_id), event)
            return
        if isinstance(event, BalanceAdjusted) and event.reason == "paper_funding":
            self.funded.add(event.tenant)
            return
        if isinstance(event, FillRecorded) and event.fill_id not in self.fill_ids:
            self.fill_ids.add(event.fill_id)
            if self.window_ns is not None:
                self.fill_retention.ended(event.fill_id, event.ts_ns)
            self.tenant_fills.setdefault(event.tenant, []).append((seq, event))
            if self._owner(event.graph_id) == event.tenant:
                self.graph_fills.setdefault(event.graph_id, []).append(event)
        graph_id = graph_of(event)
        state = self.graphs.get(graph_id) if graph_id else None
        if graph_id and state is not None and state.owns(event):
            folded = apply_graph(state, event)
            self.graphs[graph_id] = folded
            if folded is not state:
                self._touch(folded.tenant, graph_id, seq)
                if folded.terminal:
                    self.working.get(folded.tenant, {}).pop(graph_id, None)
                    if not state.terminal and self.window_ns is not None:
                        self.retention.ended(graph_id, event.ts_ns)

    def _evict_due(self, ts_ns: int) -> None:
        self.retention.read(ts_ns)
        self.fill_retention.read(ts_ns)
        self.applied_retention.read(ts_ns)
        for fill_id in self.fill_retention.due():
            self.fill_ids.discard(fill_id)
        for command_id in self.applied_retention.due():
            self.applied.pop(command_id, None)
        for graph_id in self.retention.due():
            graph = self.graphs.get(graph_id)
            if graph is not None and graph.terminal:
                self._evict(graph)

    def _evict(self, graph: GraphState) -> None:
        tenant, graph_id = graph.tenant, graph.graph_id
        del self.graphs[graph_id]
        self.tenant_graphs.get(tenant, {}).pop(graph_id, None)
        self.changed.get(tenant, {}).pop(graph_id, None)
        self.graph_fills.pop(graph_id, None)
        for report in self.graph_tca.pop(graph_id, []):
            self.tca.pop(report.event_id, None)
        # The tenant's fill and report lists keep the window (a /v1/stream cursor within it resumes
        # from memory); the graph's are older than its end, so older than the window by now.
        cutoff = self.retention.log_ns - (self.window_ns or 0)
        for lists in (self.tenant_fills, self.tenant_tca):
            entries = lists.get(tenant)
            if entries:
                old = next((i for i, (_, e) in enumerate(entries) if e.ts_ns >= cutoff), len(entries))
                del entries[:old]
        for hook in self.on_evict:
            hook(graph)
        self.evicted += 1

    def _owner(self, graph_id: str | None) -> str | None:
        graph = self.graphs.get(graph_id) if graph_id else None
        return graph.tenant if graph is not None else None

    def _touch(self, tenant: str, graph_id: str, seq: int) -> None:
        changed = self.changed.setdefault(tenant, {})
        changed.pop(graph_id, None)  # re-inserted last: the map stays in order of last change
        changed[graph_id] = seq

    def graphs_of(self, tenant: str) -> list[GraphState]:
        """The tenant's graphs, in submit order."""
        return [self.graphs[g] for g in self.tenant_graphs.get(tenant, ())]

    def working_of(self, tenant: str) -> list[GraphState]:
        """The tenant's graphs that have not ended, in submit order."""
        return [self.graphs[g] for g in self.working.get(tenant, ())]

    def changed_since(self, tenant: str, seq: int) -> Iterator[GraphState]:
        """The tenant's graphs changed by an event after LEDGER sequence `seq`, most recent first."""
        for graph_id, at in reversed(self.changed.get(tenant, {}).items()):
            if at <= seq:
                return
            yield self.graphs[graph_id]

    def fills_of(self, tenant: str) -> list[FillRecorded]:
        """The tenant's fills (each fill once), in log order."""
        return [f for _, f in self.tenant_fills.get(tenant, [])]

    def reports_of(self, tenant: str) -> list[TcaReported]:
        """The tenant's TCA reports, in log order."""
        return [r for _, r in self.tenant_tca.get(tenant, [])]


    def locked_qty_1e8(self, tenant: str, is_sandbox: bool, venue: str, asset: str) -> int:
        """What the book's open orders hold on (venue, asset): the risk fold's reservations."""
        account = self.books.accounts.get((tenant, is_sandbox))
        return account.reserved_qty(venue, asset) if account is not None else 0

    def _fold_accounts(self, event: AnyEvent) -> None:
        try:
            self.books.fold(event)
        except Exception as exc:  # a fold bug must not stop the graph view
            log.error("account fold of %s failed: %s", type(event).__name__, exc)


def after(entries: list[tuple[int, E]], seq: int) -> list[tuple[int, E]]:
    """The (LEDGER sequence, event) entries that followed `seq`, of a list in sequence order."""
    return entries[bisect_right(entries, seq, key=lambda entry: entry[0]) :]
