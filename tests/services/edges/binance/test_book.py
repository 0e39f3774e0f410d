"""services/edges/binance/book.py: the sequence rules, and the recorded chains through BookSync.

The expected books come from a plain dict fold of the raw JSON written here (Decimal keys,
no L2Book, no BookSync), so a bug in the adapter or the framework cannot hide in both.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.edges.binance.adapter import BinanceBase, BinanceSpot, BinanceUsdm
from services.edges.binance.book import spot_sequence, usdm_sequence
from services.edges.book import RawLevel
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_json, fixture_lines

APPLY, SKIP, GAP = SeqVerdict.APPLY, SeqVerdict.SKIP, SeqVerdict.GAP


def delta(first: int | None, final: int | None, prev: int | None = None) -> BookUpdate:
    return BookUpdate("BTCUSDT", False, [RawLevel(1, 1)], [], seq=final, prev_seq=prev, first_seq=first)


def after_snapshot(last: int) -> SeqState:
    return SeqState(last_seq=last, applied_since_snapshot=0)


def chained(last: int) -> SeqState:
    return SeqState(last_seq=last, applied_since_snapshot=7)


# --- spot rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "final", "verdict"),
    [
        (95, 100, SKIP),  # u <= lastUpdateId: already in the snapshot
        (90, 99, SKIP),
        (99, 105, APPLY),  # U <= last+1 <= u, straddling the snapshot
        (101, 101, APPLY),  # exactly the next id
        (101, 120, APPLY),
        (102, 120, GAP),  # snapshot older than the stream: updates 101 are lost, refetch
    ],
)
def test_spot_first_delta_after_snapshot(first: int, final: int, verdict: SeqVerdict) -> None:
    assert spot_sequence(after_snapshot(100), delta(first, final)) is verdict


@pytest.mark.parametrize(
    ("first", "final", "verdict"),
    [
        (101, 104, APPLY),  # U == previous u + 1
        (102, 104, GAP),  # one update id missing
        (100, 104, GAP),  # overlapping is not continuous either
        (95, 100, SKIP),  # a repeat of what is applied
        (97, 99, SKIP),
    ],
)
def test_spot_later_deltas(first: int, final: int, verdict: SeqVerdict) -> None:
    assert spot_sequence(chained(100), delta(first, final)) is verdict


def test_spot_missing_ids_or_snapshot_is_a_gap() -> None:
    assert spot_sequence(SeqState(), delta(1, 2)) is GAP
    assert spot_sequence(chained(100), delta(None, 104)) is GAP
    assert spot_sequence(chained(100), delta(101, None)) is GAP


# --- USD-M rule -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "final", "prev", "verdict"),
    [
        (80, 99, 70, SKIP),  # u < lastUpdateId
        (90, 100, 80, APPLY),  # u == lastUpdateId still straddles it
        (95, 130, 90, APPLY),  # U <= last <= u; pu is not checked for the first one
        (100, 130, 90, APPLY),
        (101, 130, 100, APPLY),  # pu == lastUpdateId: continues the snapshot exactly
        (101, 130, 99, GAP),  # U > lastUpdateId and pu != lastUpdateId: updates were lost
    ],
)
def test_usdm_first_delta_after_snapshot(first: int, final: int, prev: int, verdict: SeqVerdict) -> None:
    assert usdm_sequence(after_snapshot(100), delta(first, final, prev)) is verdict


@pytest.mark.parametrize(
    ("first", "final", "prev", "verdict"),
    [
        (140, 150, 100, APPLY),  # pu == previous u; U may jump (it does on the real venue)
        (101, 150, 100, APPLY),
        (101, 150, 99, GAP),  # pu is not the last applied u
        (160, 170, 150, GAP),  # a whole frame was lost
        (101, 150, None, GAP),  # a USD-M frame without pu cannot be chained
        (90, 100, 80, SKIP),  # the frame already applied, sent again
    ],
)
def test_usdm_later_deltas(first: int, final: int, prev: int | None, verdict: SeqVerdict) -> None:
    assert usdm_sequence(chained(100), delta(first, final, prev)) is verdict


# --- recorded chains --------------------------------------------------------------------------

Side = dict[Decimal, Decimal]


class Recording:
    def __init__(self, adapter: BinanceBase, folder: str, symbol: str) -> None:
        self.adapter = adapter
        self.symbol = symbol
        self.snapshot: dict[str, Any] = fixture_json("venues", folder, f"rest_depth_snapshot_{symbol}.json")
        self.lines = fixture_lines("venues", folder, f"ws_depth_diff_{symbol}.jsonl")
        self.frames: list[dict[str, Any]] = [json.loads(line)["data"] for line in self.lines]
        self.usdm = isinstance(adapter, BinanceUsdm)

    def snapshot_bytes(self) -> bytes:
        return json.dumps(self.snapshot).encode()


@pytest.fixture(params=["spot", "usdm"])
def rec(request: pytest.FixtureRequest) -> Recording:
    if request.param == "spot":
        return Recording(BinanceSpot(), "binance_spot", "NKNUSDT")
    return Recording(BinanceUsdm(), "binance_usdm", "SUSHIUSDT")


def fold(snapshot: dict[str, Any], frames: list[dict[str, Any]], usdm: bool) -> tuple[Side, Side, int]:
    """Independent rebuild: start from the snapshot, skip frames it already holds, set sizes."""
    bids = {Decimal(p): Decimal(q) for p, q in snapshot["bids"]}
    asks = {Decimal(p): Decimal(q) for p, q in snapshot["asks"]}
    last = snapshot["lastUpdateId"]
    for d in frames:
        if d["u"] < last or (not usdm and d["u"] == last):
            continue
        for side, key in ((bids, "b"), (asks, "a")):
            for p, q in d[key]:
                if Decimal(q) == 0:
                    side.pop(Decimal(p), None)
                else:
                    side[Decimal(p)] = Decimal(q)
        last = d["u"]
    return bids, asks, last


def as_ints(side: Side, reverse: bool) -> list[tuple[int, int]]:
    return [(int(p.scaleb(9)), int(q.scaleb(8))) for p, q in sorted(side.items(), reverse=reverse)]


def assert_book_equals(sync: BookSync, bids: Side, asks: Side) -> None:
    assert sync.book.bids() == as_ints(bids, reverse=True)
    assert sync.book.asks() == as_ints(asks, reverse=False)


def feed(sync: BookSync, rec: Recording, lines: list[str]) -> list[SyncResult]:
    return [sync.apply(upd) for line in lines for upd in rec.adapter.parse(line) if isinstance(upd, BookUpdate)]


EXPECTED_APPLIED = {"NKNUSDT": 149, "SUSHIUSDT": 252}


def test_recorded_chain_snapshot_first(rec: Recording) -> None:
    sync = BookSync(rec.adapter, rec.symbol)
    assert sync.apply(rec.adapter.parse_snapshot(rec.snapshot_bytes(), rec.symbol)) is SyncResult.APPLIED
    results = feed(sync, rec, rec.lines)
    assert sync.failures == 0, sync.last_failure
    assert results.count(SyncResult.APPLIED) == EXPECTED_APPLIED[rec.symbol]
    assert set(results) == {SyncResult.APPLIED, SyncResult.SKIPPED}
    bids, asks, last = fold(rec.snapshot, rec.frames, rec.usdm)
    assert sync.seq.last_seq == last == rec.frames[-1]["u"]
    assert_book_equals(sync, bids, asks)
    assert not sync.stale and not sync.book.is_crossed()


def test_recorded_chain_buffered_then_snapshot(rec: Recording) -> None:
    """The live order: the stream is buffered while the REST snapshot is in flight."""
    sync = BookSync(rec.adapter, rec.symbol)
    assert set(feed(sync, rec, rec.lines)) == {SyncResult.BUFFERED}
    assert sync.apply(rec.adapter.parse_snapshot(rec.snapshot_bytes(), rec.symbol)) is SyncResult.APPLIED
    assert sync.failures == 0, sync.last_failure
    assert sync.seq.applied_since_snapshot == EXPECTED_APPLIED[rec.symbol]
    bids, asks, _ = fold(rec.snapshot, rec.frames, rec.usdm)
    assert_book_equals(sync, bids, asks)


def test_broken_chain_is_a_gap_and_a_fresh_snapshot_recovers(rec: Recording) -> None:
    dropped, fresh_at = 60, 90
    sync = BookSync(rec.adapter, rec.symbol)
    sync.apply(rec.adapter.parse_snapshot(rec.snapshot_bytes(), rec.symbol))
    results = feed(sync, rec, rec.lines[:dropped] + rec.lines[dropped + 1 : dropped + 2])
    assert SyncResult.GAP not in results[:-1]
    assert results[-1] is SyncResult.GAP
    assert sync.stale and sync.failures == 1 and "gap" in sync.last_failure

    # The runtime resets and refetches; the stream keeps flowing into the buffer meanwhile.
    sync.reset()
    assert set(feed(sync, rec, rec.lines[dropped + 2 :])) == {SyncResult.BUFFERED}
    # The venue's book at update id u[fresh_at], built from the unbroken recording.
    bids, asks, last = fold(rec.snapshot, rec.frames[: fresh_at + 1], rec.usdm)
    fresh = {
        "lastUpdateId": last,
        "bids": [[format(p, "f"), format(q, "f")] for p, q in sorted(bids.items(), reverse=True)],
        "asks": [[format(p, "f"), format(q, "f")] for p, q in sorted(asks.items())],
    }
    assert sync.apply(rec.adapter.parse_snapshot(json.dumps(fresh).encode(), rec.symbol)) is SyncResult.APPLIED
    assert not sync.stale and sync.failures == 1
    full_bids, full_asks, full_last = fold(rec.snapshot, rec.frames, rec.usdm)
    assert sync.seq.last_seq == full_last
    assert_book_equals(sync, full_bids, full_asks)


def test_snapshot_older_than_the_stream_is_a_gap(rec: Recording) -> None:
    """Frames between the snapshot and the first buffered one were lost: refetch, never apply."""
    first_new = next(i for i, d in enumerate(rec.frames) if d["u"] > rec.snapshot["lastUpdateId"])
    sync = BookSync(rec.adapter, rec.symbol)
    feed(sync, rec, rec.lines[first_new + 1 :])
    assert sync.apply(rec.adapter.parse_snapshot(rec.snapshot_bytes(), rec.symbol)) is SyncResult.GAP
    assert sync.stale
