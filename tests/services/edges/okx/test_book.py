"""OKX sequence rule and checksum (services/edges/okx/book.py)."""

from __future__ import annotations

from services.edges.book import L2Book, RawLevel
from services.edges.okx import book
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def _update(prev: int | None, seq: int | None, checksum: int | None = None) -> BookUpdate:
    return BookUpdate("BTC-USDT", False, [], [], seq=seq, prev_seq=prev, checksum=checksum)


def test_checksum_matches_the_venues_md_mini_vector() -> None:
    text = book.checksum_text([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")])
    assert text == "3366.1:7:3366.8:9:3366:6:3368:8"
    assert book.crc32_signed(text) == -1881014294


def test_checksum_continues_with_the_longer_side_when_one_runs_out() -> None:
    text = book.checksum_text([("1", "a")], [("2", "b"), ("3", "c"), ("4", "d")])
    assert text == "1:a:2:b:3:c:4:d"


def test_checksum_uses_only_the_top_25_levels() -> None:
    bids = [(str(1000 - i), "1") for i in range(30)]
    asks = [(str(2000 + i), "1") for i in range(30)]
    assert book.book_checksum(bids, asks) == book.book_checksum(bids[:25], asks[:25])
    assert book.book_checksum(bids, asks) != book.book_checksum(bids[:24], asks[:25])


def test_checksum_uses_the_raw_strings_not_the_values() -> None:
    assert book.book_checksum([("100.0", "1")], []) != book.book_checksum([("100", "1")], [])


def test_crc32_is_signed_int32() -> None:
    # zlib gives 2413953002 here; OKX sends it as a signed int32
    assert book.crc32_signed("3366.1:7:3366.8:9:3366:6:3368:8") == 2413953002 - (1 << 32)
    assert book.crc32_signed("a") == 0xE8B7BE43 - (1 << 32)
    assert book.crc32_signed("") == 0


def test_checksum_zero_or_absent_is_not_checked() -> None:
    l2 = L2Book(keep_raw=True)
    l2.set_bid(RawLevel(100_000_000_000, 100_000_000, "100", "1"))
    assert book.checksum_ok(l2, _update(1, 2, checksum=0))
    assert book.checksum_ok(l2, _update(1, 2, checksum=None))
    assert not book.checksum_ok(l2, _update(1, 2, checksum=12345))
    assert book.checksum_ok(l2, _update(1, 2, checksum=book.crc32_signed("100:1")))


def test_first_update_after_snapshot_chains_to_the_snapshot_seq_id() -> None:
    state = SeqState(last_seq=123456)  # snapshot had prevSeqId -1, seqId 123456
    assert book.sequence(state, _update(123456, 123457)) is SeqVerdict.APPLY


def test_update_with_seq_id_equal_prev_means_no_change_and_is_valid() -> None:
    assert book.sequence(SeqState(last_seq=500), _update(500, 500)) is SeqVerdict.APPLY


def test_broken_chain_is_a_gap() -> None:
    assert book.sequence(SeqState(last_seq=500), _update(499, 510)) is SeqVerdict.GAP
    assert book.sequence(SeqState(last_seq=500), _update(501, 510)) is SeqVerdict.GAP


def test_stale_replay_is_a_gap_not_a_skip_because_seq_ids_can_reset() -> None:
    # An older message cannot be told from a reset plus a lost message: resync.
    assert book.sequence(SeqState(last_seq=500), _update(400, 450)) is SeqVerdict.GAP


def test_seq_id_reset_lower_is_accepted_when_prev_matches() -> None:
    assert book.sequence(SeqState(last_seq=900_000), _update(900_000, 12)) is SeqVerdict.APPLY


def test_frames_without_seq_ids_are_applied_and_left_to_the_checksum() -> None:
    assert book.sequence(SeqState(last_seq=None), _update(None, None)) is SeqVerdict.APPLY
    assert book.sequence(SeqState(last_seq=None), _update(7, 8)) is SeqVerdict.APPLY
