"""The API's hot, in-memory ledger: whole graph states, fills, kill switches, funding, TCA.

Rebuilt from the LEDGER stream on start, like the market books. Commands decide on it (submit
idempotency and kill switch, cancel/amend/resume need the freshest whole `GraphState`), and the
WebSocket and TCA routes read it. REST reads of orders, fills and graph status come from the
durable, tracked `orders` view (projections/orders.py), which folds graphs the same way.

It also keeps the risk account of each tenant's books (services/risk/books.py: sandbox and live
apart, as the router keeps them), so /v1/balances can show what open orders hold (`locked`)."""

from __future__ import annotations

import logging

from events import AnyEvent
from events.execution import BalanceAdjusted, FillRecorded
from events.graph import GraphSubmitted
from events.risk import KillSwitchCleared, KillSwitchEngaged
from events.sandbox import SandboxReset, SandboxSettingsChanged
from events.tca import TcaReported
from services.refdata import instrument_rules
from services.graph import GraphState
from services.graph import apply as apply_graph
from services.graph.state import graph_of
from services.graph.state import initial
from services.risk import RulesBook, rules_book
from services.risk.books import AccountBooks

log = logging.getLogger(__name__)


class LedgerView:
    def __init__(self, rules: RulesBook | None = None) -> None:
        # The fold needs the rules only for a fill's base and quote asset.
        self.rules = rules if rules is not None else rules_book(instrument_rules())
        self.graphs: dict[str, GraphState] = {}
        self.fills: list[FillRecorded] = []
        self.fill_ids: set[str] = set()
        self.books = AccountBooks(self.rules)
        self.funded: set[str] = set()  # tenants holding paper balances
        self.kill: dict[str, KillSwitchEngaged] = {}  # tenant -> the engagement in force
        self.tca: dict[str, TcaReported] = {}  # event_id -> report, in log order
        self.sandbox_settings: dict[str, SandboxSettingsChanged] = {}  # tenant -> settings in force
        self.sandbox_resets: dict[tuple[str, str], SandboxReset] = {}  # (tenant, request_id) -> reset
        self.position = 0

    def apply(self, event: AnyEvent, seq: int) -> None:
        self.position = max(self.position, seq)
        if event.tenant:
            self._fold_accounts(event)
        if isinstance(event, GraphSubmitted):
            self.graphs.setdefault(event.graph_id, initial(event))
            return
        if isinstance(event, TcaReported):
            self.tca.setdefault(event.event_id, event)
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
            self.fills.append(event)
        graph_id = graph_of(event)
        state = self.graphs.get(graph_id) if graph_id else None
        if state is not None and state.owns(event):
            self.graphs[graph_id] = apply_graph(state, event)

    def locked_qty_1e8(self, tenant: str, is_sandbox: bool, venue: str, asset: str) -> int:
        """What the book's open orders hold on (venue, asset): the risk fold's reservations."""
        account = self.books.accounts.get((tenant, is_sandbox))
        return account.reserved_qty(venue, asset) if account is not None else 0

    def _fold_accounts(self, event: AnyEvent) -> None:
        try:
            self.books.fold(event)
        except Exception as exc:  # a fold bug must not stop the graph view
            log.error("account fold of %s failed: %s", type(event).__name__, exc)
