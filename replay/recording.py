"""Market-data recordings: Parquet files a researcher opens with pandas, polars or DuckDB.

Schema (version `SCHEMA_VERSION`, stored in the file's key-value metadata under
`crossbook.recording`; documented in replay/RECORDING.md): one row per market-data event, row
groups sorted by `ts_ns` (declared as the sorting column, with min/max statistics per row
group), `venue`/`symbol`/`kind` dictionary-encoded with statistics. Money is integer columns
(`price_1e9`, `qty_1e8`, the level lists `bid_price_1e9`...), never float.

`RecordingReader` streams the events of one or more files back in time order, decoded into the
project's own md events, holding at most a slice of each open row group in Python objects
(bounded memory: a 10M-event file replays in well under 1 GB).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from events.market import BookDeltaBatch, BookSnapshot, FundingRateUpdated, TradePrinted, VenueStatusChanged

SCHEMA_VERSION = 1
METADATA_KEY = b"crossbook.recording"
ROW_GROUP_ROWS = 65_536
DECODE_SLICE_ROWS = 4_096  # rows of an open row group turned into Python objects at a time

MdEvent = BookSnapshot | BookDeltaBatch | TradePrinted | VenueStatusChanged | FundingRateUpdated
KINDS = ("snapshot", "delta", "trade", "status", "funding")

_levels = pa.list_(pa.int64())
SCHEMA = pa.schema(
    [
        pa.field("ts_ns", pa.int64(), nullable=False),  # publish time (our clock): the replay order
        pa.field("kind", pa.dictionary(pa.int8(), pa.string()), nullable=False),
        pa.field("venue", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("symbol", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("ts_event_ns", pa.int64(), nullable=False),  # venue clock (0 = not given)
        pa.field("ts_recv_ns", pa.int64(), nullable=False),  # edge receive time
        pa.field("venue_seq", pa.int64()),
        pa.field("bid_price_1e9", _levels),  # book rows: levels best first (deltas: qty 0 deletes)
        pa.field("bid_qty_1e8", _levels),
        pa.field("ask_price_1e9", _levels),
        pa.field("ask_qty_1e8", _levels),
        pa.field("truncate_depth", pa.int32()),
        pa.field("price_1e9", pa.int64()),  # trade rows
        pa.field("qty_1e8", pa.int64()),
        pa.field("aggressor", pa.dictionary(pa.int8(), pa.string())),
        pa.field("trade_id", pa.string()),
        pa.field("state", pa.dictionary(pa.int8(), pa.string())),  # status rows
        pa.field("reason", pa.string()),
        pa.field("extra_json", pa.string()),  # status/funding rows: the whole event as JSON
    ],
    metadata={METADATA_KEY: json.dumps({"schema_version": SCHEMA_VERSION}).encode()},
)
COLUMNS = SCHEMA.names

_json = msgspec.json.Encoder()
_status_decoder = msgspec.json.Decoder(VenueStatusChanged)
_funding_decoder = msgspec.json.Decoder(FundingRateUpdated)


class RecordingError(ValueError):
    """A file is not a recording this version can read (names the file and what is wrong)."""


def is_md_event(event: object) -> bool:
    return isinstance(event, (BookSnapshot, BookDeltaBatch, TradePrinted, VenueStatusChanged, FundingRateUpdated))


class RecordingWriter:
    """Append md events; each full buffer becomes one row group sorted by `ts_ns` (stable)."""

    def __init__(self, path: Path, *, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path = path
        self.row_group_rows = row_group_rows
        self.count = 0  # events written (buffered ones included)
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._rows: list[MdEvent] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(
            str(path),
            SCHEMA,
            compression="zstd",
            sorting_columns=[pq.SortingColumn(0)],
            write_statistics=True,
        )

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def write(self, event: MdEvent) -> None:
        self._rows.append(event)
        self.count += 1
        self.counts[_kind(event)] += 1
        if len(self._rows) >= self.row_group_rows:
            self.flush()

    def write_all(self, events: Iterable[MdEvent]) -> None:
        for event in events:
            self.write(event)

    def flush(self) -> None:
        if not self._rows:
            return
        rows = sorted(self._rows, key=lambda e: e.ts_ns)  # stable: equal times keep arrival order
        self._rows = []
        self._writer.write_table(_to_table(rows), row_group_size=len(rows))

    def close(self) -> None:
        self.flush()
        self._writer.close()


def _kind(e: MdEvent) -> str:
    if isinstance(e, BookSnapshot):
        return "snapshot"
    if isinstance(e, BookDeltaBatch):
        return "delta"
    if isinstance(e, TradePrinted):
        return "trade"
    if isinstance(e, VenueStatusChanged):
        return "status"
    return "funding"


def _to_table(rows: Sequence[MdEvent]) -> pa.Table:
    cols: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for e in rows:
        cols["ts_ns"].append(e.ts_ns)
        cols["venue"].append(e.venue)
        cols["symbol"].append(e.symbol)
        cols["event_id"].append(e.event_id)
        book = isinstance(e, (BookSnapshot, BookDeltaBatch))
        trade = isinstance(e, TradePrinted)
        status = isinstance(e, VenueStatusChanged)
        kind = _kind(e)
        cols["kind"].append(kind)
        cols["ts_event_ns"].append(getattr(e, "ts_event_ns", 0))
        cols["ts_recv_ns"].append(getattr(e, "ts_recv_ns", 0))
        cols["venue_seq"].append(e.venue_seq if book else None)  # type: ignore[union-attr]
        if book:
            cols["bid_price_1e9"].append([px for px, _ in e.bids])  # type: ignore[union-attr]
            cols["bid_qty_1e8"].append([q for _, q in e.bids])  # type: ignore[union-attr]
            cols["ask_price_1e9"].append([px for px, _ in e.asks])  # type: ignore[union-attr]
            cols["ask_qty_1e8"].append([q for _, q in e.asks])  # type: ignore[union-attr]
            cols["truncate_depth"].append(e.truncate_depth)  # type: ignore[union-attr]
        else:
            for name in ("bid_price_1e9", "bid_qty_1e8", "ask_price_1e9", "ask_qty_1e8", "truncate_depth"):
                cols[name].append(None)
        cols["price_1e9"].append(e.px_1e9 if trade else None)  # type: ignore[union-attr]
        cols["qty_1e8"].append(e.qty_1e8 if trade else None)  # type: ignore[union-attr]
        cols["aggressor"].append(e.aggressor if trade else None)  # type: ignore[union-attr]
        cols["trade_id"].append(e.trade_id if trade else None)  # type: ignore[union-attr]
        cols["state"].append(e.state if status else None)  # type: ignore[union-attr]
        cols["reason"].append(e.reason if status else None)  # type: ignore[union-attr]
        cols["extra_json"].append(_json.encode(e).decode() if kind in ("status", "funding") else None)
    return pa.Table.from_pydict(cols, schema=SCHEMA)


def write_recording(path: Path, events: Iterable[MdEvent], *, row_group_rows: int = ROW_GROUP_ROWS) -> int:
    """Write `events` to a new recording at `path`; return how many were written."""
    with RecordingWriter(path, row_group_rows=row_group_rows) as writer:
        writer.write_all(events)
    return writer.count


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingInfo:
    path: Path
    schema_version: int
    events: int
    row_groups: int
    start_ns: int
    end_ns: int
    venues: list[str]
    symbols: list[str]


def open_recording(path: Path) -> pq.ParquetFile:
    """Open and check a recording (RecordingError names the file and the problem)."""
    try:
        pf = pq.ParquetFile(str(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise RecordingError(f"{path}: not a Parquet file ({exc})") from exc
    meta = pf.schema_arrow.metadata or {}
    if METADATA_KEY not in meta:
        raise RecordingError(f"{path}: no {METADATA_KEY.decode()} metadata; not a Crossbook recording")
    version = json.loads(meta[METADATA_KEY]).get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordingError(f"{path}: recording schema_version {version}, this reader reads {SCHEMA_VERSION}")
    return pf


def _ts_bounds(pf: pq.ParquetFile, rg: int) -> tuple[int, int]:
    stats = pf.metadata.row_group(rg).column(0).statistics
    if stats is None or not stats.has_min_max:
        raise RecordingError(f"row group {rg} has no ts_ns statistics")
    return int(stats.min), int(stats.max)


def recording_info(path: Path) -> RecordingInfo:
    pf = open_recording(path)
    bounds = [_ts_bounds(pf, i) for i in range(pf.num_row_groups)]
    table = pf.read(columns=["venue", "symbol"])
    return RecordingInfo(
        path=path,
        schema_version=SCHEMA_VERSION,
        events=pf.metadata.num_rows,
        row_groups=pf.num_row_groups,
        start_ns=min((b[0] for b in bounds), default=0),
        end_ns=max((b[1] for b in bounds), default=0),
        venues=sorted(pc.unique(table.column("venue").combine_chunks().dictionary_decode()).to_pylist()),
        symbols=sorted(pc.unique(table.column("symbol").combine_chunks().dictionary_decode()).to_pylist()),
    )


_LEVEL_COLUMNS = ("bid_price_1e9", "bid_qty_1e8", "ask_price_1e9", "ask_qty_1e8")


def _pylist(column: pa.ChunkedArray) -> list[Any]:
    # Arrow's to_pylist costs ~1 us a value; through numpy (ints) or the dictionary it is ~20x less.
    array = column.combine_chunks()
    if array.null_count == len(array):
        return [None] * len(array)
    if pa.types.is_dictionary(array.type):
        words = array.dictionary.to_pylist()
        if array.null_count:
            return [None if i is None else words[i] for i in array.indices.to_pylist()]
        return [words[i] for i in array.indices.to_numpy().tolist()]
    if pa.types.is_integer(array.type) and not array.null_count:
        return array.to_numpy().tolist()
    return array.to_pylist()


def _flat_list(column: pa.ChunkedArray) -> tuple[list[int], list[int]]:
    """A list<int64> column as (all values, offsets): row i is values[offsets[i]:offsets[i+1]]."""
    array = column.combine_chunks()
    offsets = array.offsets.to_numpy().tolist()
    base = offsets[0]
    values = array.values.slice(base, offsets[-1] - base).to_numpy(zero_copy_only=False).tolist()
    return values, [o - base for o in offsets]


def _event_rows(table: pa.Table) -> Iterator[tuple[int, MdEvent]]:
    """Decode a (sorted) table slice by slice into (ts_ns, event)."""
    delta, snapshot, trade = BookDeltaBatch, BookSnapshot, TradePrinted
    for offset in range(0, table.num_rows, DECODE_SLICE_ROWS):
        part = table.slice(offset, DECODE_SLICE_ROWS)
        c = {name: _pylist(part.column(name)) for name in COLUMNS if name not in _LEVEL_COLUMNS}
        bp_v, bp_o = _flat_list(part.column("bid_price_1e9"))
        bq_v, _ = _flat_list(part.column("bid_qty_1e8"))
        ap_v, ap_o = _flat_list(part.column("ask_price_1e9"))
        aq_v, _ = _flat_list(part.column("ask_qty_1e8"))
        rows = zip(c["kind"], c["ts_ns"], c["event_id"], c["venue"], c["symbol"], c["venue_seq"], c["ts_event_ns"],
                   c["ts_recv_ns"], c["truncate_depth"], c["price_1e9"], c["qty_1e8"], c["aggressor"],
                   c["trade_id"], c["extra_json"])
        for i, (kind, ts, eid, venue, symbol, seq, ts_event, ts_recv, depth, px, qty, aggr, tid, extra) in enumerate(rows):
            event: MdEvent
            if kind == "delta" or kind == "snapshot":
                b0, b1, a0, a1 = bp_o[i], bp_o[i + 1], ap_o[i], ap_o[i + 1]
                event = (delta if kind == "delta" else snapshot)(
                    event_id=eid, ts_ns=ts, venue=venue, symbol=symbol,
                    bids=list(zip(bp_v[b0:b1], bq_v[b0:b1])), asks=list(zip(ap_v[a0:a1], aq_v[a0:a1])),
                    venue_seq=seq, ts_event_ns=ts_event, ts_recv_ns=ts_recv, truncate_depth=depth or 0,
                )
            elif kind == "trade":
                event = trade(
                    event_id=eid, ts_ns=ts, venue=venue, symbol=symbol, px_1e9=px, qty_1e8=qty, aggressor=aggr,
                    trade_id=tid or "", ts_event_ns=ts_event, ts_recv_ns=ts_recv,
                )
            elif kind == "status":
                event = _status_decoder.decode(extra)
            elif kind == "funding":
                event = _funding_decoder.decode(extra)
            else:
                raise RecordingError(f"unknown row kind {kind!r} (event {eid})")
            yield ts, event


class RecordingReader:
    """Stream the md events of recordings in (ts_ns, file, row group, row) order.

    Row groups are opened lazily, in order of their minimum `ts_ns` (from the statistics), only
    when the merge reaches that time; rows outside [start_ns, end_ns] or not of `venues` /
    `symbols` are dropped in Arrow before they become Python objects."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        start_ns: int | None = None,
        end_ns: int | None = None,
        venues: Sequence[str] | None = None,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.files = [open_recording(p) for p in paths]
        self.start_ns, self.end_ns = start_ns, end_ns
        self.venues = list(venues) if venues else None
        self.symbols = list(symbols) if symbols else None
        self.row_groups: list[tuple[int, int, int, int]] = []  # (min_ts, file, row group, max_ts)
        for fi, pf in enumerate(self.files):
            for rg in range(pf.num_row_groups):
                lo, hi = _ts_bounds(pf, rg)
                if (end_ns is not None and lo > end_ns) or (start_ns is not None and hi < start_ns):
                    continue
                self.row_groups.append((lo, fi, rg, hi))
        self.row_groups.sort()
        self.total = sum(self.files[fi].metadata.row_group(rg).num_rows for _, fi, rg, _ in self.row_groups)

    @property
    def start_ts_ns(self) -> int | None:
        """The first event time the reader can yield (row group statistics; filters aside)."""
        return self.row_groups[0][0] if self.row_groups else None

    def _load(self, fi: int, rg: int) -> pa.Table:
        table = self.files[fi].read_row_group(rg, columns=COLUMNS)
        mask = None
        ts = table.column("ts_ns")
        for cond in (
            pc.greater_equal(ts, self.start_ns) if self.start_ns is not None else None,
            pc.less_equal(ts, self.end_ns) if self.end_ns is not None else None,
            pc.is_in(table.column("venue").cast(pa.string()), pa.array(self.venues)) if self.venues else None,
            pc.is_in(table.column("symbol").cast(pa.string()), pa.array(self.symbols)) if self.symbols else None,
        ):
            if cond is not None:
                mask = cond if mask is None else pc.and_(mask, cond)
        return table if mask is None else table.filter(mask)

    def __iter__(self) -> Iterator[MdEvent]:
        pending = list(reversed(self.row_groups))  # pop() gives the next by min ts
        heap: list[tuple[int, int, int, Iterator[tuple[int, MdEvent]], MdEvent]] = []

        def open_next() -> None:
            _, fi, rg, _ = pending.pop()
            rows = _event_rows(self._load(fi, rg))
            first = next(rows, None)
            if first is not None:
                heapq.heappush(heap, (first[0], fi, rg, rows, first[1]))

        while heap or pending:
            # Open every row group that could hold the next event.
            while pending and (not heap or pending[-1][0] <= heap[0][0]):
                open_next()
            if not heap:
                continue
            ts, fi, rg, rows, event = heapq.heappop(heap)
            # Yield this cursor's run while it stays ahead of every other source.
            bound = min(
                (heap[0][0], heap[0][1], heap[0][2]) if heap else (1 << 63, 0, 0),
                (pending[-1][0], pending[-1][1], pending[-1][2]) if pending else (1 << 63, 0, 0),
            )
            while True:
                yield event
                item = next(rows, None)
                if item is None:
                    break
                ts, event = item
                if (ts, fi, rg) > bound:
                    heapq.heappush(heap, (ts, fi, rg, rows, event))
                    break


def read_recording(paths: Sequence[Path] | Path, **filters: Any) -> Iterator[MdEvent]:
    """The events of one or more recordings in time order (see RecordingReader)."""
    return iter(RecordingReader([paths] if isinstance(paths, Path) else list(paths), **filters))
