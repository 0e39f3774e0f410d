"""Replay the recorded Bitget books streams through parse + BookSync (integrity end to end)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.edges.bitget.adapter import BitgetAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate
from tests.shared_fixtures import fixture_lines

V1_STREAMS = {
    "ws_v1_spot_books_EOSUSDT.jsonl": ("EOSUSDT", 56),  # legacy spot "sp"
    "ws_v1_mix_books_UNIUSDT.jsonl": ("UNIUSDT", 60),  # legacy futures "mc"
}
V2_FILE = "ws_v2_books_A2ZUSDT_snapshot_update.jsonl"


def _fold(frames: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rebuild the book from raw JSON with a plain dict fold (independent of L2Book/BookSync)."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for frame in frames:
        if frame["action"] == "snapshot":
            sides = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            for px, sz in frame["data"][0][side]:
                if Decimal(sz) == 0:
                    sides[side].pop(Decimal(px), None)
                else:
                    sides[side][Decimal(px)] = Decimal(sz)

    def fixed(side: str, descending: bool) -> list[tuple[int, int]]:
        return [(int(p * 10**9), int(s * 10**8)) for p, s in sorted(sides[side].items(), reverse=descending)]

    return fixed("bids", True), fixed("asks", False)


def _book(adapter: BitgetAdapter, line: str) -> BookUpdate:
    (update,) = adapter.parse(line)
    assert isinstance(update, BookUpdate)
    return update


@pytest.mark.parametrize("name", sorted(V1_STREAMS))
def test_v1_streams_apply_with_every_checksum_valid(name: str) -> None:
    symbol, n_frames = V1_STREAMS[name]
    lines = fixture_lines("venues", "bitget", name)
    assert len(lines) == n_frames
    adapter = BitgetAdapter()
    sync = BookSync(adapter, symbol)
    for line in lines:
        update = _book(adapter, line)
        assert update.checksum  # every v1 frame carries one: it is checked, not waved through
        assert sync.apply(update) is SyncResult.APPLIED, sync.last_failure
    assert sync.failures == 0 and not sync.stale
    bids, asks = _fold([json.loads(line) for line in lines])
    assert sync.book.bids() == bids
    assert sync.book.asks() == asks


def test_v2_snapshot_is_unchecked_and_the_update_checksum_validates() -> None:
    lines = fixture_lines("venues", "bitget", V2_FILE)
    adapter = BitgetAdapter()
    sync = BookSync(adapter, "A2ZUSDT")
    snap, upd = _book(adapter, lines[0]), _book(adapter, lines[1])
    assert snap.checksum == 0 and upd.checksum == 1041484092
    assert sync.apply(snap) is SyncResult.APPLIED
    assert sync.apply(upd) is SyncResult.APPLIED
    assert sync.seq.last_seq == 395681167
    bids, asks = _fold([json.loads(line) for line in lines])
    assert (sync.book.bids(), sync.book.asks()) == (bids, asks)
    assert sync.book.bid_qty(3_480_000) == 0  # the update deleted 0.00348


def test_v2_wrong_checksum_is_caught_and_a_fresh_snapshot_recovers() -> None:
    lines = fixture_lines("venues", "bitget", V2_FILE)
    adapter = BitgetAdapter()
    sync = BookSync(adapter, "A2ZUSDT")
    sync.apply(_book(adapter, lines[0]))
    bad = json.loads(lines[1])
    bad["data"][0]["bids"] = []  # the delete never arrives but the venue's checksum covers it
    assert sync.apply(_book(adapter, json.dumps(bad))) is SyncResult.CHECKSUM
    assert sync.stale
    assert sync.apply(_book(adapter, lines[1])) is SyncResult.SKIPPED  # stale until a snapshot
    assert sync.apply(_book(adapter, lines[0])) is SyncResult.APPLIED
    assert sync.apply(_book(adapter, lines[1])) is SyncResult.APPLIED and not sync.stale


def test_trimmed_seq_pseq_examples_are_not_one_stream_and_book_sync_says_so() -> None:
    # SOURCE.md: a books5 snapshot and a later books delta, trimmed by their author. The delta's
    # pseq does not chain to the snapshot's seq, so BookSync must report a gap.
    snap_line, upd_line = fixture_lines("venues", "bitget", "ws_v2_books_seq_pseq_examples.jsonl")
    adapter = BitgetAdapter()
    sync = BookSync(adapter, "BTCUSDT")
    assert sync.apply(_book(adapter, snap_line)) is SyncResult.APPLIED
    assert sync.apply(_book(adapter, upd_line)) is SyncResult.GAP
    assert sync.stale
    # chained to a snapshot at its pseq, the same delta applies
    chained = json.loads(snap_line)
    chained["data"][0]["seq"] = 850169286126
    assert sync.apply(_book(adapter, json.dumps(chained))) is SyncResult.APPLIED
    assert sync.apply(_book(adapter, upd_line)) is SyncResult.APPLIED
    assert sync.book.ask_qty(83_747_240_000_000) == 23_893_400
