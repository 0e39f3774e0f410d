"""projections/market.py NbboFold: the NBBO key kept current from the venues' tops of book equals
the NBBO computed from scratch after every event, and a change is reported exactly when it happens."""

from __future__ import annotations

from events import AnyEvent
from events.market import BookSnapshot, VenueStatusChanged
from projections.market import MarketBooks, NbboFold
from replay.synthetic import synthetic_l2


def test_the_incremental_nbbo_equals_the_nbbo_recomputed_after_every_event() -> None:
    # Arrange: a synthetic market on three venues; one goes down mid-way and comes back.
    events: list[AnyEvent] = list(synthetic_l2(events=20_000, seed=5, venues=("binance", "okx", "bybit")))
    down_ts = events[10_000].ts_ns
    events.insert(10_000, VenueStatusChanged(event_id="down", ts_ns=down_ts, venue="okx", state="disconnected"))
    events.insert(12_000, BookSnapshot(event_id="back", ts_ns=events[12_000].ts_ns, venue="okx", symbol="BTC-USDT",
                                       bids=[(90_000 * 10**9, 10**8)], asks=[(110_000 * 10**9, 10**8)]))
    fold, reference = NbboFold(), MarketBooks()
    changes = 0
    # Act / Assert
    before = None
    for event in events:
        changed = fold.apply(event)
        reference.apply(event)
        expected = reference.nbbo("BTC-USDT")
        key = expected.key if expected else None
        assert fold.key("BTC-USDT") == key, event.event_id
        assert changed == (key != before), event.event_id  # a change is reported exactly when there is one
        before = key
        changes += changed
    assert 1_000 < changes < 19_000  # some events changed the NBBO, others did not
