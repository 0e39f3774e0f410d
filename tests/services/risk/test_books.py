"""A tenant's sandbox and live books are separate risk accounts (services/risk/books.py)."""

from __future__ import annotations

from events.graph import ExecutionSpec, GraphCompleted, GraphSubmitted, Instrument, NodeCompleted, NodeSpec
from events.risk import KillSwitchEngaged, ReservationMade, ReservationReleased, RiskCheckPassed
from services.risk.books import AccountBooks
from tests.services.risk.factory import PX, QTY, RULES, T0, TENANT, allocated, child, fill, fund


def _graph(graph_id: str, *, sandbox: bool) -> GraphSubmitted:
    spec = NodeSpec(node_id="n1", instrument=Instrument(symbol="BTC-USDT"), side="buy", qty_1e8=QTY,
                    execution=ExecutionSpec())
    return GraphSubmitted(event_id=f"sub-{graph_id}", ts_ns=T0, tenant=TENANT, graph_id=graph_id, nodes=[spec],
                          edges=[], is_sandbox=sandbox, body_sha256="x")


def _passed(graph_id: str, qty_1e8: int) -> RiskCheckPassed:
    made = ReservationMade(event_id=f"res-{graph_id}", ts_ns=T0, tenant=TENANT, reservation_id=f"res-{graph_id}",
                           graph_id=graph_id, node_id="n1", venue="okx", asset="USDT", qty_1e8=qty_1e8)
    return RiskCheckPassed(event_id=f"pass-{graph_id}", ts_ns=T0, tenant=TENANT, graph_id=graph_id, node_id="n1",
                           notional_usd_1e9=0, reservations=(made,))


def test_paper_funds_are_not_available_to_a_live_order() -> None:
    books = AccountBooks(RULES)
    books.fold(fund("okx", "USDT", 1_000 * QTY))  # paper funding: is_sandbox=True
    books.fold(_graph("live", sandbox=False))
    assert books.account(TENANT, True).available("okx", "USDT") == 1_000 * QTY
    assert books.account(TENANT, False).available("okx", "USDT") == 0


def test_a_reservation_and_its_release_stay_in_the_graphs_book() -> None:
    books = AccountBooks(RULES)
    books.fold(fund("okx", "USDT", 1_000 * QTY))
    books.fold(_graph("paper", sandbox=True))
    books.fold(_graph("live", sandbox=False))
    [live] = books.fold(_passed("live", 5 * QTY))
    [paper] = books.fold(_passed("paper", 7 * QTY))
    assert live is books.account(TENANT, False) and paper is books.account(TENANT, True)
    assert (live.reserved_qty("okx", "USDT"), paper.reserved_qty("okx", "USDT")) == (5 * QTY, 7 * QTY)
    # A release names no graph: both books see it; only the one holding the reservation moves.
    books.fold(ReservationReleased(event_id="rel", ts_ns=T0, tenant=TENANT, reservation_id="res-live",
                                   qty_1e8=5 * QTY, reason="cancelled"))
    assert (live.reserved_qty("okx", "USDT"), paper.reserved_qty("okx", "USDT")) == (0, 7 * QTY)
    ended = NodeCompleted(event_id="done", ts_ns=T0, tenant=TENANT, graph_id="paper", node_id="n1", status="FILLED",
                          filled_qty_1e8=0, avg_fill_px_1e9=None)
    assert books.fold(ended) == [paper]


def test_the_kill_switch_holds_for_both_books_even_before_either_exists() -> None:
    books = AccountBooks(RULES)
    books.fold(KillSwitchEngaged(event_id="k", ts_ns=T0, tenant=TENANT, reason="stop"))
    assert books.account(TENANT, True).kill_engaged and books.account(TENANT, False).kill_engaged


def test_a_finished_graphs_children_and_fill_keys_leave_the_books_after_the_window() -> None:
    # Arrange: books that forget after 1 s of log time; graph g1 fills one of its two children and
    # ends; one fill names a child nobody allocated.
    books = AccountBooks(RULES, window_ns=10**9)
    books.fold(fund("okx", "USDT", 1_000 * QTY))
    books.fold(_graph("g1", sandbox=True))
    for event in (allocated("c1"), child("c1", "buy", QTY), allocated("c2"), child("c2", "buy", QTY)):
        books.fold(event)
    books.fold(fill("f1", "buy", QTY, PX, child_id="c1"))
    books.fold(fill("forged", "buy", QTY, PX, child_id="nobody"))
    paper = books.account(TENANT, True)
    assert set(paper.children) == {"c1", "c2"} and paper.refused == {"ev-forged": "unknown_child"}
    books.fold(GraphCompleted(event_id="gc", ts_ns=T0, tenant=TENANT, graph_id="g1", status="COMPLETED"))
    # Act: within the window nothing leaves; once the log's clock has passed it, the rest goes.
    books.fold(fund("okx", "USDT", QTY, event_id="f-early", ts_ns=T0 + 10**9 - 1))
    assert set(paper.children) == {"c1", "c2"} and paper.fill_keys
    books.fold(fund("okx", "USDT", QTY, event_id="f-late", ts_ns=T0 + 10**9))
    # Assert: its children, the fill's dedup key and the refusal are gone.
    assert paper.children == {}
    assert not paper.fill_keys and not paper.refused
    assert "g1" not in books.graph_children and "g1" not in books.graph_sandbox
