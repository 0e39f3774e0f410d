"""BitMart book integrity, pure: `version` rises by exactly 1 per push of one symbol's depth
channel, and a jump means lost data (the docs say: resubscribe). That is Bybit's `u` rule, so
it is shared. No checksum is published for spot depth."""

from __future__ import annotations

from services.edges.bybit.book import sequence as bybit_sequence
from services.edges.venue import BookUpdate, SeqState, SeqVerdict


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """APPLY version == last + 1, SKIP version <= last (already in the snapshot), GAP otherwise
    (also when a push lacks its version)."""
    return bybit_sequence(state, update)
