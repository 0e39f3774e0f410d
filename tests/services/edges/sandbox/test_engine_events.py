"""services/edges/sandbox/engine.py, `on_event`: the md.* events drive the simulator as the raw
calls do, on our receive clock, and other venues' events are ignored."""

from __future__ import annotations

import msgspec

from events.market import BookDeltaBatch, BookSnapshot, FundingRateUpdated, TradePrinted, VenueStatusChanged
from services.edges.sandbox.orders import Filled, Rejected
from tests.services.edges.sandbox.helpers import LAT, PX, SYM, VENUE, Q, order, venue


def snap(venue_name: str = VENUE, recv: int = 10) -> BookSnapshot:
    return BookSnapshot(
        event_id="s",
        ts_ns=recv + 5,
        venue=venue_name,
        symbol=SYM,
        bids=[(99 * PX, 5 * Q)],
        asks=[(101 * PX, 5 * Q), (102 * PX, 1 * Q)],
        ts_recv_ns=recv,
    )


def test_snapshot_delta_and_trade_events_drive_books_and_resting_fills() -> None:
    # Arrange
    v = venue(max_book_age_ns=100)
    v.on_event(snap())
    v.submit(order("r", "buy", 3 * Q, 100 * PX), 20)
    # Act
    by_trade = v.on_event(
        TradePrinted(
            event_id="t",
            ts_ns=0,
            venue=VENUE,
            symbol=SYM,
            px_1e9=100 * PX,
            qty_1e8=Q,
            aggressor="sell",
            ts_recv_ns=20 + LAT,
        )
    )
    by_delta = v.on_event(
        BookDeltaBatch(
            event_id="d", ts_ns=0, venue=VENUE, symbol=SYM, bids=[], asks=[(100 * PX, Q)], ts_recv_ns=30 + LAT
        )
    )
    # Assert
    assert [(f.qty_1e8, f.ts_ns) for f in by_trade if isinstance(f, Filled)] == [(Q, 20 + LAT)]
    assert [(f.qty_1e8, f.ts_ns) for f in by_delta if isinstance(f, Filled)] == [(Q, 30 + LAT)]


def test_snapshot_truncate_depth_drops_levels_beyond_it() -> None:
    v = venue()
    v.on_event(msgspec.structs.replace(snap(), truncate_depth=1))
    out = v.submit(order("m", "buy", 6 * Q), 20)
    assert [(f.px_1e9, f.qty_1e8) for f in out if isinstance(f, Filled)] == [(101 * PX, 5 * Q)]


def test_venue_status_marks_books_stale_and_other_venues_are_ignored() -> None:
    v = venue()
    v.on_event(snap())
    assert v.on_event(snap(venue_name="okx")) == []
    v.on_event(VenueStatusChanged(event_id="v", ts_ns=0, venue=VENUE, state="resyncing", symbol=SYM))
    stale = v.submit(order("a", "buy", Q), 20)
    v.on_event(snap(recv=30))
    fresh = v.submit(order("b", "buy", Q), 40)
    assert isinstance(stale[0], Rejected) and stale[0].code == "stale_book"
    assert [type(o).__name__ for o in fresh] == ["Acked", "Filled"]


def test_funding_moves_no_book_and_yields_no_outcome() -> None:
    v = venue()
    v.on_event(snap())
    funding = FundingRateUpdated(event_id="f", ts_ns=0, venue=VENUE, symbol=SYM, rate_1e9=100_000,
                                 interval_ns=8 * 3_600 * 10**9, next_funding_ns=10**18)
    assert v.on_event(funding) == []  # type: ignore[arg-type]
    assert [type(o).__name__ for o in v.submit(order("a", "buy", Q), 20)] == ["Acked", "Filled"]
