"""Bitget book integrity, pure: the seq/pseq rule; the checksum is OKX's (venues.md §7)."""

from __future__ import annotations

from services.edges.book import L2Book
from services.edges.okx.book import checksum_ok as okx_checksum_ok
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def checksum_ok(book: L2Book, update: BookUpdate) -> bool:
    """Top-25 interleaved signed CRC32 over the wire strings; 0 (v2 snapshots) = unchecked."""
    return okx_checksum_ok(book, update)


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """`pseq`, when present, must equal the last `seq`; `seq` increases but not by 1.

    A message at or below the last seq is stale (SKIP). Without pseq (the recorded 2025 update,
    legacy v1) only ordering can be checked and the checksum does the rest.
    """
    last = state.last_seq
    if last is None or update.seq is None:
        return SeqVerdict.APPLY
    if update.prev_seq and update.prev_seq == last:  # 0 = absent (books5 snapshots carry pseq 0)
        return SeqVerdict.APPLY
    if update.seq <= last:
        return SeqVerdict.SKIP
    return SeqVerdict.GAP if update.prev_seq else SeqVerdict.APPLY
