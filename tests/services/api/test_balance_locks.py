"""Balances show what open orders hold: a resting order's reservation (the risk account fold of
the log) is `locked_qty_1e8` on its venue's asset in /v1/balances and the fiat rows of
/v1/positions/unified, `available_qty_1e8` is the rest, and a cancel gives it back."""

from __future__ import annotations

from typing import Any

from events import AnyEvent
from events.execution import ChildAcked
from events.risk import ReservationReleased, RiskCheckPassed
from projections.follower import StreamFollower
from services.risk.money import cost_usd_1e9, usd_to_quote_qty_up
from tests.services.trading.test_policies import P, Desk, desk  # noqa: F401  (the fixture)


async def balance_rows(desk: Desk) -> tuple[dict[tuple[str, str], dict[str, Any]], dict[str, dict[str, Any]]]:
    r = await desk.client.get("/v1/balances")
    assert r.status_code == 200, r.text
    u = await desk.client.get("/v1/positions/unified")
    assert u.status_code == 200, u.text
    return (
        {(b["venue"], b["asset"]): b for b in r.json()["balances"]},
        {p["id"]: p for p in u.json()["positions"]},
    )


async def test_a_resting_buy_locks_its_quote_until_it_is_cancelled(desk: Desk) -> None:
    risk: list[tuple[int, AnyEvent]] = []
    watcher = StreamFollower(desk.bus, "LEDGER", ["risk.>"], lambda e, seq: risk.append((seq, e)))
    await watcher.start()
    try:
        # Arrange: 0.3 BTC bid far under the market rests on a venue and holds its quote
        qty, limit = 30_000_000, 90_000 * P
        graph_id = await desk.submit(qty_1e8=qty, order_type={"limit": {"price_1e9": limit}},
                                     execution={"policy": "passive"})
        await desk.until("the child acked", lambda: bool(desk.events(graph_id, ChildAcked)))
        await watcher.wait_until(lambda: any(isinstance(e, RiskCheckPassed) and e.graph_id == graph_id for _, e in risk))
        [(pass_seq, passed)] = [(s, e) for s, e in risk if isinstance(e, RiskCheckPassed) and e.graph_id == graph_id]
        [held] = passed.reservations
        await desk.api.ledger_follower.wait_for(pass_seq)
        await desk.api.positions.wait_for(pass_seq)  # the balances view has the funding before it

        # Act
        balances, unified = await balance_rows(desk)

        # Assert: the whole reservation shows as locked on its (venue, quote), the rest is available
        [child] = desk.events(graph_id, ChildAcked)
        assert (held.venue, held.asset) == (child.venue, "USDT")
        assert held.qty_1e8 >= usd_to_quote_qty_up(cost_usd_1e9(limit, qty))  # at least the bid's cost
        row = balances[(held.venue, held.asset)]
        assert row["locked_qty_1e8"] == held.qty_1e8
        assert row["available_qty_1e8"] == row["qty_1e8"] - held.qty_1e8 >= 0
        fiat = unified[f"sandbox/{held.venue}/{held.asset}"]
        assert (fiat["locked_qty_1e8"], fiat["available_qty_1e8"]) == (held.qty_1e8, row["available_qty_1e8"])
        others = [b for k, b in balances.items() if k != (held.venue, held.asset)]
        assert others and all(b["locked_qty_1e8"] == 0 and b["available_qty_1e8"] == b["qty_1e8"] for b in others)

        # Act: cancel; the end of the node releases the reservation
        r = await desk.client.delete(f"/v1/execution_graphs/{graph_id}")
        assert r.status_code == 200, r.text
        await watcher.wait_until(
            lambda: any(isinstance(e, ReservationReleased) and e.reservation_id == held.reservation_id for _, e in risk)
        )
        release_seq = max(s for s, e in risk if isinstance(e, ReservationReleased))
        await desk.api.ledger_follower.wait_for(release_seq)
        balances, unified = await balance_rows(desk)

        # Assert: nothing is held any more; the balance itself never moved (nothing filled)
        after = balances[(held.venue, held.asset)]
        assert (after["qty_1e8"], after["locked_qty_1e8"], after["available_qty_1e8"]) == (row["qty_1e8"], 0, row["qty_1e8"])
        assert unified[f"sandbox/{held.venue}/{held.asset}"]["locked_qty_1e8"] == 0
    finally:
        await watcher.stop()
