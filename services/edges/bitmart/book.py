"""BitMart book integrity, pure: `version` rises by exactly 1 per push of one symbol's depth
channel, and a jump means lost data (the docs say: resubscribe). That is Bybit's `u` rule, so
it is shared. No checksum is published for spot depth.

A keep-alive is an empty push that repeats the last version. An empty push *ahead* of ours
therefore means we missed the push that made that version: it is a gap, never an update (taken
as one, it would silently skip the lost levels)."""

from __future__ import annotations

from services.edges.bybit.book import sequence as bybit_sequence
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """APPLY version == last + 1, SKIP version <= last (already in the snapshot), GAP otherwise
    (also when a push lacks its version, or a keep-alive is ahead of us)."""
    verdict = bybit_sequence(state, update)
    if verdict is SeqVerdict.APPLY and state.last_seq is not None and not update.bids and not update.asks:
        return SeqVerdict.GAP
    return verdict
