"""Bybit's book integrity rule: `u` rises by exactly 1 per message per topic. No checksum."""

from __future__ import annotations

from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """APPLY u == last + 1, SKIP u <= last (already in the snapshot), GAP otherwise."""
    if update.seq is None:
        return SeqVerdict.GAP  # every Bybit book push carries u; without it continuity is unknown
    if state.last_seq is None:
        return SeqVerdict.APPLY
    if update.seq <= state.last_seq:
        return SeqVerdict.SKIP
    if update.seq == state.last_seq + 1:
        return SeqVerdict.APPLY
    return SeqVerdict.GAP
