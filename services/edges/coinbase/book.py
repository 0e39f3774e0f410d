"""Coinbase sequence integrity: `sequence_num` counts every message on the CONNECTION.

Books carry no sequence of their own, and a lost message on any channel (a heartbeat, another
product's update) is indistinguishable from a lost update of this book. So the parser tracks
the connection counter and stamps each book update with:

  seq        its own sequence_num,
  prev_seq   the sequence_num received just before it (diagnostics),
  first_seq  the first sequence_num of the unbroken run of messages it belongs to.

A book whose last applied message lies before that run may have lost something: GAP.
"""

from __future__ import annotations

from services.edges.venue import BookUpdate, SeqState, SeqVerdict


class ConnectionSequence:
    """The connection-wide counter; `reset()` it whenever a new connection starts."""

    __slots__ = ("last", "run_start")

    def __init__(self) -> None:
        self.last: int | None = None
        self.run_start: int | None = None

    def observe(self, seq: int) -> int | None:
        """Record one received sequence_num; return the previous one."""
        prev = self.last
        if prev is None or seq != prev + 1:
            self.run_start = seq  # first message, a lost one, or a new connection
        self.last = seq
        return prev

    def reset(self) -> None:
        self.last = None
        self.run_start = None


def sequence(state: SeqState, update: BookUpdate) -> SeqVerdict:
    """APPLY while the connection has been unbroken since this book's last applied message."""
    if update.seq is None or update.first_seq is None:
        return SeqVerdict.GAP  # cannot prove continuity
    last = state.last_seq
    if last is None:
        return SeqVerdict.APPLY
    if update.seq <= last:
        return SeqVerdict.SKIP  # replayed or from an older connection: wait for the snapshot
    if update.first_seq > last:
        return SeqVerdict.GAP
    return SeqVerdict.APPLY
