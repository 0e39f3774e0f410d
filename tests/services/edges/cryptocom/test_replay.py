"""Recorded Crypto.com book frames through parse + BookSync. The capture is NOT contiguous
(SOURCE.md): its delta does not chain to its snapshot, and BookSync must say so."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services.edges.cryptocom.adapter import CryptocomAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate
from tests.shared_fixtures import fixture_lines

FILE = "ws_market_frames_2026-09-22.jsonl"


def _update(adapter: CryptocomAdapter, line: str) -> BookUpdate:
    (update,) = adapter.parse(line)
    assert isinstance(update, BookUpdate)
    return update


def _fold(frames: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rebuild a book from raw JSON with a plain dict fold (independent of L2Book/BookSync)."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for frame in frames:
        result = frame["result"]
        data = result["data"][0]
        if result["channel"] == "book":
            sides = {"bids": {}, "asks": {}}
        levels = data if result["channel"] == "book" else data["update"]
        for side in ("bids", "asks"):
            for px, qty, _count in levels[side]:
                if Decimal(qty) == 0:
                    sides[side].pop(Decimal(px), None)
                else:
                    sides[side][Decimal(px)] = Decimal(qty)

    def fixed(side: str, descending: bool) -> list[tuple[int, int]]:
        return [(int(p * 10**9), int(q * 10**8)) for p, q in sorted(sides[side].items(), reverse=descending)]

    return fixed("bids", True), fixed("asks", False)


def test_the_non_chained_delta_is_flagged_as_a_gap_and_a_fresh_snapshot_recovers() -> None:
    lines = fixture_lines("venues", "cryptocom", FILE)
    adapter = CryptocomAdapter()
    sync = BookSync(adapter, "ETHUSD-PERP")
    snapshot, delta = lines[2], lines[3]
    assert sync.apply(_update(adapter, snapshot)) is SyncResult.APPLIED
    assert sync.book.best_bid() == (2_749_610_000_000, 7_860_000)
    assert sync.apply(_update(adapter, delta)) is SyncResult.GAP
    assert sync.stale and "375554807297984" in sync.last_failure
    assert sync.apply(_update(adapter, snapshot)) is SyncResult.APPLIED
    assert not sync.stale
    assert (sync.book.bids(), sync.book.asks()) == _fold([json.loads(snapshot)])


def test_the_same_delta_chained_to_the_snapshot_applies() -> None:
    lines = fixture_lines("venues", "cryptocom", FILE)
    adapter = CryptocomAdapter()
    sync = BookSync(adapter, "ETHUSD-PERP")
    snapshot = json.loads(lines[2])
    snapshot["result"]["data"][0]["u"] = 375554807297984  # as if captured right before the delta
    delta = json.loads(lines[3])
    sync.apply(_update(adapter, json.dumps(snapshot)))
    assert sync.apply(_update(adapter, lines[3])) is SyncResult.APPLIED
    assert sync.seq.last_seq == 375554807336512
    assert (sync.book.bids(), sync.book.asks()) == _fold([snapshot, delta])
    assert sync.book.ask_qty(2_753_110_000_000) == 26_160_000


def test_idle_delta_keeps_the_book_and_the_sequence() -> None:
    lines = fixture_lines("venues", "cryptocom", FILE)
    adapter = CryptocomAdapter()
    sync = BookSync(adapter, "NVDAUSD-PERP")
    idle = _update(adapter, lines[4])
    snap = BookUpdate("NVDAUSD-PERP", True, [], [], seq=idle.prev_seq)
    sync.apply(snap)
    assert sync.apply(idle) is SyncResult.APPLIED
    assert sync.apply(idle) is SyncResult.APPLIED  # u == pu: the next idle chains as well
    assert sync.seq.last_seq == 369501268112000 and sync.book.depth() == (0, 0)
