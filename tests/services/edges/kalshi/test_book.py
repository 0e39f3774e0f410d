"""services/edges/kalshi/book.py: the per-sid `seq` rule, the NO mirror, and doc frames through BookSync."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from services.edges.kalshi.adapter import KalshiAdapter
from services.edges.kalshi.book import mirror, sequence
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_lines

DOC = ("venues", "kalshi", "ws_orderbook_doc_example.jsonl")


@pytest.mark.parametrize(
    ("last", "seq", "verdict"),
    [
        (2, 3, SeqVerdict.APPLY),  # first delta after the snapshot (docs: snapshot seq 2, delta seq 3)
        (2, 2, SeqVerdict.SKIP),
        (9, 4, SeqVerdict.SKIP),
        (2, 4, SeqVerdict.GAP),
        (None, 8, SeqVerdict.APPLY),
        (2, None, SeqVerdict.GAP),
    ],
)
def test_sequence_rule(last: int | None, seq: int | None, verdict: SeqVerdict) -> None:
    update = BookUpdate(symbol="T", snapshot=False, bids=[], asks=[], seq=seq, increments=True)
    assert sequence(SeqState(last_seq=last), update) is verdict


def _apply_all(adapter: KalshiAdapter, sync: BookSync, lines: list[str]) -> list[SyncResult]:
    out = []
    for line in lines:
        for item in adapter.parse(line):
            if isinstance(item, BookUpdate):
                out.append(sync.apply(item))
    return out


def _fold(frames: list[dict]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Independent rebuild of the YES book from raw JSON: per-leg dicts of Decimal, then mirror."""
    legs: dict[str, dict[Decimal, Decimal]] = {"yes": {}, "no": {}}
    for f in frames:
        m = f["msg"]
        if f["type"] == "orderbook_snapshot":
            legs = {
                "yes": {Decimal(p): Decimal(c) for p, c in m.get("yes_dollars_fp", [])},
                "no": {Decimal(p): Decimal(c) for p, c in m.get("no_dollars_fp", [])},
            }
        else:
            leg = legs[m["side"]]
            px = Decimal(m["price_dollars"])
            leg[px] = leg.get(px, Decimal(0)) + Decimal(m["delta_fp"])
            if leg[px] == 0:
                del leg[px]
    bids = sorted(((int(p * 10**9), int(c * 10**8)) for p, c in legs["yes"].items()), reverse=True)
    asks = sorted((int((1 - p) * 10**9), int(c * 10**8)) for p, c in legs["no"].items())
    return bids, asks


def test_doc_snapshot_matches_independent_fold() -> None:
    adapter = KalshiAdapter()
    snap_line = fixture_lines(*DOC)[0]
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    assert _apply_all(adapter, sync, [snap_line]) == [SyncResult.APPLIED]
    bids, asks = _fold([json.loads(snap_line)])
    assert sync.book.bids() == bids == [(220_000_000, 33_300_000_000), (80_000_000, 30_000_000_000)]
    assert sync.book.asks() == asks == [(440_000_000, 14_600_000_000), (460_000_000, 2_000_000_000)]
    assert sync.seq.last_seq == 2


def test_doc_delta_does_not_validate_and_a_snapshot_recovers() -> None:
    """The docs pair is illustrative: its delta removes 54 from a YES level (0.960) the snapshot
    does not hold. BookSync must flag it (a lost message looks exactly like this)."""
    adapter = KalshiAdapter()
    snap_line, delta_line = fixture_lines(*DOC)
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    assert _apply_all(adapter, sync, [snap_line, delta_line]) == [SyncResult.APPLIED, SyncResult.NEGATIVE]
    assert sync.stale and sync.failures == 1 and "960000000" in sync.last_failure
    assert _apply_all(adapter, sync, [snap_line]) == [SyncResult.APPLIED]
    assert not sync.stale
    assert sync.book.bids() == _fold([json.loads(snap_line)])[0]


def _delta(seq: int, side: str, px: str, change: str) -> str:
    msg = {"market_ticker": "FED-23DEC-T3.00", "price_dollars": px, "delta_fp": change, "side": side, "ts_ms": 1}
    return json.dumps({"type": "orderbook_delta", "sid": 7, "seq": seq, "msg": msg})


def test_increments_chain_matches_independent_fold() -> None:
    """The docs snapshot followed by deltas in the real samples' shape (fractional counts included)."""
    adapter = KalshiAdapter()
    lines = [
        fixture_lines(*DOC)[0],
        _delta(3, "yes", "0.2200", "-33.00"),
        _delta(4, "no", "0.5600", "7.00"),
        _delta(5, "no", "0.0400", "12.50"),
        _delta(6, "no", "0.0400", "-0.05"),
        _delta(7, "yes", "0.0800", "-300.00"),  # removes the level
        _delta(8, "yes", "0.3000", "5.00"),
    ]
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    assert set(_apply_all(adapter, sync, lines)) == {SyncResult.APPLIED}
    bids, asks = _fold([json.loads(ln) for ln in lines])
    assert sync.book.bids() == bids == [(300_000_000, 500_000_000), (220_000_000, 30_000_000_000)]
    assert sync.book.asks() == asks
    assert sync.book.ask_qty(960_000_000) == 1_245_000_000  # 12.50 - 0.05 on the NO bid at 0.04
    assert sync.book.ask_qty(440_000_000) == 15_300_000_000


def test_lost_delta_is_a_gap() -> None:
    adapter = KalshiAdapter()
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    _apply_all(adapter, sync, [fixture_lines(*DOC)[0]])
    assert _apply_all(adapter, sync, [_delta(4, "yes", "0.2200", "1.00")]) == [SyncResult.GAP]
    assert sync.stale


def test_crossing_no_bid_is_flagged() -> None:
    """YES bid 0.22 + NO bid 0.80 >= 1: Kalshi would have matched them, so the book is wrong."""
    adapter = KalshiAdapter()
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    _apply_all(adapter, sync, [fixture_lines(*DOC)[0]])
    assert _apply_all(adapter, sync, [_delta(3, "no", "0.8000", "1.00")]) == [SyncResult.CROSSED]


def test_mirror_and_derive_books() -> None:
    adapter = KalshiAdapter()
    sync = BookSync(adapter, "FED-23DEC-T3.00")
    _apply_all(adapter, sync, [fixture_lines(*DOC)[0]])
    (yes_sym, yes_bids, yes_asks), (no_sym, no_bids, no_asks) = adapter.derive_books("FED-23DEC-T3.00", sync.book, 10)
    assert (yes_sym, no_sym) == ("FED-23DEC-T3.00:YES", "FED-23DEC-T3.00:NO")
    assert yes_bids == [(220_000_000, 33_300_000_000), (80_000_000, 30_000_000_000)]
    assert yes_asks == [(440_000_000, 14_600_000_000), (460_000_000, 2_000_000_000)]
    # the NO book holds the raw NO bids again, best-first, and asks at 1 - YES bid
    assert no_bids == [(560_000_000, 14_600_000_000), (540_000_000, 2_000_000_000)]
    assert no_asks == [(780_000_000, 33_300_000_000), (920_000_000, 30_000_000_000)]
    assert mirror(no_bids, no_asks) == (yes_bids, yes_asks)
    assert adapter.derive_books("FED-23DEC-T3.00", sync.book, 1)[1][1:] == ([no_bids[0]], [no_asks[0]])
