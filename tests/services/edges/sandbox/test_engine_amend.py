"""services/edges/sandbox/engine.py, amend: native decrease keeps priority, anything else is a
cancel-replace at the back of the queue; retries never create a second order."""

from __future__ import annotations

from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.ids import replacement_client_order_id, sandbox_venue_order_id
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from tests.services.edges.sandbox.helpers import LAT, PX, SYM, VENUE, Q, book, order, venue

BIDS = [(99 * PX, 5 * Q), (98 * PX, 4 * Q)]
ASKS = [(101 * PX, 5 * Q), (102 * PX, 5 * Q)]
T0 = 1_000_000
T1 = T0 + 10 * LAT
VOI = sandbox_venue_order_id(VENUE, "r")


def rest(native_amend: bool = True) -> SandboxVenue:
    v = venue(native_amend=native_amend)
    book(v, BIDS, ASKS)
    v.submit(order("r", "buy", 5 * Q, 99 * PX), T0)
    v.on_trade(SYM, 99 * PX, 2 * Q, "sell", T0 + LAT)  # ahead 5 -> 3
    return v


def test_size_decrease_is_native_and_keeps_queue_priority() -> None:
    # Arrange
    v = rest()
    # Act
    out = v.amend("r", 3 * Q, None, T1)
    # Assert
    assert out == [Amended("r", VOI, 3 * Q, 99 * PX, "native_atomic", None, T1 + LAT)]
    o = v.open_orders()[0]
    assert (o.client_order_id, o.venue_order_id, o.qty_1e8, o.queue_ahead_1e8) == ("r", VOI, 3 * Q, 3 * Q)


def test_price_change_is_cancel_replace_at_the_back_of_the_new_level() -> None:
    # Arrange
    v = rest()
    new = replacement_client_order_id("r", VENUE)
    ts = T1 + LAT
    # Act
    out = v.amend("r", 5 * Q, 98 * PX, T1)
    # Assert
    assert out == [
        Cancelled("r", VOI, 0, 5 * Q, "replaced", ts),
        Amended("r", VOI, 5 * Q, 98 * PX, "cancel_replace", new, ts),
        Acked(new, sandbox_venue_order_id(VENUE, new), ts),
    ]
    o = v.open_orders()[0]
    assert (o.client_order_id, o.limit_px_1e9, o.qty_1e8, o.queue_ahead_1e8) == (new, 98 * PX, 5 * Q, 4 * Q)


def test_size_increase_loses_priority() -> None:
    v = rest()
    out = v.amend("r", 6 * Q, 99 * PX, T1, new_client_order_id="r2")
    assert [type(o) for o in out] == [Cancelled, Amended, Acked]
    assert out[1] == Amended("r", VOI, 6 * Q, 99 * PX, "cancel_replace", "r2", T1 + LAT)
    o = v.open_orders()[0]
    assert (o.client_order_id, o.qty_1e8, o.queue_ahead_1e8) == ("r2", 6 * Q, 5 * Q)


def test_replacement_carries_only_the_unfilled_quantity() -> None:
    v = rest()
    v.on_trade(SYM, 99 * PX, 4 * Q, "sell", T0 + LAT + 1)  # 3 ahead, then 1 for us
    out = v.amend("r", 4 * Q, 98 * PX, T1, new_client_order_id="r2")
    assert out[0] == Cancelled("r", VOI, 1 * Q, 4 * Q, "replaced", T1 + LAT)
    assert v.open_orders()[0].qty_1e8 == 3 * Q


def test_marketable_replacement_takes_liquidity_as_taker() -> None:
    v = rest()
    out = v.amend("r", 5 * Q, 101 * PX, T1, new_client_order_id="r2")
    taken = [(f.client_order_id, f.px_1e9, f.qty_1e8, f.liquidity) for f in out if isinstance(f, Filled)]
    assert taken == [("r2", 101 * PX, 5 * Q, "taker")]
    assert v.open_orders() == []


def test_venue_without_native_amend_replaces_even_a_decrease() -> None:
    v = rest(native_amend=False)
    out = v.amend("r", 3 * Q, None, T1, new_client_order_id="r2")
    assert out[1] == Amended("r", VOI, 3 * Q, 99 * PX, "cancel_replace", "r2", T1 + LAT)
    assert v.open_orders()[0].queue_ahead_1e8 == 5 * Q


def test_retried_cancel_replace_returns_the_first_answer() -> None:
    v = rest()
    first = v.amend("r", 5 * Q, 98 * PX, T1)
    again = v.amend("r", 5 * Q, 98 * PX, T1 + 99)
    different = v.amend("r", 4 * Q, 97 * PX, T1 + 99)
    assert again == first
    assert len(v.open_orders()) == 1
    assert different == [Rejected("r", "not_open", "client_order_id='r' is replaced", T1 + 99 + LAT)]


def test_amend_below_filled_or_of_an_unknown_order_is_rejected() -> None:
    v = rest()
    v.on_trade(SYM, 99 * PX, 5 * Q, "sell", T0 + LAT + 1)  # we get 2
    below = v.amend("r", 2 * Q, None, T1)
    unknown = v.amend("ghost", 1 * Q, None, T1)
    assert below == [
        Rejected("r", "invalid_order", f"new_qty_1e8={2 * Q} filled_qty_1e8={2 * Q} new_px_1e9={99 * PX}", T1 + LAT)
    ]
    assert unknown == [Rejected("ghost", "unknown_order", "client_order_id='ghost' is unknown", T1 + LAT)]
    assert v.open_orders()[0].qty_1e8 == 5 * Q


def test_replace_on_a_stale_book_is_refused_and_the_order_stays() -> None:
    v = rest()
    v.set_stale(SYM)
    out = v.amend("r", 5 * Q, 98 * PX, T1)
    assert [o.code for o in out if isinstance(o, Rejected)] == ["stale_book"]
    assert v.open_orders()[0].client_order_id == "r"


def test_replacement_id_already_in_use_is_refused() -> None:
    v = rest()
    v.submit(order("taken", "sell", 1 * Q, 110 * PX), T0)
    out = v.amend("r", 5 * Q, 98 * PX, T1, new_client_order_id="taken")
    assert out == [Rejected("r", "invalid_order", "new_client_order_id='taken' is already in use", T1 + LAT)]
