"""Crypto.com `pu` chain (services/edges/cryptocom/book.py)."""

from __future__ import annotations

from services.edges.cryptocom import book
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def _delta(pu: int, u: int) -> BookUpdate:
    return BookUpdate("BTC_USDT", False, [], [], seq=u, prev_seq=pu)


def test_first_delta_chains_to_the_snapshot_u() -> None:
    assert book.sequence(SeqState(last_seq=1000), _delta(1000, 1064)) is SeqVerdict.APPLY


def test_idle_keepalive_with_u_equal_pu_is_valid() -> None:
    assert book.sequence(SeqState(last_seq=1064), _delta(1064, 1064)) is SeqVerdict.APPLY


def test_a_lost_delta_is_a_gap() -> None:
    assert book.sequence(SeqState(last_seq=1064), _delta(1100, 1200)) is SeqVerdict.GAP


def test_a_delta_from_before_the_snapshot_is_skipped() -> None:
    assert book.sequence(SeqState(last_seq=1064), _delta(900, 1000)) is SeqVerdict.SKIP
    assert book.sequence(SeqState(last_seq=1064), _delta(1000, 1064)) is SeqVerdict.SKIP
