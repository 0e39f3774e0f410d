"""services/edges/bybit/book.py: the `u` rule, and recorded streams replayed through BookSync."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services.edges.bybit.adapter import BybitLinearAdapter
from services.edges.bybit.book import sequence
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_lines, fixture_path


def _delta(u: int | None) -> BookUpdate:
    return BookUpdate(symbol="BTCUSDT", snapshot=False, bids=[], asks=[], seq=u)


@pytest.mark.parametrize(
    ("last", "u", "verdict"),
    [
        (100, 101, SeqVerdict.APPLY),  # first delta after a snapshot with u=100
        (100, 100, SeqVerdict.SKIP),  # already in the snapshot
        (100, 57, SeqVerdict.SKIP),
        (100, 102, SeqVerdict.GAP),  # one message lost
        (None, 5, SeqVerdict.APPLY),
        (100, None, SeqVerdict.GAP),
    ],
)
def test_sequence_rule(last: int | None, u: int | None, verdict: SeqVerdict) -> None:
    assert sequence(SeqState(last_seq=last), _delta(u)) is verdict


def _fold(frames: list[dict]) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    """Independent rebuild: a plain dict fold of the raw JSON."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for f in frames:
        if f["type"] == "snapshot":
            bids.clear()
            asks.clear()
        for side, key in ((bids, "b"), (asks, "a")):
            for px, qty in f["data"][key]:
                if Decimal(qty) == 0:
                    side.pop(Decimal(px), None)
                else:
                    side[Decimal(px)] = Decimal(qty)
    return bids, asks


def _as_ints(side: dict[Decimal, Decimal], reverse: bool) -> list[tuple[int, int]]:
    return [(int(px * 10**9), int(q * 10**8)) for px, q in sorted(side.items(), reverse=reverse)]


def test_recorded_stream_validates_and_matches_independent_fold() -> None:
    adapter = BybitLinearAdapter()
    lines = fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")
    sync = BookSync(adapter, "BTCUSDT")
    results = []
    for line in lines:
        for item in adapter.parse(line):
            if isinstance(item, BookUpdate):
                results.append(sync.apply(item))
    assert results == [SyncResult.APPLIED, SyncResult.APPLIED]
    assert sync.failures == 0 and not sync.stale
    assert sync.seq.last_seq == 10132541
    bids, asks = _fold([json.loads(ln) for ln in lines if '"topic"' in ln])
    assert sync.book.bids() == _as_ints(bids, reverse=True)
    assert sync.book.asks() == _as_ints(asks, reverse=False)
    assert sync.book.depth() == (50, 50)  # Bybit keeps exactly 50: the delta's adds balance its deletes


def test_synthetic_pair_applies() -> None:
    adapter = BybitLinearAdapter()
    sync = BookSync(adapter, "BTCUSDT")
    for name in ("ws_orderbook_snapshot.json", "ws_orderbook_delta.json"):
        (update,) = adapter.parse(fixture_path("venues", "bybit", name).read_text())
        assert sync.apply(update) is SyncResult.APPLIED  # type: ignore[arg-type]
    assert sync.book.bids() == [(27_450_000_000_000, 40_000_000), (27_449_500_000_000, 100_000_000)]
    assert sync.book.asks() == [(27_451_500_000_000, 90_000_000)]


def test_lost_delta_is_a_gap_and_a_snapshot_recovers() -> None:
    adapter = BybitLinearAdapter()
    _, snap_line, delta_line = fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")
    sync = BookSync(adapter, "BTCUSDT")
    (snap,) = adapter.parse(snap_line)
    assert sync.apply(snap) is SyncResult.APPLIED  # type: ignore[arg-type]
    lost = json.loads(delta_line)
    lost["data"]["u"] += 1  # as if u=10132541 never arrived
    (delta,) = adapter.parse(json.dumps(lost))
    assert sync.apply(delta) is SyncResult.GAP  # type: ignore[arg-type]
    assert sync.stale and "gap" in sync.last_failure
    (snap,) = adapter.parse(snap_line)
    assert sync.apply(snap) is SyncResult.APPLIED  # type: ignore[arg-type]
    (delta,) = adapter.parse(delta_line)
    assert sync.apply(delta) is SyncResult.APPLIED  # type: ignore[arg-type]
    assert not sync.stale


def test_restart_push_with_u_1_replaces_the_book() -> None:
    adapter = BybitLinearAdapter()
    _, snap_line, delta_line = fixture_lines("venues", "bybit", "ws_orderbook50_BTCUSDT.jsonl")
    sync = BookSync(adapter, "BTCUSDT")
    (snap,) = adapter.parse(snap_line)
    sync.apply(snap)  # type: ignore[arg-type]
    restart = json.loads(delta_line)
    restart["data"]["u"] = 1
    (update,) = adapter.parse(json.dumps(restart))
    assert sync.apply(update) is SyncResult.APPLIED  # type: ignore[arg-type]
    bids, asks = _fold([{"type": "snapshot", "data": restart["data"]}])
    assert sync.book.bids() == _as_ints(bids, reverse=True)
    assert sync.book.asks() == _as_ints(asks, reverse=False)
    assert sync.seq.last_seq == 1
