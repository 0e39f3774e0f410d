"""Kalshi book rules: `seq` rises by exactly 1 per message per subscription (`sid`); no checksum.
And the NO book as the mirror of the stored YES book."""

from __future__ import annotations

from services.edges.kalshi.parse import ONE_DOLLAR_1E9
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """APPLY seq == last + 1, SKIP seq <= last, GAP otherwise (resubscribe for a fresh snapshot).

    One market per subscription keeps one sid per book, so the per-book state is the per-sid state.
    """
    if update.seq is None:
        return SeqVerdict.GAP
    if state.last_seq is None:
        return SeqVerdict.APPLY
    if update.seq <= state.last_seq:
        return SeqVerdict.SKIP
    if update.seq == state.last_seq + 1:
        return SeqVerdict.APPLY
    return SeqVerdict.GAP


def mirror(
    yes_bids: list[tuple[int, int]], yes_asks: list[tuple[int, int]]
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Return the NO book (bids, asks) best-first: a YES ask at p is a NO bid at 1 - p, and back."""
    return (
        [(ONE_DOLLAR_1E9 - px, q) for px, q in yes_asks],
        [(ONE_DOLLAR_1E9 - px, q) for px, q in yes_bids],
    )
