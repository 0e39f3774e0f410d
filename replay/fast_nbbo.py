"""The book + NBBO projection of a recording, folded straight from its Parquet columns.

    changes: list[tuple[int, str, NbboKey | None]] = []
    rows = fold_recording_nbbo(path, changes)   # (row index, symbol, NBBO key) at each change

The same output as `projections.market.NbboFold` over `read_recording(path)` (a symbol's NBBO key
after every event where it changed, `tests/replay/test_fast_nbbo.py` compares them event for
event), without a Python object per event: each row group's columns are decoded in bulk (level
lists as flat value lists plus offsets), each venue book is two plain dicts with its best price
cached (a delete of the best level rescans the side, a level behind the top costs one
comparison), and the NBBO of a symbol is recomputed only when a venue's top of book changed.

Only what the books need is read (no event ids, trade columns or venue clocks), on the calling
thread: Arrow's column threads cost twice the CPU for these small row groups on a busy machine.
The level loop runs in C when it can be built here (`replay/nbbo_kernel.c`, see
`replay/nbbo_compiled.py`: each row group's columns go to it as int64 arrays with one book id per
row, and it writes back only the NBBO changes), in Python otherwise. Recordings the
fast path does not cover fall back to `NbboFold` over the decoded events, with the same output:
several files, row groups overlapping in time, or a legacy venue id (an old perp edge's, which
`MarketBooks` renames).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import ctypes

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from events import AnyEvent
from events.market import VenueStatusChanged, covers
from events.venues import LEGACY_VENUES
from projections.market import NbboFold, NbboKey, _nbbo_key
from replay.nbbo_compiled import kernel
from replay.recording import _flat_list, _pylist, _ts_bounds, open_recording, read_recording

Change = tuple[int, str, "NbboKey | None"]
Top = tuple[bool, int, int, int, int]  # usable, bid px, bid qty, ask px, ask qty (0 = none)

_COLUMNS = ["kind", "venue", "symbol", "bid_price_1e9", "bid_qty_1e8", "ask_price_1e9", "ask_qty_1e8",
            "truncate_depth"]  # extra_json (status rows) is read only for row groups holding one
_NO_ASK = 1 << 62  # the cached best ask of an empty side (every price is below it)
_status = msgspec.json.Decoder(VenueStatusChanged)


class _Book:
    __slots__ = ("venue", "symbol", "bids", "asks", "bid", "ask", "stale", "top")

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue, self.symbol = venue, symbol
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.bid = 0  # best bid price (0: no bids)
        self.ask = _NO_ASK  # best ask price (_NO_ASK: no asks)
        self.stale = True
        self.top: Top | None = None  # the last top the NBBO saw (None: none yet)

    def read_top(self) -> Top:
        bids, asks, bid, ask = self.bids, self.asks, self.bid, self.ask
        if bids and asks:
            return not self.stale and bid < ask, bid, bids[bid], ask, asks[ask]
        return (not self.stale, bid, bids[bid] if bids else 0, ask if asks else 0, asks[ask] if asks else 0)


def _fast_enough(pf: pq.ParquetFile) -> bool:
    """Row groups in time order without overlap (then reading them in turn is the reader's order)."""
    last = None
    for rg in range(pf.num_row_groups):
        lo, hi = _ts_bounds(pf, rg)
        if last is not None and lo < last:
            return False
        last = hi
    return True


def fold_recording_nbbo(paths: Path | Sequence[Path], changes: list[Change] | None = None,
                        compiled: bool | None = None) -> int:
    """Fold the books and NBBOs of a recording; append each NBBO change to `changes` (if given);
    return the number of events (rows) read. `compiled`: the C level loop (replay/nbbo_kernel.c;
    True requires it), or the Python one (False); None takes the C one when it can be built here."""
    files = [paths] if isinstance(paths, Path) else list(paths)
    pf = open_recording(files[0]) if len(files) == 1 else None
    if pf is None or not _fast_enough(pf):
        return _slow(files, changes)
    lib = kernel() if compiled is not False else None
    if compiled and lib is None:
        raise RuntimeError("the compiled NBBO kernel could not be built (zig cc from the ziglang package)")
    if lib is not None:
        return _fold_compiled(lib, pf, files, changes)
    return _fold_python(pf, files, changes)


def _fold_python(pf: pq.ParquetFile, files: list[Path], changes: list[Change] | None) -> int:
    first = len(changes) if changes is not None else 0
    books: dict[tuple[str, str], _Book] = {}
    tops: dict[str, dict[str, Top]] = {}  # symbol -> venue -> top (venues in name order for the key)
    keys: dict[str, NbboKey | None] = {}
    row = 0
    for rg in range(pf.num_row_groups):
        table = pf.read_row_group(rg, columns=_COLUMNS, use_threads=False)
        kind_col, venue_col, symbol_col = (table.column(c).combine_chunks() for c in ("kind", "venue", "symbol"))
        venue_words, symbol_words = venue_col.dictionary.to_pylist(), symbol_col.dictionary.to_pylist()
        if LEGACY_VENUES.keys() & set(venue_words):
            if changes is not None:
                del changes[first:]  # what earlier row groups appended: the slow path gives it again
            return _slow(files, changes)  # MarketBooks renames these; not worth a second code path
        kind_words = kind_col.dictionary.to_pylist()
        code = {w: k for k, w in enumerate(kind_words)}
        delta, snapshot, status = (code.get(w, -1) for w in ("delta", "snapshot", "status"))
        kinds = kind_col.indices.to_numpy().tolist()
        # One int per row naming its (venue, symbol): no strings or tuples per row.
        width = len(symbol_words)
        where = (venue_col.indices.to_numpy().astype("int64") * width + symbol_col.indices.to_numpy()).tolist()
        by_where: dict[int, _Book] = {}
        depths = table.column("truncate_depth").combine_chunks().fill_null(0).to_numpy().tolist()
        bp, bo = _flat_list(table.column("bid_price_1e9"))
        bq, _ = _flat_list(table.column("bid_qty_1e8"))
        ap, ao = _flat_list(table.column("ask_price_1e9"))
        aq, _ = _flat_list(table.column("ask_qty_1e8"))
        extra = None
        for i, kind in enumerate(kinds):
            if kind == delta:
                book = by_where.get(where[i])
                if book is None:
                    w = where[i]
                    book = books.get((venue_words[w // width], symbol_words[w % width]))
                    if book is None:
                        continue  # MarketBooks: deltas without a snapshot cannot be applied
                    by_where[w] = book
                if book.stale:
                    continue
            elif kind == snapshot:
                w = where[i]
                key = (venue_words[w // width], symbol_words[w % width])
                book = books.get(key)
                if book is None:
                    book = books[key] = _Book(*key)
                by_where[w] = book
                book.bids.clear()
                book.asks.clear()
                book.bid, book.ask, book.stale = 0, _NO_ASK, False
            elif kind == status:
                if extra is None:
                    extra = _pylist(pf.read_row_group(rg, columns=["extra_json"]).column("extra_json"))
                _on_status(_status.decode(extra[i]), books, tops, keys, row + i, changes)
                continue
            else:
                continue  # trades and funding leave books alone
            bids, bid, dirty = book.bids, book.bid, False
            b0, b1 = bo[i], bo[i + 1]
            for px, qty in zip(bp[b0:b1], bq[b0:b1]):
                if qty:
                    bids[px] = qty
                    if px > bid:
                        bid = px
                elif bids.pop(px, None) is not None and px == bid:
                    dirty = True
            if dirty:
                bid = max(bids) if bids else 0
            asks, ask, dirty = book.asks, book.ask, False
            a0, a1 = ao[i], ao[i + 1]
            for px, qty in zip(ap[a0:a1], aq[a0:a1]):
                if qty:
                    asks[px] = qty
                    if px < ask:
                        ask = px
                elif asks.pop(px, None) is not None and px == ask:
                    dirty = True
            if dirty:
                ask = min(asks) if asks else _NO_ASK
            depth = depths[i]
            if depth:
                for side, best_first in ((bids, True), (asks, False)):
                    if len(side) > depth:
                        for px in sorted(side, reverse=best_first)[depth:]:
                            del side[px]
            book.bid, book.ask = bid, ask
            top = book.read_top()
            if top == book.top:
                continue  # the top did not move: the NBBO cannot have
            book.top = top
            symbol = book.symbol
            venue_tops = tops.get(symbol)
            if venue_tops is None:
                venue_tops = tops[symbol] = {}
            venue_tops[book.venue] = top
            nbbo = _one_venue_key(book.venue, top) if len(venue_tops) == 1 else _nbbo_key(venue_tops)
            if nbbo != keys.get(symbol):
                keys[symbol] = nbbo
                if changes is not None:
                    changes.append((row + i, symbol, nbbo))
        row += len(kinds)
    return row


_KIND_CODE = {"delta": 0, "snapshot": 1, "status": 2}  # as nbbo_kernel.c's K_*; anything else 3
_RECORD = 7  # row, symbol, bid px, bid qty, ask px, ask qty, n venues; then 5 per venue


def _fold_compiled(lib: ctypes.CDLL, pf: pq.ParquetFile, files: list[Path], changes: list[Change] | None) -> int:
    state = lib.cb_new()
    if not state:
        raise MemoryError
    try:
        return _CompiledFold(lib, state, changes).run(pf, files)
    finally:
        lib.cb_free(state)


class _CompiledFold:
    """Feeds each row group's columns to the C loop as int64 arrays (one book id per row) and turns
    the NBBO records it writes back into `changes`; venue statuses are decided here (covers)."""

    def __init__(self, lib: ctypes.CDLL, state: int, changes: list[Change] | None) -> None:
        self.lib, self.state, self.changes = lib, state, changes
        self.first = len(changes) if changes is not None else 0
        self.books: dict[tuple[str, str], int] = {}
        self.venues: dict[str, int] = {}
        self.symbols: dict[str, int] = {}
        self.out = np.empty(1 << 16, dtype=np.int64) if changes is not None else None
        self.out_len = ctypes.c_int64(0)

    def book(self, venue: str, symbol: str) -> int:
        key = (venue, symbol)
        found = self.books.get(key)
        if found is None:
            found = self.books[key] = len(self.books)
            v = self.venues.setdefault(venue, len(self.venues))
            s = self.symbols.setdefault(symbol, len(self.symbols))
            if self.lib.cb_book(self.state, found, v, s) != 0:
                raise MemoryError
        return found

    def room(self, records: int) -> int:
        """The output buffer's address, grown (once drained) to hold `records` NBBO records."""
        if self.out is None:
            return 0
        need = records * (_RECORD + 5 * len(self.books))
        if self.out.size < need:
            self.out = np.empty(need, dtype=np.int64)
        return int(self.out.ctypes.data)

    def run(self, pf: pq.ParquetFile, files: list[Path]) -> int:
        lib, state, out_len = self.lib, self.state, self.out_len
        row = 0
        for rg in range(pf.num_row_groups):
            table = pf.read_row_group(rg, columns=_COLUMNS, use_threads=False)
            kind_col, venue_col, symbol_col = (_one_chunk(table.column(c)) for c in ("kind", "venue", "symbol"))
            venue_words = venue_col.dictionary.to_pylist() or [""]
            symbol_words = symbol_col.dictionary.to_pylist() or [""]
            if LEGACY_VENUES.keys() & set(venue_words):
                if self.changes is not None:
                    del self.changes[self.first:]
                return _slow(files, self.changes)
            codes = np.array([_KIND_CODE.get(w, 3) for w in kind_col.dictionary.to_pylist()] or [3], dtype=np.int8)
            kinds = np.ascontiguousarray(codes[kind_col.indices.fill_null(0).to_numpy()])
            width = len(symbol_words)
            where = (venue_col.indices.fill_null(0).to_numpy().astype(np.int64) * width
                     + symbol_col.indices.fill_null(0).to_numpy())
            uniq, inverse = np.unique(where, return_inverse=True)
            ids = np.array([self.book(venue_words[w // width], symbol_words[w % width]) for w in uniq.tolist()],
                           dtype=np.int32)
            book_of = np.ascontiguousarray(ids[inverse.reshape(-1)], dtype=np.int32)
            depths = np.ascontiguousarray(_one_chunk(table.column("truncate_depth")).fill_null(0).to_numpy(),
                                          dtype=np.int64)
            bp, bo = _flat_array(table.column("bid_price_1e9"))
            bq, _ = _flat_array(table.column("bid_qty_1e8"))
            ap, ao = _flat_array(table.column("ask_price_1e9"))
            aq, _ = _flat_array(table.column("ask_qty_1e8"))
            n = len(kinds)
            args = [a.ctypes.data for a in (kinds, book_of, depths, bo, bp, bq, ao, ap, aq)]
            extra = None
            start = 0
            while True:
                out = self.room(max(16, (1 << 16) // (_RECORD + 5 * len(self.books))))
                cap = self.out.size if self.out is not None else 0
                stop = lib.cb_fold(state, n, *args, start, out, cap, ctypes.byref(out_len))
                if stop < 0:
                    raise MemoryError
                self.drain(row)
                if stop >= n:
                    break
                start = stop  # the output was full: go on from the same row
                if kinds[stop] == 2:
                    if extra is None:
                        extra = _pylist(pf.read_row_group(rg, columns=["extra_json"]).column("extra_json"))
                    self.on_status(_status.decode(extra[stop]), row + stop)
                    start = stop + 1
            row += n
        return row

    def on_status(self, event: VenueStatusChanged, row: int) -> None:
        # As MarketBooks: only a drop marks books stale (they come back through a snapshot).
        if event.state in ("connected", "connecting"):
            return
        ids = np.array([i for (venue, symbol), i in self.books.items()
                        if venue == event.venue and covers(event, symbol)], dtype=np.int32)
        out = self.room(len(ids))
        if self.lib.cb_drop(self.state, len(ids), ids.ctypes.data, 0, out, ctypes.byref(self.out_len)) < 0:
            raise MemoryError
        first = len(self.changes) if self.changes is not None else 0
        self.drain(row)
        if self.changes is not None:  # one row, several symbols: in name order, as _on_status
            self.changes[first:] = sorted(self.changes[first:], key=lambda change: change[1])

    def drain(self, row: int) -> None:
        """Turn the records the C loop wrote into (row, symbol, NBBO key) changes; empty the buffer."""
        size = self.out_len.value
        if self.out is None or self.changes is None or not size:
            return
        venue_names, symbol_names = list(self.venues), list(self.symbols)
        values = self.out[:size].tolist()
        append = self.changes.append
        p = 0
        while p < size:
            at, symbol, bid, bid_qty, ask, ask_qty, count = values[p:p + _RECORD]
            p += _RECORD
            if count:
                venues = tuple(sorted((venue_names[values[q]], values[q + 1], values[q + 2], values[q + 3],
                                       values[q + 4]) for q in range(p, p + 5 * count, 5)))
                append((row + at, symbol_names[symbol], (bid, bid_qty, ask, ask_qty, venues)))
            else:
                append((row + at, symbol_names[symbol], None))
            p += 5 * count
        self.out_len.value = 0


def _one_chunk(column: pa.ChunkedArray) -> Any:
    # A row group's column is one chunk: combine_chunks would copy it (~100 MB of levels per 300k rows).
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _flat_array(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """A list<int64> column as contiguous int64 (values, offsets): row i is values[offsets[i]:offsets[i+1]]."""
    array = _one_chunk(column)
    offsets = array.offsets.to_numpy()
    base = int(offsets[0])
    values = array.values.slice(base, int(offsets[-1]) - base).to_numpy(zero_copy_only=False)
    return (np.ascontiguousarray(values, dtype=np.int64),
            np.ascontiguousarray(offsets - base, dtype=np.int64))


def _one_venue_key(venue: str, top: Top) -> NbboKey | None:
    """`_nbbo_key({venue: top})` without its general passes."""
    usable, bid, bid_qty, ask, ask_qty = top
    if not usable:
        return None
    return (bid, bid_qty if bid else 0, ask if ask_qty else 0, ask_qty if ask and ask_qty else 0,
            ((venue, bid, bid_qty, ask, ask_qty),))


def _on_status(event: VenueStatusChanged, books: dict[tuple[str, str], _Book], tops: dict[str, dict[str, Top]],
               keys: dict[str, NbboKey | None], row: int, changes: list[Change] | None) -> None:
    # As MarketBooks: only a drop marks books stale (they come back through a snapshot).
    if event.state in ("connected", "connecting"):
        return
    symbols: list[str] = []
    for book in books.values():
        if book.venue == event.venue and covers(event, book.symbol) and not book.stale:
            book.stale = True
            symbols.append(book.symbol)
    for symbol in symbols:
        venue_tops: dict[str, Top] = {}
        for (venue, s), book in sorted(books.items()):
            if s == symbol:
                book.top = venue_tops[venue] = book.read_top()
        tops[symbol] = venue_tops
    for symbol in sorted(set(symbols)):
        nbbo = _nbbo_key(tops.get(symbol, {}))
        if nbbo != keys.get(symbol):
            keys[symbol] = nbbo
            if changes is not None:
                changes.append((row, symbol, nbbo))


def _slow(files: list[Path], changes: list[Change] | None) -> int:
    """NbboFold over the decoded events: the reference the fast path must equal."""
    return nbbo_changes_of(read_recording(files), changes)


def nbbo_changes_of(events: Iterable[AnyEvent], changes: list[Change] | None = None) -> int:
    """`NbboFold` over `events`, recording each symbol's NBBO key where it changed (the reference)."""
    fold = NbboFold()
    seen: dict[str, NbboKey | None] = {}
    n = 0
    for n, event in enumerate(events, start=1):
        if fold.apply(event) and changes is not None:
            for symbol in fold.books.symbols():
                key = fold.key(symbol)
                if key != seen.get(symbol):
                    seen[symbol] = key
                    changes.append((n - 1, symbol, key))
    return n
