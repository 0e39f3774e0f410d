"""Replay the recorded OKX books streams through parse + BookSync (integrity end to end)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.edges.okx.adapter import OkxAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate
from tests.shared_fixtures import fixture_lines, fixture_path

STREAMS = {
    "ws_books_BTC-USDT.jsonl": ("BTC-USDT", 98),  # spot
    "ws_books_UNI-USD-SWAP.jsonl": ("UNI-USD-SWAP", 93),  # swap
    "ws_books_BTC-USD-220527.jsonl": ("BTC-USD-220527", 99),  # dated future
}


def _fold(frames: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rebuild the book from raw JSON with a plain dict fold (independent of L2Book/BookSync)."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for frame in frames:
        data = frame["data"][0]
        if frame["action"] == "snapshot":
            sides = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            for px, sz, *_ in data[side]:
                if Decimal(sz) == 0:
                    sides[side].pop(Decimal(px), None)
                else:
                    sides[side][Decimal(px)] = Decimal(sz)

    def fixed(side: str, best_first_desc: bool) -> list[tuple[int, int]]:
        items = sorted(sides[side].items(), reverse=best_first_desc)
        return [(int(px * 10**9), int(sz * 10**8)) for px, sz in items]

    return fixed("bids", True), fixed("asks", False)


def _books(adapter: OkxAdapter, line: str) -> BookUpdate:
    (update,) = adapter.parse(line)
    assert isinstance(update, BookUpdate)
    return update


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_frame_applies_and_every_checksum_validates(name: str) -> None:
    symbol, n_frames = STREAMS[name]
    lines = fixture_lines("venues", "okx", name)
    assert len(lines) == n_frames
    adapter = OkxAdapter()
    sync = BookSync(adapter, symbol)
    results = []
    for line in lines:
        update = _books(adapter, line)
        assert update.symbol == symbol
        assert update.checksum  # non-zero: every frame is really checked, not waved through
        results.append(sync.apply(update))
    assert results == [SyncResult.APPLIED] * n_frames, sync.last_failure
    assert sync.failures == 0 and not sync.stale
    bids, asks = _fold([json.loads(line) for line in lines])
    assert sync.book.bids() == bids
    assert sync.book.asks() == asks


def test_all_290_recorded_frames_validate() -> None:
    adapter = OkxAdapter()
    checked = 0
    for name, (symbol, _) in STREAMS.items():
        sync = BookSync(adapter, symbol)
        for line in fixture_lines("venues", "okx", name):
            update = _books(adapter, line)
            if sync.apply(update) is SyncResult.APPLIED and update.checksum:
                checked += 1
    assert checked == 290


def test_a_tampered_update_fails_the_checksum_and_a_fresh_snapshot_recovers() -> None:
    lines = fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")
    adapter = OkxAdapter()
    sync = BookSync(adapter, "BTC-USDT")
    assert sync.apply(_books(adapter, lines[0])) is SyncResult.APPLIED
    frame = json.loads(lines[1])
    frame["data"][0]["asks"][0][1] = "1.2113"  # best ask size off by one lot
    assert sync.apply(_books(adapter, json.dumps(frame))) is SyncResult.CHECKSUM
    assert sync.stale
    assert sync.apply(_books(adapter, lines[2])) is SyncResult.SKIPPED  # stale until a snapshot
    assert sync.apply(_books(adapter, lines[0])) is SyncResult.APPLIED
    assert not sync.stale
    assert sync.apply(_books(adapter, lines[1])) is SyncResult.APPLIED


def test_a_skipped_update_is_caught_by_the_checksum() -> None:
    # 2022 frames carry no seqIds, so losing one must still surface (via the CRC32)
    lines = fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")
    adapter = OkxAdapter()
    sync = BookSync(adapter, "BTC-USDT")
    sync.apply(_books(adapter, lines[0]))
    sync.apply(_books(adapter, lines[1]))
    assert sync.apply(_books(adapter, lines[3])) is SyncResult.CHECKSUM


def test_truncated_docs_snapshot_is_detected_and_a_real_snapshot_recovers() -> None:
    # SOURCE.md: ws_books_snapshot.json's checksum does not match its truncated levels and
    # ws_books_update.json is synthetic. BookSync must flag the first and ignore the second.
    adapter = OkxAdapter()
    sync = BookSync(adapter, "BTC-USDT")
    docs_snapshot = _books(adapter, fixture_path("venues", "okx", "ws_books_snapshot.json").read_text())
    assert sync.apply(docs_snapshot) is SyncResult.CHECKSUM
    assert sync.stale and sync.last_failure.startswith("checksum")
    docs_update = _books(adapter, fixture_path("venues", "okx", "ws_books_update.json").read_text())
    assert sync.apply(docs_update) is SyncResult.SKIPPED
    real = fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")
    assert sync.apply(_books(adapter, real[0])) is SyncResult.APPLIED
    assert not sync.stale
    assert sync.book.best_bid() == (30_243_400_000_000, 120_290)


def test_seq_id_chain_detects_a_lost_update_when_the_checksum_is_zero() -> None:
    # Newer OKX frames may carry checksum 0: the prevSeqId chain is then the only guard.
    adapter = OkxAdapter()
    sync = BookSync(adapter, "BTC-USDT")
    snap = json.loads(fixture_path("venues", "okx", "ws_books_snapshot.json").read_text())
    snap["data"][0]["checksum"] = 0
    assert sync.apply(_books(adapter, json.dumps(snap))) is SyncResult.APPLIED
    upd = json.loads(fixture_path("venues", "okx", "ws_books_update.json").read_text())
    upd["data"][0]["checksum"] = 0
    assert sync.apply(_books(adapter, json.dumps(upd))) is SyncResult.APPLIED  # 123456 -> 123457
    upd["data"][0].update(prevSeqId=123458, seqId=123460)
    assert sync.apply(_books(adapter, json.dumps(upd))) is SyncResult.GAP
