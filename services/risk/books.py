"""Each tenant's two books, sandbox and live, as separate risk accounts.

Balances, fills and reservations name only a venue and an asset, and the sandbox and live books
use the same venue names: one account per tenant would let a live order spend paper funds (or
a paper order count against live ones). So every tenant has an account per book, and each event
is folded into the book it belongs to: its own `is_sandbox` (fills, balance changes, graphs),
else its graph's (child events name their graph). Events that name no graph (the kill
switch, releases) go to both books of the tenant: the switch holds for both, and the fold ignores
a release of a reservation the book does not hold.
"""

from __future__ import annotations

from events.base import Event
from events.execution import FillRecorded
from events.execution import ChildSubmitted
from events.graph import GraphCancelled, GraphCompleted, GraphSubmitted
from events.routing import ChildAllocated, PlanMade
from projections.retention import Retention
from services.graph.state import graph_of
from services.risk.account import CHILD_FACTS, AccountState, fact_problem, fold_into, new_account
from services.risk.config import RulesBook

Book = tuple[str, bool]  # (tenant, is_sandbox)


FillKey = tuple[Book, str, str]  # (book, venue, fill id or event id)


class AccountBooks:
    def __init__(self, rules: RulesBook, *, window_ns: int | None = None) -> None:
        """`window_ns`: forget an ended graph's book and a fill's dedup key this long after it
        (on the log's clock; projections/retention.py); None keeps them for ever."""
        self.rules = rules
        self.accounts: dict[Book, AccountState] = {}
        self.graph_sandbox: dict[str, bool] = {}  # graph_id -> is_sandbox
        self.window_ns = window_ns
        self.fill_retention: Retention[FillKey] = Retention(window_ns or 0)
        self.graph_retention: Retention[str] = Retention(window_ns or 0)
        self.refused_retention: Retention[tuple[Book, str]] = Retention(window_ns or 0)  # refused facts' ids
        self.graph_children: dict[str, list[tuple[AccountState, str]]] = {}  # graph_id -> (account, child id)

    def account(self, tenant: str, is_sandbox: bool) -> AccountState:
        key = (tenant, is_sandbox)
        if key not in self.accounts:
            self.accounts[key] = new_account(tenant)
        return self.accounts[key]

    def book_of(self, event: Event) -> bool | None:
        """True/False for the sandbox/live book the event belongs to; None when it names none."""
        own = getattr(event, "is_sandbox", None)
        if own is not None:
            return bool(own)
        graph_id = graph_of(event)
        return self.graph_sandbox.get(graph_id) if graph_id else None

    def accounts_for(self, event: Event) -> list[AccountState]:
        """The accounts a tenant's event belongs to: its book's, or both when it names none."""
        book = self.book_of(event)
        return [self.account(event.tenant, b) for b in ([book] if book is not None else [True, False])]

    def fold(self, event: Event) -> list[AccountState]:
        """Fold a tenant's event into its book (or both); returns the accounts it was folded into.

        Raises what the fold raises (WrongTenant, a rules error) after folding the others."""
        if isinstance(event, GraphSubmitted):
            self.graph_sandbox[event.graph_id] = event.is_sandbox
        accounts = self.accounts_for(event)
        failure: Exception | None = None
        for account in accounts:
            try:
                fold_into(account, event, self.rules)
            except Exception as exc:  # the other book still gets the event
                failure = exc
        if self.window_ns is not None:
            self._retain(event, accounts)
        if failure is not None:
            raise failure
        return accounts

    def refusal(self, event: Event) -> tuple[str, str] | None:
        """(reason, the child's venue or "") when `event` is an execution fact the folds refuse:
        a fill its book did not book, or an ack/cancel for a child no book of the tenant knows
        (or from another venue). None for every other event. Call after `fold`."""
        if not isinstance(event, CHILD_FACTS):
            return None
        if isinstance(event, FillRecorded):
            account = self.accounts.get((event.tenant, event.is_sandbox))
            reason = account.refused.get(event.event_id) if account is not None else "unknown_child"
            known = account.children if account is not None else {}
        else:
            known = {}
            for book in (True, False):
                account = self.accounts.get((event.tenant, book))
                if account is not None:
                    known.update(account.children)
            reason = fact_problem(known, event)
        return None if reason is None else (reason, known.get(event.child_id, ""))

    def _retain(self, event: Event, accounts: list[AccountState]) -> None:
        # A fill's dedup key only has to outlive the bus's dedup window: within it a re-sent fill
        # carries the same event id and JetStream drops it; the sandbox never re-sends a fill of
        # a child it has finished. An ended graph's book is asked for only by its late events.
        fills, graphs = self.fill_retention, self.graph_retention
        fills.read(event.ts_ns)
        graphs.read(event.ts_ns)
        refused = self.refused_retention
        refused.read(event.ts_ns)
        if isinstance(event, FillRecorded):
            for account in accounts:
                book = (account.tenant, event.is_sandbox)
                fills.ended((book, event.venue, event.fill_id or event.event_id))
                if event.event_id in account.refused:
                    refused.ended((book, event.event_id))
        elif isinstance(event, ChildAllocated | ChildSubmitted):
            self.graph_children.setdefault(event.graph_id, []).extend((a, event.child_id) for a in accounts)
        elif isinstance(event, PlanMade):
            self.graph_children.setdefault(event.graph_id, []).extend(
                (a, child.child_id) for a in accounts for child in event.children
            )
        elif isinstance(event, GraphCompleted | GraphCancelled):
            graphs.ended(event.graph_id)
        for book, venue, fill_key in fills.due():
            held = self.accounts.get(book)
            if held is not None:
                held.fill_keys.discard((venue, fill_key))
        for book, event_id in refused.due():
            held = self.accounts.get(book)
            if held is not None:
                held.refused.pop(event_id, None)
        for graph_id in graphs.due():
            self.graph_sandbox.pop(graph_id, None)
            # A finished graph's children leave the fact check once its dedup window has passed;
            # a child still open at a venue stays until it closes.
            for account, child_id in self.graph_children.pop(graph_id, ()):
                if child_id not in account.open_children:
                    account.children.pop(child_id, None)
