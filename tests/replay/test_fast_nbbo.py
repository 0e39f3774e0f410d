"""The fast book + NBBO fold of a recording (replay/fast_nbbo.py), with its level loop in Python
and in C (replay/nbbo_kernel.c, built with zig cc), gives the NBBO that `NbboFold` over the
decoded events gives, event for event: on every shared venue fixture imported through the real
parsers, on synthetic recordings with several venues, status drops, fresh snapshots and truncated
depth, and on a seeded random market of several venues and symbols on a narrow price grid
(crossed books, deletes of absent and best prices, deltas before a snapshot, partial drops)."""

from __future__ import annotations

import ctypes
import random
from pathlib import Path

import pytest

from events import new_event_id
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted, VenueStatusChanged
from replay.fast_nbbo import Change, fold_recording_nbbo, nbbo_changes_of
from replay.nbbo_compiled import _build, kernel
from replay.importers import import_fixtures
from replay.recording import MdEvent, RecordingWriter, read_recording, write_recording
from replay.synthetic import synthetic_l2
from replay.synthetic_recording import write_synthetic
from tests.shared_fixtures import FIXTURES, fixture_path


def both(path: Path) -> tuple[list[list[Change]], list[Change]]:
    """([the Python loop's changes, the C loop's], `NbboFold`'s); the C loop must build here."""
    fast: list[list[Change]] = [[], []]
    reference: list[Change] = []
    rows = nbbo_changes_of(read_recording(path), reference)
    for compiled, changes in zip((False, True), fast):
        assert fold_recording_nbbo(path, changes, compiled=compiled) == rows
    return fast, reference


def test_the_compiled_kernel_builds_here(tmp_path: Path) -> None:
    # `make install` brings ziglang; without it every case below fails, never skips. A fresh build
    # (not the cached library of an earlier run) loads and runs.
    assert kernel() is not None
    _build(tmp_path / "kernel.so")
    lib = ctypes.CDLL(str(tmp_path / "kernel.so"))
    lib.cb_new.restype = ctypes.c_void_p
    lib.cb_free.argtypes = [ctypes.c_void_p]
    state = lib.cb_new()
    assert state
    lib.cb_free(state)


async def test_the_shared_fixtures_give_the_same_nbbo_changes(tmp_path: Path) -> None:
    fixture_path("venues")
    out = tmp_path / "fixtures.parquet"
    with RecordingWriter(out) as writer:
        await import_fixtures(FIXTURES / "venues", writer)
    fast, reference = both(out)
    assert len(reference) > 100 and len({s for _, s, _ in reference}) > 3
    assert fast == [reference, reference]


@pytest.mark.parametrize("venues", [("binance",), ("binance", "okx", "bybit")])
def test_a_synthetic_recording_gives_the_same_nbbo_changes(tmp_path: Path, venues: tuple[str, ...]) -> None:
    path = tmp_path / "synthetic.parquet"
    write_synthetic(path, 150_000, seed=11, venues=venues, snapshot_every=40_000)  # 3 row groups
    fast, reference = both(path)
    assert len(reference) > 10_000 and fast == [reference, reference]


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
    assert fast == [reference, reference]


def random_market(n: int, seed: int) -> list[MdEvent]:
    """Three venues x three symbols (one a perp) on a 12-tick grid: books cross often, deltas delete
    prices a book does not hold and its best, some arrive before any snapshot or while stale;
    drops cover one symbol, one instrument type or the whole venue; snapshots reset books."""
    rng = random.Random(seed)
    venues, symbols = ("binance", "okx", "bybit"), ("BTC-USDT", "ETH-USDT", "BTC-USDT-PERP")
    tick = 10**8

    def levels(k: int, low: int) -> list[tuple[int, int]]:  # bids from tick 0, asks from 4: they overlap
        return [((100 + low + rng.randrange(8)) * tick, rng.choice((0, 0, 1, 2, 5)) * 10**7) for _ in range(k)]

    out: list[MdEvent] = []
    for i in range(n):
        ts, venue, symbol, roll = 10**18 + i * 1_000, rng.choice(venues), rng.choice(symbols), rng.random()
        if roll < 0.04:
            out.append(BookSnapshot(event_id=new_event_id(), ts_ns=ts, venue=venue, symbol=symbol,
                                    bids=[(p, q) for p, q in levels(rng.randrange(6), 0) if q],
                                    asks=[(p, q) for p, q in levels(rng.randrange(6), 4) if q]))
        elif roll < 0.05:
            which = rng.randrange(4)
            out.append(VenueStatusChanged(event_id=new_event_id(), ts_ns=ts, venue=venue,
                                          state=rng.choice(("down", "stale", "resyncing", "connected")),
                                          symbol=symbol if which == 0 else "",
                                          instrument_type=("", "", "spot", "perp")[which]))
        elif roll < 0.09:
            out.append(TradePrinted(event_id=new_event_id(), ts_ns=ts, venue=venue, symbol=symbol,
                                    px_1e9=100 * tick, qty_1e8=10**6, aggressor="buy"))
        else:
            out.append(BookDeltaBatch(event_id=new_event_id(), ts_ns=ts, venue=venue, symbol=symbol,
                                      bids=levels(rng.randrange(4), 0), asks=levels(rng.randrange(4), 4),
                                      truncate_depth=rng.choice((0,) * 20 + (1, 3))))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_random_crossing_market_gives_the_same_nbbo_changes(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "random.parquet"
    write_recording(path, random_market(12_000, seed), row_group_rows=1_000)
    fast, reference = both(path)
    keys = [key for _, _, key in reference]
    assert any(key is None for key in keys) and any(key and len(key[4]) == 3 for key in keys)
    assert len({symbol for _, symbol, _ in reference}) == 3 and len(reference) > 1_500
    assert fast == [reference, reference]
