"""Coinbase connection-wide sequence rule (services/edges/coinbase/book.py) and book replays.

Final books are compared with an independent rebuild written here: a plain dict fold of the
raw JSON, never L2Book or BookSync.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from services.edges.coinbase import book
from services.edges.coinbase.adapter import CoinbaseAdapter
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, ParseError, SeqState, SeqVerdict, VenueNotice
from tests.shared_fixtures import fixture_lines, fixture_path


def _fold(lines: list[str], product: str) -> dict[str, dict[Decimal, Decimal]]:
    out: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "offer": {}}
    for line in lines:
        msg: dict[str, Any] = json.loads(line)
        if msg.get("channel") != "l2_data":
            continue
        for ev in msg["events"]:
            if ev["product_id"] != product:
                continue
            if ev["type"] == "snapshot":
                out = {"bid": {}, "offer": {}}
            for u in ev["updates"]:
                px, qty = Decimal(u["price_level"]), Decimal(u["new_quantity"])
                if qty:
                    out[u["side"]][px] = qty
                else:
                    out[u["side"]].pop(px, None)
    return out


def _ints(levels: dict[Decimal, Decimal], reverse: bool) -> list[tuple[int, int]]:
    return [(int(p * 10**9), int(levels[p] * 10**8)) for p in sorted(levels, reverse=reverse)]


def _frame(seq: int, kind: str, updates: list[tuple[str, str, str]], product: str = "BTC-USD") -> str:
    ups = [{"side": s, "event_time": "", "price_level": p, "new_quantity": q} for s, p, q in updates]
    return json.dumps(
        {"channel": "l2_data", "timestamp": "2026-04-07T14:30:00Z", "sequence_num": seq,
         "events": [{"type": kind, "product_id": product, "updates": ups}]}
    )


def _heartbeat(seq: int) -> str:
    return json.dumps({"channel": "heartbeats", "sequence_num": seq, "events": [{"heartbeat_counter": seq}]})


def _books(adapter: CoinbaseAdapter, frames: list[str]) -> tuple[dict[str, BookSync], list[SyncResult]]:
    syncs: dict[str, BookSync] = {}
    results: list[SyncResult] = []
    for frame in frames:
        for p in adapter.parse(frame):
            if isinstance(p, BookUpdate):
                results.append(syncs.setdefault(p.symbol, BookSync(adapter, p.symbol)).apply(p))
    return syncs, results


# --- recorded frames ------------------------------------------------------------------------
def test_real_sol_usd_frames_replay_to_the_dict_fold() -> None:
    lines = fixture_lines("venues", "coinbase", "ws_real_frames_sol_usd.jsonl")
    syncs, results = _books(CoinbaseAdapter(), lines)
    assert results == [SyncResult.APPLIED, SyncResult.APPLIED]
    sync = syncs["SOL-USD"]
    assert sync.failures == 0 and not sync.stale and sync.seq.last_seq == 1
    rebuilt = _fold(lines, "SOL-USD")
    assert sync.book.bids() == _ints(rebuilt["bid"], True)
    assert sync.book.bids() == [(120_730_000_000, 4_255_393_162), (120_700_000_000, 11_006_502_693)]
    assert sync.book.asks() == _ints(rebuilt["offer"], False) == []


def test_nautilus_snapshot_and_update_replay_to_the_dict_fold() -> None:
    lines = [
        json.dumps(json.loads(fixture_path("venues", "coinbase", name).read_text()))
        for name in ("ws_l2_data_snapshot.json", "ws_l2_data_update.json")
    ]
    syncs, results = _books(CoinbaseAdapter(), lines)
    assert results == [SyncResult.APPLIED, SyncResult.APPLIED]
    rebuilt = _fold(lines, "BTC-USD")
    assert syncs["BTC-USD"].book.bids() == _ints(rebuilt["bid"], True)
    assert syncs["BTC-USD"].book.asks() == _ints(rebuilt["offer"], False)
    assert syncs["BTC-USD"].book.best_bid() == (68_900_000_000_000, 200_000_000)
    assert syncs["BTC-USD"].book.best_ask() == (68_901_500_000_000, 120_000_000)


def test_real_perp_frames_count_acks_and_heartbeats_and_report_the_error() -> None:
    lines = fixture_lines("venues", "coinbase", "ws_real_frames_perp_intx.jsonl")
    adapter = CoinbaseAdapter()
    parsed = [p for line in lines for p in adapter.parse(line)]
    assert adapter.connection.last == 3 and adapter.connection.run_start == 0  # 0..3 unbroken
    assert parsed[-1] == VenueNotice("authentication failure")
    (snap,) = [p for p in parsed if isinstance(p, BookUpdate)]
    sync = BookSync(adapter, "BTC-PERP-INTX")
    assert sync.apply(snap) is SyncResult.APPLIED
    assert sync.book.bids() == [(79_943_900_000_000, 301_050_000), (79_943_800_000_000, 50_000_000)]
    assert sync.book.asks() == [(79_944_000_000_000, 4_800_000), (79_944_100_000_000, 120_000_000)]


def test_skipped_sequence_num_is_a_gap_and_a_fresh_snapshot_recovers() -> None:
    snap = json.loads(fixture_path("venues", "coinbase", "ws_l2_data_snapshot.json").read_text())
    upd = json.loads(fixture_path("venues", "coinbase", "ws_l2_data_update.json").read_text())
    upd["sequence_num"] = 2  # message 1 never arrived
    adapter = CoinbaseAdapter()
    syncs, results = _books(adapter, [json.dumps(snap), json.dumps(upd)])
    assert results == [SyncResult.APPLIED, SyncResult.GAP]
    sync = syncs["BTC-USD"]
    assert sync.stale and "sequence gap" in sync.last_failure
    snap["sequence_num"] = 3
    upd["sequence_num"] = 4
    for frame in (snap, upd):
        (p,) = adapter.parse(json.dumps(frame))
        assert sync.apply(p) is SyncResult.APPLIED
    assert not sync.stale and sync.book.best_bid() == (68_900_000_000_000, 200_000_000)


# --- connection scope -----------------------------------------------------------------------
def test_lost_heartbeat_between_book_updates_is_a_gap() -> None:
    # Seq 2 (could have been anything, this book's update included) is missing; the jump is
    # seen on a heartbeat, and the next book update must still fail.
    frames = [_frame(0, "snapshot", [("bid", "100", "1"), ("offer", "101", "1")]), _heartbeat(1), _heartbeat(3),
              _frame(4, "update", [("bid", "100", "2")])]
    _, results = _books(CoinbaseAdapter(), frames)
    assert results == [SyncResult.APPLIED, SyncResult.GAP]


def test_other_channels_and_other_products_keep_continuity() -> None:
    frames = [
        _frame(0, "snapshot", [("bid", "100", "1"), ("offer", "101", "1")]),
        _frame(1, "snapshot", [("bid", "10", "1"), ("offer", "11", "1")], product="ETH-USD"),
        _heartbeat(2),
        json.dumps({"channel": "ticker", "sequence_num": 3, "events": []}),
        _frame(4, "update", [("bid", "10", "3")], product="ETH-USD"),
        _frame(5, "update", [("bid", "100", "2")]),
    ]
    syncs, results = _books(CoinbaseAdapter(), frames)
    assert results == [SyncResult.APPLIED] * 4
    assert syncs["BTC-USD"].book.best_bid() == (100_000_000_000, 200_000_000)
    assert syncs["ETH-USD"].book.best_bid() == (10_000_000_000, 300_000_000)


def test_malformed_book_frame_is_uncounted_so_the_book_resyncs() -> None:
    adapter = CoinbaseAdapter()
    syncs, _ = _books(adapter, [_frame(0, "snapshot", [("bid", "100", "1"), ("offer", "101", "1")])])
    with pytest.raises(ParseError):
        adapter.parse(_frame(1, "update", [("bid", "1e-20", "1")]))  # finer than px_1e9
    (upd,) = adapter.parse(_frame(2, "update", [("bid", "100", "2")]))
    assert syncs["BTC-USD"].apply(upd) is SyncResult.GAP


def test_reconnect_reset_starts_a_new_run() -> None:
    adapter = CoinbaseAdapter()
    first = [_frame(0, "snapshot", [("bid", "100", "1")]), _frame(1, "update", [("bid", "99", "1")])]
    syncs, _ = _books(adapter, first)
    adapter.on_connect()
    assert adapter.connection.last is None
    (snap,) = adapter.parse(_frame(0, "snapshot", [("bid", "98", "1")]))
    assert (snap.first_seq, snap.prev_seq) == (0, None)
    sync = syncs["BTC-USD"]
    assert sync.apply(snap) is SyncResult.APPLIED and sync.book.bids() == [(98_000_000_000, 100_000_000)]
    # without a reset a restarted counter still reads as a new run: old-connection books skip
    stale = CoinbaseAdapter()
    stale.parse(_frame(7, "update", []))
    (p,) = stale.parse(_frame(2, "update", [("bid", "1", "1")]))
    assert p.first_seq == 2 and stale.sequence(SeqState(last_seq=7), p) is SeqVerdict.SKIP


# --- the rule itself ------------------------------------------------------------------------
def _upd(seq: int | None, first: int | None) -> BookUpdate:
    return BookUpdate("BTC-USD", False, [], [], seq=seq, first_seq=first)


@pytest.mark.parametrize(
    ("last", "seq", "first", "verdict"),
    [
        (5, 6, 0, SeqVerdict.APPLY),  # first delta after the snapshot at 5
        (5, 9, 3, SeqVerdict.APPLY),  # 6..8 were other channels, all received
        (5, 9, 5, SeqVerdict.APPLY),  # the run began at the snapshot itself
        (5, 9, 7, SeqVerdict.GAP),  # message 6 was lost (on some channel)
        (5, 6, 6, SeqVerdict.GAP),  # a run starting after our last message cannot vouch for it
        (5, 5, 0, SeqVerdict.SKIP),  # duplicate
        (5, 4, 0, SeqVerdict.SKIP),  # older than the snapshot
        (None, 3, 3, SeqVerdict.APPLY),
        (5, None, 0, SeqVerdict.GAP),
        (5, 6, None, SeqVerdict.GAP),
    ],
)
def test_sequence_rule(last: int | None, seq: int | None, first: int | None, verdict: SeqVerdict) -> None:
    assert book.sequence(SeqState(last_seq=last), _upd(seq, first)) is verdict


def test_connection_sequence_observe() -> None:
    conn = book.ConnectionSequence()
    assert conn.observe(10) is None and conn.run_start == 10
    assert conn.observe(11) == 10 and conn.run_start == 10
    assert conn.observe(13) == 11 and conn.run_start == 13
    assert conn.observe(13) == 13 and conn.run_start == 13  # a repeat is not continuity either
    assert conn.observe(2) == 13 and conn.run_start == 2
