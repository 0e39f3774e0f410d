"""Recordings: Parquet files that round-trip the md events exactly, stream back in time order
across overlapping row groups and files, filter by venue/symbol/time, and open in plain Arrow."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from events.market import BookDeltaBatch, BookSnapshot, FundingRateUpdated, TradePrinted, VenueStatusChanged
from replay.recording import (
    MdEvent,
    RecordingError,
    RecordingReader,
    read_recording,
    recording_info,
    write_recording,
)


def sample_events(n: int, seed: int, venues: tuple[str, ...] = ("okx", "binance")) -> list[MdEvent]:
    rng = random.Random(seed)
    out: list[MdEvent] = []
    for i in range(n):
        # Times jitter, so arrival order is not time order: the writer sorts each row group.
        ts = 10**18 + i * 1_000 + rng.randint(0, 50_000)
        venue = rng.choice(venues)
        match i % 5:
            case 0:
                out.append(BookSnapshot(event_id=f"s{seed}-{i}", ts_ns=ts, venue=venue, symbol="BTC-USDT",
                                        bids=[(100_000 * 10**9 - k, 10**8 + k) for k in range(5)],
                                        asks=[(100_001 * 10**9 + k, 2 * 10**8) for k in range(3)],
                                        venue_seq=i, ts_event_ns=ts - 7, ts_recv_ns=ts - 3))
            case 1:
                out.append(BookDeltaBatch(event_id=f"d{seed}-{i}", ts_ns=ts, venue=venue, symbol="ETH-USDT",
                                          bids=[(3_000 * 10**9, 0)], asks=[], venue_seq=None, truncate_depth=25))
            case 2:
                out.append(TradePrinted(event_id=f"t{seed}-{i}", ts_ns=ts, venue=venue, symbol="BTC-USDT",
                                        px_1e9=99_999_123_456_789, qty_1e8=12_345, aggressor="sell", trade_id=str(i)))
            case 3:
                out.append(VenueStatusChanged(event_id=f"v{seed}-{i}", ts_ns=ts, venue=venue, state="stale",
                                              symbol="BTC-USDT", reason="checksum", integrity_failures=2,
                                              subscribed_symbols=["BTC-USDT"]))
            case _:
                out.append(FundingRateUpdated(event_id=f"f{seed}-{i}", ts_ns=ts, venue=venue, symbol="BTC-USDT-PERP",
                                              rate_1e9=-12_345, interval_ns=8 * 3600 * 10**9, next_funding_ns=ts + 5))
    return out


def test_events_round_trip_exactly_in_time_order(tmp_path: Path) -> None:
    events = sample_events(3_000, seed=1)
    path = tmp_path / "r.parquet"
    assert write_recording(path, events, row_group_rows=700) == 3_000
    back = list(read_recording(path))
    # Row groups overlap in time (jitter), so only the merge makes this hold.
    assert back == sorted(events, key=lambda e: e.ts_ns)
    info = recording_info(path)
    assert info.events == 3_000 and info.row_groups == 5
    assert info.start_ns == min(e.ts_ns for e in events) and info.end_ns == max(e.ts_ns for e in events)
    assert info.venues == ["binance", "okx"]


def test_several_files_merge_by_time_and_filters_drop_rows(tmp_path: Path) -> None:
    a, b = sample_events(1_000, seed=2, venues=("okx",)), sample_events(1_000, seed=3, venues=("kraken",))
    write_recording(tmp_path / "a.parquet", a, row_group_rows=300)
    write_recording(tmp_path / "b.parquet", b, row_group_rows=300)
    both = list(read_recording([tmp_path / "a.parquet", tmp_path / "b.parquet"]))
    assert [e.ts_ns for e in both] == sorted(e.ts_ns for e in a + b)
    assert sorted(e.event_id for e in both) == sorted(e.event_id for e in a + b)
    middle = sorted(e.ts_ns for e in a + b)[1_000]
    only = list(RecordingReader([tmp_path / "a.parquet", tmp_path / "b.parquet"], venues=["kraken"],
                                symbols=["BTC-USDT"], start_ns=middle))
    expected = sorted((e for e in b if e.symbol == "BTC-USDT" and e.ts_ns >= middle), key=lambda e: e.ts_ns)
    assert only == expected and only


def test_a_researcher_reads_integer_columns_with_plain_arrow(tmp_path: Path) -> None:
    path = tmp_path / "r.parquet"
    write_recording(path, sample_events(50, seed=4))
    table = pq.read_table(path)
    import pyarrow.compute as pc

    trades = table.filter(pc.equal(table.column("kind").cast("string"), "trade")).to_pylist()
    assert trades[0]["price_1e9"] == 99_999_123_456_789 and trades[0]["qty_1e8"] == 12_345
    assert str(table.schema.field("price_1e9").type) == "int64"
    meta = pq.ParquetFile(path).metadata
    assert meta.row_group(0).sorting_columns[0].column_index == 0  # sorted by ts_ns, declared
    assert meta.row_group(0).column(0).statistics.has_min_max


def test_a_file_that_is_not_a_recording_is_refused_by_name(tmp_path: Path) -> None:
    import pyarrow as pa

    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1]}), other)
    with pytest.raises(RecordingError, match="other.parquet.*not a Crossbook recording"):
        list(read_recording(other))
