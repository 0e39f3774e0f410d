"""The fast book + NBBO fold of a recording (replay/fast_nbbo.py) gives the NBBO that
`NbboFold` over the decoded events gives, event for event: on every shared venue fixture imported
through the real parsers, and on synthetic recordings with several venues, status drops, fresh
snapshots and truncated depth."""

from __future__ import annotations

from pathlib import Path

import pytest

from events import new_event_id
from events.market import BookDeltaBatch, BookSnapshot, VenueStatusChanged
from replay.fast_nbbo import Change, fold_recording_nbbo, nbbo_changes_of
from replay.importers import import_fixtures
from replay.recording import MdEvent, RecordingWriter, read_recording, write_recording
from replay.synthetic import synthetic_l2
from replay.synthetic_recording import write_synthetic
from tests.shared_fixtures import FIXTURES, fixture_path


def both(path: Path) -> tuple[list[Change], list[Change]]:
    fast: list[Change] = []
    reference: list[Change] = []
    rows = fold_recording_nbbo(path, fast)
    assert nbbo_changes_of(read_recording(path), reference) == rows
    return fast, reference


async def test_the_shared_fixtures_give_the_same_nbbo_changes(tmp_path: Path) -> None:
    fixture_path("venues")
    out = tmp_path / "fixtures.parquet"
    with RecordingWriter(out) as writer:
        await import_fixtures(FIXTURES / "venues", writer)
    fast, reference = both(out)
    assert len(reference) > 100 and len({s for _, s, _ in reference}) > 3
    assert fast == reference


@pytest.mark.parametrize("venues", [("binance",), ("binance", "okx", "bybit")])
def test_a_synthetic_recording_gives_the_same_nbbo_changes(tmp_path: Path, venues: tuple[str, ...]) -> None:
    path = tmp_path / "synthetic.parquet"
    write_synthetic(path, 150_000, seed=11, venues=venues, snapshot_every=40_000)  # 3 row groups
    fast, reference = both(path)
    assert len(reference) > 10_000 and fast == reference


def with_drops(events: list[MdEvent]) -> list[MdEvent]:
    """Every 700th event a venue drops (its books go stale), every 900th it sends a new snapshot;
    every 500th delta truncates the book to 3 levels."""
    out: list[MdEvent] = []
    for n, event in enumerate(events):
        if n % 700 == 350:
            venue = ("binance", "okx")[n // 700 % 2]
            out.append(VenueStatusChanged(event_id=new_event_id(), ts_ns=event.ts_ns, venue=venue, state="down",
                                          reason="test drop"))
        if n % 900 == 450:
            venue = ("binance", "okx")[n // 900 % 2]
            out.append(BookSnapshot(event_id=new_event_id(), ts_ns=event.ts_ns, venue=venue, symbol="BTC-USDT",
                                    bids=[(99_999 * 10**9 - k * 10**8, 10**8) for k in range(5)],
                                    asks=[(100_001 * 10**9 + k * 10**8, 10**8) for k in range(5)]))
        if isinstance(event, BookDeltaBatch) and n % 500 == 250:
            event = BookDeltaBatch(event_id=event.event_id, ts_ns=event.ts_ns, venue=event.venue, symbol=event.symbol,
                                   bids=event.bids, asks=event.asks, truncate_depth=3)
        out.append(event)  # type: ignore[arg-type]
    return out


def test_status_drops_snapshots_and_truncation_give_the_same_nbbo_changes(tmp_path: Path) -> None:
    path = tmp_path / "drops.parquet"
    events = with_drops(list(synthetic_l2(events=20_000, seed=4)))  # type: ignore[arg-type]
    write_recording(path, events, row_group_rows=4_096)
    fast, reference = both(path)
    assert any(key is None for _, _, key in reference)  # both venues stale at once at least once
    assert fast == reference
