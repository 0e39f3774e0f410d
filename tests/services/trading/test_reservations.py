"""Balance reservations over the whole event path: reserved before the first child, and what
fills did not consume released when the node ends, so the balance is free for the next order."""

from __future__ import annotations

from events import AnyEvent
from events.risk import ReservationMade, ReservationReleased, RiskCheckPassed
from projections.follower import StreamFollower
from services.refdata import instrument_rules
from services.risk import AccountState, replay, rules_book
from tests.services.trading.test_policies import FINAL, P, Desk, desk  # noqa: F401  (the fixture)

TENANT = "default"


async def account_after(desk: Desk, graph_id: str, released: int) -> tuple[AccountState, list[AnyEvent]]:
    """Wait until `released` releases of this graph are on the log; return the account folded
    from the whole log and this graph's reservation events."""
    made: dict[str, str] = {}
    mine: list[AnyEvent] = []
    standalone: list[ReservationMade] = []

    def see(event: AnyEvent, seq: int) -> None:
        if isinstance(event, RiskCheckPassed) and event.graph_id == graph_id:
            # The router's pass carries the reservations it makes (no standalone events).
            for res in event.reservations:
                made[res.reservation_id] = graph_id
                mine.append(res)
        elif isinstance(event, ReservationMade) and event.graph_id == graph_id:
            standalone.append(event)
        elif isinstance(event, ReservationReleased) and event.reservation_id in made:
            mine.append(event)

    watcher = StreamFollower(desk.bus, "LEDGER", ["risk.>"], see)
    await watcher.start()
    try:
        await watcher.wait_until(
            lambda: sum(isinstance(e, ReservationReleased) for e in mine) >= released, timeout=20
        )
    finally:
        await watcher.stop()
    assert standalone == []  # one append per decision: the pass carries the reservations
    # route.>: the children the fills name (a fill for a child the ledger does not know is refused)
    events = [d.event async for d in desk.bus.replay("LEDGER", ["exec.>", "risk.>", "ord.>", "route.>"])]
    return replay(TENANT, [e for e in events if e.tenant == TENANT], rules_book(instrument_rules())), mine


async def test_a_cancelled_resting_order_gives_its_whole_reservation_back(desk: Desk) -> None:
    # Arrange: a buy far under the market rests and holds its quote balance
    graph_id = await desk.submit(qty_1e8=30_000_000, order_type={"limit": {"price_1e9": 90_000 * P}},
                                 execution={"policy": "passive"})
    await desk.api.ledger_follower.wait_until(
        lambda: any(n.status == "WORKING" for n in getattr(desk.api.ledger.graphs.get(graph_id), "nodes", {}).values())
    )
    # Act
    r = await desk.client.delete(f"/v1/execution_graphs/{graph_id}")
    assert r.status_code == 200, r.text
    account, mine = await account_after(desk, graph_id, released=1)
    # Assert: every reserved unit came back, with the cancel as the reason
    made = [e for e in mine if isinstance(e, ReservationMade)]
    released = [e for e in mine if isinstance(e, ReservationReleased)]
    assert made and sum(e.qty_1e8 for e in made) == sum(e.qty_1e8 for e in released)
    assert {e.reason for e in released} == {"cancelled"}
    assert account.node_reservations(graph_id) == []
    venue, asset = made[0].venue, made[0].asset
    assert account.available(venue, asset) == account.balance(venue, asset) - account.reserved_qty(venue, asset)
    assert account.reserved_qty(venue, asset) == 0


async def test_a_filled_market_order_releases_what_its_fills_did_not_spend(desk: Desk) -> None:
    # Arrange / Act: 0.1 BTC, within binance's top level; the reservation is sized at the collar
    graph_id = await desk.submit(qty_1e8=10_000_000)
    status = await desk.until_final(graph_id)
    assert status["status"] == "COMPLETED", status
    account, mine = await account_after(desk, graph_id, released=1)
    # Assert: the fills consumed part, the end released the rest; nothing stays reserved
    made = [e for e in mine if isinstance(e, ReservationMade)]
    released = [e for e in mine if isinstance(e, ReservationReleased)]
    assert made and released and {e.reason for e in released} == {"completed"}
    assert 0 < sum(e.qty_1e8 for e in released) < sum(e.qty_1e8 for e in made)
    assert account.node_reservations(graph_id) == []
    assert all(account.reserved_qty(e.venue, e.asset) == 0 for e in made)
