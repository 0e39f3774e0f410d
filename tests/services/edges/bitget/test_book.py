"""Bitget sequence rule and checksum (services/edges/bitget/book.py)."""

from __future__ import annotations

from services.edges.bitget import book
from services.edges.book import L2Book, RawLevel
from services.edges.okx.book import crc32_signed
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def _update(seq: int | None, pseq: int | None, checksum: int | None = None) -> BookUpdate:
    return BookUpdate("BTCUSDT", False, [], [], seq=seq, prev_seq=pseq, checksum=checksum)


def test_first_update_chains_to_the_snapshot_seq() -> None:
    assert book.sequence(SeqState(last_seq=100), _update(117, 100)) is SeqVerdict.APPLY


def test_pseq_that_skips_a_message_is_a_gap() -> None:
    assert book.sequence(SeqState(last_seq=100), _update(130, 117)) is SeqVerdict.GAP


def test_an_older_message_is_skipped() -> None:
    assert book.sequence(SeqState(last_seq=130), _update(117, 100)) is SeqVerdict.SKIP
    assert book.sequence(SeqState(last_seq=130), _update(130, 117)) is SeqVerdict.SKIP


def test_without_pseq_only_ordering_is_checked() -> None:
    # the recorded 2025 v2 update: seq jumps 395681152 -> 395681167 and carries no pseq
    assert book.sequence(SeqState(last_seq=395681152), _update(395681167, None)) is SeqVerdict.APPLY
    assert book.sequence(SeqState(last_seq=395681167), _update(395681152, None)) is SeqVerdict.SKIP


def test_pseq_zero_means_absent() -> None:
    assert book.sequence(SeqState(last_seq=5), _update(9, 0)) is SeqVerdict.APPLY


def test_legacy_v1_frames_without_seq_are_applied() -> None:
    assert book.sequence(SeqState(last_seq=None), _update(None, None)) is SeqVerdict.APPLY


def test_checksum_is_okx_algorithm_and_zero_is_unchecked() -> None:
    l2 = L2Book(keep_raw=True)
    l2.set_bid(RawLevel(3_366_100_000_000, 700_000_000, "3366.1", "7"))
    l2.set_bid(RawLevel(3_366_000_000_000, 600_000_000, "3366", "6"))
    l2.set_ask(RawLevel(3_366_800_000_000, 900_000_000, "3366.8", "9"))
    l2.set_ask(RawLevel(3_368_000_000_000, 800_000_000, "3368", "8"))
    assert book.checksum_ok(l2, _update(1, None, checksum=-1881014294))  # venues.md §5 vector
    assert not book.checksum_ok(l2, _update(1, None, checksum=-1881014293))
    assert book.checksum_ok(l2, _update(1, None, checksum=0))
    assert crc32_signed("3366.1:7:3366.8:9:3366:6:3368:8") == -1881014294
