"""Turn other people's market data into recordings.

- Recorded venue payloads (`../shared/fixtures/venues/<venue>/ws_*.json[l]`) go through the real
  venue parsers and the real edge runtime (`EdgeRunner.handle_frame`: sequence, checksum and
  crossed-book checks included), exactly as frames from a socket would.
- Tardis-style CSV (`incremental_book_L2`, `trades`), the format most crypto researchers hold.

Fixture frames carry no receive time: frame i of a file is stamped `start_ns + i * FRAME_STEP_NS`.
Ids are derived from the source (file, line), so importing the same input twice gives the same
recording, byte for byte.
"""

from __future__ import annotations

import csv
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from events import AnyEvent
from events.ids import derive_id
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted
from replay.recording import MdEvent, RecordingWriter, is_md_event
from services.edges import registry
from services.edges.numbers import PX_SCALE, QTY_SCALE, scale
from services.edges.runtime import EdgeRunner, MemorySink
from services.edges.venue import BookMode, BookUpdate, ParseError, TradeUpdate, VenueAdapter
from services.errors import CrossbookError

FRAME_STEP_NS = 1_000_000  # 1 ms between the frames of one fixture file
FILE_STEP_NS = 3_600 * 10**9  # each fixture file starts an hour after the previous one
DEFAULT_START_NS = 1_700_000_000 * 10**9

# Fixture folder -> venue adapter names when they differ from the folder's own name.
FOLDER_VENUES = {"binance_spot": ["binance"]}


class ImportError_(CrossbookError):
    """An input file cannot be imported (names the file, the line and the value)."""


@dataclass
class FileImport:
    path: Path
    venue: str = ""  # the adapter that read it ("" = none could)
    start_ns: int = 0  # the time stamped on its first frame
    frames: int = 0
    events: int = 0
    bad_frames: int = 0
    integrity_failures: int = 0
    symbols: list[str] = field(default_factory=list)


# --- fixtures through the real parsers --------------------------------------------------------


class _FixtureRunner(EdgeRunner):
    """The edge runtime without a socket: a failed book waits for the next snapshot in the file
    (or the file's REST snapshot) instead of reconnecting."""

    async def _resync(self, venue_symbol: str) -> None:
        self.counters["resyncs"] += 1
        self.books[venue_symbol].reset()
        self._published_tops.pop(venue_symbol, None)

    async def apply_rest_snapshot(self, update: BookUpdate, recv_ns: int) -> None:
        events: list[AnyEvent] = []
        await self._on_book(update, recv_ns, events)
        if events:
            await self.sink.emit(events)


def _frames(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [line for line in text.splitlines() if line.strip()]
    return [text]


def _venue_symbols(adapter: VenueAdapter, frames: Sequence[str]) -> list[str]:
    """Canonical symbols of the books and trades in `frames` that this adapter maps both ways."""
    seen: dict[str, None] = {}
    for raw in frames:
        try:
            parsed = adapter.parse(raw)
        except ParseError:
            continue
        for item in parsed:
            if isinstance(item, (BookUpdate, TradeUpdate)):
                try:
                    canonical = adapter.to_canonical(item.symbol)
                    if adapter.to_venue(canonical) == item.symbol:
                        seen[canonical] = None
                except (CrossbookError, ValueError, KeyError):
                    continue
    return list(seen)


async def _replay_file(
    adapter_cls: type[VenueAdapter], path: Path, start_ns: int
) -> tuple[FileImport, list[AnyEvent]]:
    adapter = adapter_cls()
    frames = _frames(path)
    report = FileImport(path, frames=len(frames), start_ns=start_ns)
    symbols = _venue_symbols(adapter, frames)
    if not symbols:
        return report, []
    now = [start_ns]
    ids = itertools.count()
    key = f"{path.parent.name}/{path.name}"
    runner = _FixtureRunner(
        adapter,
        symbols,
        MemorySink(),
        clock_ns=lambda: now[0],
        new_id=lambda: derive_id("fixture-import", adapter.name, key, str(next(ids))),
    )
    snapshot = _rest_snapshot(adapter, path)
    for i, raw in enumerate(frames):
        now[0] = start_ns + i * FRAME_STEP_NS
        await runner.handle_frame(raw, now[0])
        if snapshot is not None:
            update = snapshot()
            if update is not None and runner.books.get(update.symbol) is not None and runner.books[update.symbol].stale:
                await runner.apply_rest_snapshot(update, now[0])
    sink = runner.sink
    assert isinstance(sink, MemorySink)
    report.venue = adapter.name
    report.events = len(sink.events)
    report.bad_frames = runner.counters["bad_frames"]
    report.integrity_failures = runner.counters["integrity_failures"]
    report.symbols = symbols
    return report, sink.events


def _rest_snapshot(adapter: VenueAdapter, path: Path) -> Callable[[], BookUpdate | None] | None:
    """For a REST-bootstrapped venue, the recorded REST snapshot beside a diff file (same symbol)."""
    if adapter.book_mode is not BookMode.REST_SNAPSHOT:
        return None
    symbol = path.stem.rsplit("_", 1)[-1]
    rest = path.with_name(f"rest_depth_snapshot_{symbol}.json")
    if not rest.exists():
        return None
    body = rest.read_bytes()

    def parse() -> BookUpdate | None:
        try:
            return adapter.parse_snapshot(body, symbol)
        except ParseError:
            return None

    return parse


def fixture_adapters(folder: Path) -> list[type[VenueAdapter]]:
    adapters = registry.adapters()
    names = FOLDER_VENUES.get(folder.name) or sorted(
        n for n in adapters if n == folder.name or n.startswith(folder.name + "_")
    )
    return [adapters[n] for n in names if n in adapters]


async def import_fixtures(
    root: Path, writer: RecordingWriter, *, venues: Sequence[str] | None = None, start_ns: int = DEFAULT_START_NS
) -> list[FileImport]:
    """Replay every `ws_*.json[l]` under `root/<venue>/` through that venue's parser and edge
    runtime, writing the md events. A file goes to the first adapter (by name) that reads a book
    or trade from it (so a Bybit file is spot or linear, never both)."""
    reports: list[FileImport] = []
    file_start = start_ns
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if venues and folder.name not in venues:
            continue
        candidates = fixture_adapters(folder)
        for path in sorted(folder.glob("ws_*.json*")):
            report = FileImport(path)
            for adapter_cls in candidates:
                report, events = await _replay_file(adapter_cls, path, file_start)
                md = [e for e in events if is_md_event(e)]
                if any(isinstance(e, (BookSnapshot, BookDeltaBatch, TradePrinted)) for e in md):
                    writer.write_all(md)  # type: ignore[arg-type]
                    report.events = len(md)
                    break
                report = FileImport(path, frames=report.frames, start_ns=file_start)
            reports.append(report)
            file_start += FILE_STEP_NS
    return reports


# --- Tardis CSV -------------------------------------------------------------------------------

# Tardis exchange ids -> our venue names, where they differ.
TARDIS_VENUES = {"okex": "okx", "binance-futures": "binance_usdm", "crypto-com": "cryptocom", "bybit-spot": "bybit"}


def _canonical(venue: str, symbol: str) -> str:
    adapter_cls = registry.adapters().get(venue)
    if adapter_cls is None:
        return symbol
    try:
        return adapter_cls().to_canonical(symbol)
    except (CrossbookError, ValueError, KeyError):
        return symbol


def _us_to_ns(text: str, path: Path, line: int) -> int:
    try:
        return int(text) * 1_000
    except ValueError as exc:
        raise ImportError_(f"{path}:{line}: timestamp {text!r} is not integer microseconds") from exc


def _num(text: str, places: int, path: Path, line: int, name: str) -> int:
    try:
        return scale(text, places)
    except (CrossbookError, ValueError, ArithmeticError) as exc:
        raise ImportError_(f"{path}:{line}: {name} {text!r}: {exc}") from exc


class _Symbols:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[str, str]] = {}

    def __call__(self, exchange: str, symbol: str) -> tuple[str, str]:
        key = (exchange, symbol)
        if key not in self._cache:
            venue = TARDIS_VENUES.get(exchange, exchange)
            self._cache[key] = (venue, _canonical(venue, symbol))
        return self._cache[key]


def tardis_book(path: Path) -> Iterator[MdEvent]:
    """`incremental_book_L2` rows -> BookSnapshot / BookDeltaBatch events.

    Consecutive rows with the same exchange, symbol, local_timestamp and is_snapshot are one
    message; a run of is_snapshot=true rows after deltas (or at the start) is a new snapshot."""
    symbols = _Symbols()
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        expected = ["exchange", "symbol", "timestamp", "local_timestamp", "is_snapshot", "side", "price", "amount"]
        if header != expected:
            raise ImportError_(f"{path}: header {header} is not the incremental_book_L2 header {expected}")
        group: list[tuple[int, list[str]]] = []
        for line, row in enumerate(rows, start=2):
            if len(row) != 8:
                raise ImportError_(f"{path}:{line}: {len(row)} fields, expected 8")
            if group and (row[0], row[1], row[3], row[4]) != (group[0][1][0], group[0][1][1], group[0][1][3], group[0][1][4]):
                yield _book_event(path, group, symbols)
                group = []
            group.append((line, row))
        if group:
            yield _book_event(path, group, symbols)


def _book_event(path: Path, group: list[tuple[int, list[str]]], symbols: _Symbols) -> MdEvent:
    first_line, first = group[0]
    venue, symbol = symbols(first[0], first[1])
    bids: list[tuple[int, int]] = []
    asks: list[tuple[int, int]] = []
    for line, row in group:
        level = (_num(row[6], PX_SCALE, path, line, "price"), _num(row[7], QTY_SCALE, path, line, "amount"))
        if row[5] == "bid":
            bids.append(level)
        elif row[5] == "ask":
            asks.append(level)
        else:
            raise ImportError_(f"{path}:{line}: side {row[5]!r} is not bid or ask")
    ts_ns = _us_to_ns(first[3], path, first_line)
    common = dict(
        event_id=derive_id("tardis-import", path.name, str(first_line)),
        ts_ns=ts_ns,
        venue=venue,
        symbol=symbol,
        ts_event_ns=_us_to_ns(first[2], path, first_line),
        ts_recv_ns=ts_ns,
    )
    if first[4] == "true":
        bids = sorted((lv for lv in bids if lv[1]), reverse=True)
        asks = sorted(lv for lv in asks if lv[1])
        return BookSnapshot(bids=bids, asks=asks, **common)  # type: ignore[arg-type]
    return BookDeltaBatch(bids=bids, asks=asks, **common)  # type: ignore[arg-type]


def tardis_trades(path: Path) -> Iterator[MdEvent]:
    """`trades` rows -> TradePrinted events."""
    symbols = _Symbols()
    with path.open(newline="") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        expected = ["exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"]
        if header != expected:
            raise ImportError_(f"{path}: header {header} is not the trades header {expected}")
        for line, row in enumerate(rows, start=2):
            if len(row) != 8:
                raise ImportError_(f"{path}:{line}: {len(row)} fields, expected 8")
            venue, symbol = symbols(row[0], row[1])
            side = row[5] if row[5] in ("buy", "sell") else "unknown"
            ts_ns = _us_to_ns(row[3], path, line)
            yield TradePrinted(
                event_id=derive_id("tardis-import", path.name, str(line)),
                ts_ns=ts_ns,
                venue=venue,
                symbol=symbol,
                px_1e9=_num(row[6], PX_SCALE, path, line, "price"),
                qty_1e8=_num(row[7], QTY_SCALE, path, line, "amount"),
                aggressor=side,  # type: ignore[arg-type]
                trade_id=row[4],
                ts_event_ns=_us_to_ns(row[2], path, line),
                ts_recv_ns=ts_ns,
            )


def tardis_kind(path: Path) -> str:
    """'book' or 'trades', from the CSV header."""
    with path.open(newline="") as f:
        header = next(csv.reader(f), [])
    if "is_snapshot" in header:
        return "book"
    if "id" in header:
        return "trades"
    raise ImportError_(f"{path}: header {header} is neither incremental_book_L2 nor trades")


def import_tardis(paths: Iterable[Path], writer: RecordingWriter) -> int:
    """Merge Tardis CSVs (each in time order) by local time into `writer`; return the events written."""
    streams = [tardis_book(p) if tardis_kind(p) == "book" else tardis_trades(p) for p in paths]
    before = writer.count
    for event in heapq.merge(*streams, key=lambda e: e.ts_ns):
        writer.write(event)
    return writer.count - before
