"""The documented BitMart depth payloads through parse + BookSync, checked against a plain fold of
the raw JSON (payloads/SOURCE.md)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services.edges.bitmart.adapter import BitmartAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate
from tests.services.edges.bitmart.recorded import payload_lines

LINES = payload_lines("ws_depth_increase100_BTC_USDT.jsonl")
SNAPSHOT, UPDATE = LINES[2], LINES[3]


def _update(adapter: BitmartAdapter, line: str) -> BookUpdate:
    (update,) = adapter.parse(line)
    assert isinstance(update, BookUpdate)
    return update


def _fold(frames: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Rebuild the book from raw JSON with a dict (independent of L2Book/BookSync)."""
    sides: dict[str, dict[Decimal, Decimal]] = {"bids": {}, "asks": {}}
    for frame in frames:
        for item in frame["data"]:
            if item["type"] == "snapshot":
                sides = {"bids": {}, "asks": {}}
            for side in ("bids", "asks"):
                for px, qty in item[side]:
                    if Decimal(qty) == 0:
                        sides[side].pop(Decimal(px), None)
                    else:
                        sides[side][Decimal(px)] = Decimal(qty)

    def fixed(side: str, descending: bool) -> list[tuple[int, int]]:
        return [(int(p * 10**9), int(q * 10**8)) for p, q in sorted(sides[side].items(), reverse=descending)]

    return fixed("bids", True), fixed("asks", False)


def test_the_documented_snapshot_and_update_chain() -> None:
    adapter = BitmartAdapter()
    sync = BookSync(adapter, "BTC_USDT")
    assert sync.apply(_update(adapter, SNAPSHOT)) is SyncResult.APPLIED
    assert sync.apply(_update(adapter, UPDATE)) is SyncResult.APPLIED
    assert sync.seq.last_seq == 5
    assert (sync.book.bids(), sync.book.asks()) == _fold([json.loads(SNAPSHOT), json.loads(UPDATE)])
    assert sync.book.ask_qty(23_200_000_000_000) == 59_959_000


def test_a_repeated_version_is_discarded_and_the_book_kept() -> None:
    adapter = BitmartAdapter()
    sync = BookSync(adapter, "BTC_USDT")
    sync.apply(_update(adapter, SNAPSHOT))
    sync.apply(_update(adapter, UPDATE))
    before = (sync.book.bids(), sync.book.asks())
    stale = json.loads(UPDATE)
    stale["data"][0]["asks"] = [["23200", "9"]]  # an old push (version 5 again) must not overwrite
    assert sync.apply(_update(adapter, json.dumps(stale))) is SyncResult.SKIPPED
    assert (sync.book.bids(), sync.book.asks()) == before and not sync.stale


def test_a_version_jump_is_a_gap_and_the_next_snapshot_recovers() -> None:
    adapter = BitmartAdapter()
    sync = BookSync(adapter, "BTC_USDT")
    sync.apply(_update(adapter, SNAPSHOT))
    jumped = json.loads(UPDATE)
    jumped["data"][0]["version"] = 6  # version 5 was lost
    assert sync.apply(_update(adapter, json.dumps(jumped))) is SyncResult.GAP
    assert sync.stale
    assert sync.apply(_update(adapter, SNAPSHOT)) is SyncResult.APPLIED
    assert not sync.stale
    assert (sync.book.bids(), sync.book.asks()) == _fold([json.loads(SNAPSHOT)])
