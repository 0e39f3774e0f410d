"""Polymarket books through BookSync: no sequence, so only snapshots and the crossed check guard them."""

from __future__ import annotations

import json
from decimal import Decimal

from services.edges.book import RawLevel
from services.edges.polymarket.adapter import PolymarketAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, SeqState, SeqVerdict
from tests.shared_fixtures import fixture_path

PM = ("venues", "polymarket")


def _replay(sync: BookSync, names: list[str]) -> list[SyncResult]:
    out = []
    for name in names:
        for item in sync.adapter.parse(fixture_path(*PM, name).read_text()):
            if isinstance(item, BookUpdate):
                out.append(sync.apply(item))
    return out


def _fold(events: list[dict]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Independent rebuild from raw JSON: dicts of Decimal; BUY = bid, SELL = ask, size 0 removes."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    for e in events:
        if e["event_type"] == "book":
            bids = {Decimal(lvl["price"]): Decimal(lvl["size"]) for lvl in e["bids"]}
            asks = {Decimal(lvl["price"]): Decimal(lvl["size"]) for lvl in e["asks"]}
            continue
        changes = e.get("price_changes") or [e]
        for c in changes:
            side = bids if c["side"] == "BUY" else asks
            if Decimal(c["size"]) == 0:
                side.pop(Decimal(c["price"]), None)
            else:
                side[Decimal(c["price"])] = Decimal(c["size"])

    def ints(side: dict[Decimal, Decimal], reverse: bool) -> list[tuple[int, int]]:
        return [(int(p * 10**9), int(q * 10**8)) for p, q in sorted(side.items(), reverse=reverse)]

    return ints(bids, True), ints(asks, False)


def test_sequence_always_applies() -> None:
    update = BookUpdate(symbol="1", snapshot=False, bids=[], asks=[])
    assert PolymarketAdapter().sequence(SeqState(last_seq=None), update) is SeqVerdict.APPLY
    assert PolymarketAdapter().sequence(SeqState(last_seq=5), update) is SeqVerdict.APPLY


def test_full_book_then_legacy_change_matches_independent_fold() -> None:
    """Both recordings are of the same token; the price change resizes the best ask (0.514)."""
    names = ["ws_book_full.json", "legacy_price_change.json"]
    sync = BookSync(PolymarketAdapter(), "48331043336612883890938759509493159234755048973500640148014422747788308965732")
    assert _replay(sync, names) == [SyncResult.APPLIED, SyncResult.APPLIED]
    assert sync.failures == 0 and not sync.stale
    bids, asks = _fold([json.loads(fixture_path(*PM, n).read_text()) for n in names])
    assert sync.book.bids() == bids and sync.book.asks() == asks
    assert sync.book.best_ask() == (514_000_000, 2_157_408_000_000)
    assert sync.book.depth() == (76, 86)


def test_nautilus_pair_crosses_and_a_fresh_book_recovers() -> None:
    """The hand-made pair adds a bid at 0.51 while the book still shows an ask at 0.51 (the
    change removing that ask is not in the sample): BookSync flags the crossed book."""
    sync = BookSync(PolymarketAdapter(), "71321045679252212594626385532706912750332728571942532289631379312455583992563")
    assert _replay(sync, ["ws_market_book_msg.json", "ws_market_price_change_msg.json"]) == [
        SyncResult.APPLIED,
        SyncResult.CROSSED,
    ]
    assert sync.stale and "crossed" in sync.last_failure
    assert _replay(sync, ["ws_market_book_msg.json"]) == [SyncResult.APPLIED]
    assert not sync.stale
    bids, asks = _fold([json.loads(fixture_path(*PM, "ws_market_book_msg.json").read_text())])
    assert sync.book.bids() == bids and sync.book.asks() == asks


def test_v2_sample_is_rejected_as_crossed() -> None:
    """ws_price_change_v2.json (hand-made) puts a bid at 0.7 while reporting best_ask 0.7."""
    sync = BookSync(PolymarketAdapter(), "52114319501245915516055106046884209969926127482827954674443846427813813222426")
    (update,) = PolymarketAdapter().parse(fixture_path(*PM, "ws_price_change_v2.json").read_text())
    assert isinstance(update, BookUpdate)
    assert sync.apply(update) is SyncResult.SKIPPED  # no book yet: a WS-snapshot venue waits for `book`
    seed = BookUpdate(update.symbol, snapshot=True, bids=[], asks=[RawLevel(700_000_000, 1)])
    assert sync.apply(seed) is SyncResult.APPLIED
    assert sync.apply(update) is SyncResult.CROSSED
