"""Book integrity as a pure state machine: sequence, checksum and crossed-book checks.

`BookSync` is fed parsed `BookUpdate`s for one venue book and answers what happened. It does
no I/O: the runtime decides to resync on a failure, fixture tests replay recordings through it,
and backtests reuse it unchanged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from services.edges.book import L2Book, NegativeSizeError
from services.edges.venue import BookMode, BookUpdate, SeqState, SeqVerdict, VenueAdapter


class SyncResult(enum.Enum):
    APPLIED = "applied"
    SKIPPED = "skipped"  # older than the snapshot
    BUFFERED = "buffered"  # waiting for a REST snapshot
    GAP = "gap"
    CHECKSUM = "checksum"
    CROSSED = "crossed"
    NEGATIVE = "negative_size"  # an increment would make a level negative (lost message)

    @property
    def failed(self) -> bool:
        return self in (SyncResult.GAP, SyncResult.CHECKSUM, SyncResult.CROSSED, SyncResult.NEGATIVE)


MAX_BUFFERED = 10_000  # deltas held while a REST snapshot is in flight


@dataclass
class BookSync:
    """One venue book and its integrity state. `stale` is True until a snapshot lands and
    again after any failure, until the next snapshot."""

    adapter: VenueAdapter
    venue_symbol: str
    book: L2Book = field(init=False)
    seq: SeqState = field(default_factory=SeqState)
    stale: bool = True
    buffered: list[BookUpdate] = field(default_factory=list)
    failures: int = 0
    last_failure: str = ""

    def __post_init__(self) -> None:
        self.book = L2Book(keep_raw=self.adapter.keep_raw)

    def reset(self) -> None:
        """Forget the book (before a resync); deltas are buffered until the next snapshot."""
        self.book.clear()
        self.seq = SeqState()
        self.stale = True
        self.buffered.clear()

    def apply(self, update: BookUpdate) -> SyncResult:
        if update.snapshot:
            return self._apply_snapshot(update)
        if self.stale:
            if self.adapter.book_mode is BookMode.REST_SNAPSHOT:
                if len(self.buffered) >= MAX_BUFFERED:
                    self.buffered.pop(0)
                self.buffered.append(update)
                return SyncResult.BUFFERED
            return SyncResult.SKIPPED  # a WS-snapshot venue sends its snapshot first
        return self._apply_delta(update)

    def _apply_snapshot(self, update: BookUpdate) -> SyncResult:
        self.book.clear()
        self.seq = SeqState(last_seq=update.seq)
        self._write(update)
        if self.adapter.truncate_to_depth:
            self.book.truncate(self.adapter.depth)
        if not self.adapter.checksum_ok(self.book, update):
            return self._fail(SyncResult.CHECKSUM, f"snapshot checksum {update.checksum}")
        if self.book.is_crossed():
            return self._fail(SyncResult.CROSSED, f"snapshot crossed {self.book.best_bid()} / {self.book.best_ask()}")
        self.stale = False
        buffered, self.buffered = self.buffered, []
        for delta in buffered:
            result = self._apply_delta(delta)
            if result.failed:
                return result
        return SyncResult.APPLIED

    def _apply_delta(self, update: BookUpdate) -> SyncResult:
        verdict = self.adapter.sequence(self.seq, update)
        if verdict is SeqVerdict.SKIP:
            return SyncResult.SKIPPED
        if verdict is SeqVerdict.GAP:
            return self._fail(
                SyncResult.GAP,
                f"sequence gap: last {self.seq.last_seq}, got first={update.first_seq} "
                f"prev={update.prev_seq} seq={update.seq}",
            )
        try:
            self._write(update)
        except NegativeSizeError as exc:
            return self._fail(SyncResult.NEGATIVE, str(exc))
        if update.seq is not None:
            self.seq.last_seq = update.seq
        self.seq.applied_since_snapshot += 1
        if self.adapter.truncate_to_depth:
            self.book.truncate(self.adapter.depth)
        if not self.adapter.checksum_ok(self.book, update):
            return self._fail(SyncResult.CHECKSUM, f"checksum mismatch at seq {update.seq}: venue {update.checksum}")
        if self.book.is_crossed():
            return self._fail(SyncResult.CROSSED, f"crossed book {self.book.best_bid()} / {self.book.best_ask()}")
        return SyncResult.APPLIED

    def _write(self, update: BookUpdate) -> None:
        book = self.book
        if update.increments:
            for lvl in update.bids:
                book.add_bid(lvl.px_1e9, lvl.qty_1e8)
            for lvl in update.asks:
                book.add_ask(lvl.px_1e9, lvl.qty_1e8)
        else:
            for lvl in update.bids:
                book.set_bid(lvl)
            for lvl in update.asks:
                book.set_ask(lvl)

    def _fail(self, result: SyncResult, detail: str) -> SyncResult:
        self.failures += 1
        self.last_failure = f"{result.value}: {detail}"
        self.stale = True
        return result
