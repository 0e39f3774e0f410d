"""Binance diff-depth sequence rules (pure). Binance books carry no checksum.

`state.last_seq` is the snapshot's `lastUpdateId` until the first delta applies, then the
last applied `u`; `state.applied_since_snapshot == 0` marks the first delta after a snapshot.
"""

from __future__ import annotations

from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def spot_sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """Spot (venues.md §1): drop `u <= last`; the first applied event must have
    `U <= last + 1 <= u`; every later one `U == previous u + 1`."""
    last, first, final = state.last_seq, update.first_seq, update.seq
    if last is None or first is None or final is None:
        return SeqVerdict.GAP
    if final <= last:
        return SeqVerdict.SKIP
    if state.applied_since_snapshot == 0:
        # final > last already, so only the lower bound can fail: the snapshot is older than
        # this event's first update and the updates in between are lost (refetch).
        return SeqVerdict.APPLY if first <= last + 1 else SeqVerdict.GAP
    return SeqVerdict.APPLY if first == last + 1 else SeqVerdict.GAP


def usdm_sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """USD-M (venues.md §2): drop `u < lastUpdateId`; the first applied event must have
    `U <= lastUpdateId <= u`, or continue the snapshot exactly (`pu == lastUpdateId`: the
    straddling event was consumed before the snapshot was taken); every later one
    `pu == previous u` (U itself jumps)."""
    last, first, final = state.last_seq, update.first_seq, update.seq
    if last is None or first is None or final is None:
        return SeqVerdict.GAP
    if state.applied_since_snapshot == 0:
        if final < last:
            return SeqVerdict.SKIP
        return SeqVerdict.APPLY if first <= last or update.prev_seq == last else SeqVerdict.GAP
    if final <= last:
        return SeqVerdict.SKIP  # a repeat of what is already applied
    return SeqVerdict.APPLY if update.prev_seq == last else SeqVerdict.GAP
