"""Crypto.com book integrity, pure: the `pu == previous u` chain. `cs` is ignored (unpublished)."""

from __future__ import annotations

from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """Apply a delta whose `pu` is the last `u` (the first delta's `pu` is the snapshot's `u`).

    An idle keepalive (empty, `u == pu`) chains the same way. A delta whose `u` is not past the
    last one is stale; any other break is a gap.
    """
    last = state.last_seq
    if last is None:
        return SeqVerdict.APPLY
    if update.prev_seq == last:
        return SeqVerdict.APPLY
    if update.seq is not None and update.seq <= last:
        return SeqVerdict.SKIP
    return SeqVerdict.GAP
