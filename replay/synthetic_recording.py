"""A synthetic, seeded L2 market written straight to a recording (numpy columns, no Python
event per row), for benchmarks and memory tests of the reader and the backtest.

Venues take rows in turn: each gets a 20-level snapshot at the start and every `snapshot_every` rows, a trade
every tenth row, otherwise a delta setting two bid and two ask levels around a random-walk mid
(about a third of them deletes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from replay.recording import ROW_GROUP_ROWS, SCHEMA

TICK_1E9 = 10**8  # 0.1 quote
LEVELS = 20
DELTA_LEVELS = 2  # levels set per side by a delta
CLEAR = 3


def write_synthetic(
    path: Path,
    n: int,
    *,
    seed: int = 1,
    venues: tuple[str, ...] = ("binance", "okx"),
    symbol: str = "BTC-USDT",
    start_ns: int = 1_700_000_000 * 10**9,
    step_ns: int = 1_000_000,
    snapshot_every: int = 50_000,
) -> int:
    """Write `n` rows; return n."""
    rng = np.random.default_rng(seed)
    nv = len(venues)
    mid = np.full(1, 50_000 * 10**9, dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(str(path), SCHEMA, compression="zstd", sorting_columns=[pq.SortingColumn(0)]) as writer:
        for lo in range(0, n, ROW_GROUP_ROWS):
            i = np.arange(lo, min(n, lo + ROW_GROUP_ROWS), dtype=np.int64)
            m = len(i)
            venue_idx = (i % nv).astype(np.int32)
            is_snap = (i % snapshot_every) < nv
            is_trade = ~is_snap & (i % 10 == 0)
            is_delta = ~is_snap & ~is_trade
            # One random walk of the mid, a tick at most per delta row.
            steps = rng.integers(-1, 2, size=m) * TICK_1E9 * is_delta
            mids = mid[0] + np.cumsum(steps)
            mid[0] = mids[-1]
            kind = np.where(is_snap, 0, np.where(is_trade, 2, 1)).astype(np.int8)  # snapshot, delta, trade
            ts = start_ns + i * step_ns
            # A delta also deletes the levels from the mid up to CLEAR-1 ticks past it on each side:
            # a venue's mid moves at most CLEAR-1 ticks between its rows, so every price it passes is
            # cleared and neither its book nor the NBBO ever crosses.
            counts = np.where(is_snap, LEVELS, np.where(is_delta, DELTA_LEVELS + CLEAR, 0)).astype(np.int32)
            offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
            total = int(offsets[-1])
            row_of = np.repeat(np.arange(m), counts)
            pos = np.arange(total) - np.repeat(offsets[:-1], counts)  # level index within the row
            clear = ~is_snap[row_of] & (pos >= DELTA_LEVELS)
            depth = np.where(is_snap[row_of], pos + 1,
                             np.where(clear, DELTA_LEVELS - pos, rng.integers(1, LEVELS + 1, size=total)))
            bid_px = mids[row_of] - depth * TICK_1E9
            ask_px = mids[row_of] + depth * TICK_1E9
            snap_qty = (pos + 1) * 10**7
            bid_qty = np.where(is_snap[row_of], snap_qty, _delta_qty(rng, total) * ~clear)
            ask_qty = np.where(is_snap[row_of], snap_qty, _delta_qty(rng, total) * ~clear)
            none_if = lambda mask, arr: pa.array(arr, mask=~mask)  # noqa: E731
            levels = lambda values: pa.ListArray.from_arrays(  # noqa: E731
                pa.array(offsets), pa.array(values, type=pa.int64()), mask=pa.array(is_trade))
            trade_qty = rng.integers(1, 20, size=m) * 10**6
            columns = {
                "ts_ns": pa.array(ts),
                "kind": pa.DictionaryArray.from_arrays(pa.array(kind), pa.array(["snapshot", "delta", "trade"])),
                "venue": pa.DictionaryArray.from_arrays(pa.array(venue_idx), pa.array(list(venues))),
                "symbol": pa.DictionaryArray.from_arrays(pa.array(np.zeros(m, dtype=np.int32)), pa.array([symbol])),
                "event_id": pa.array([f"syn-{seed}-{k}" for k in i.tolist()]),
                "ts_event_ns": pa.array(ts),
                "ts_recv_ns": pa.array(ts),
                "venue_seq": pa.nulls(m, pa.int64()),
                "bid_price_1e9": levels(bid_px),
                "bid_qty_1e8": levels(bid_qty),
                "ask_price_1e9": levels(ask_px),
                "ask_qty_1e8": levels(ask_qty),
                "truncate_depth": none_if(~is_trade, np.zeros(m, dtype=np.int32)),
                "price_1e9": none_if(is_trade, mids + TICK_1E9),
                "qty_1e8": none_if(is_trade, trade_qty),
                "aggressor": pa.DictionaryArray.from_arrays(none_if(is_trade, np.zeros(m, dtype=np.int8)),
                                                            pa.array(["buy"])),
                "trade_id": pa.array([str(k) if t else None for k, t in zip(i.tolist(), is_trade.tolist())],
                                     type=pa.string()),
                "state": pa.nulls(m, SCHEMA.field("state").type),
                "reason": pa.nulls(m, pa.string()),
                "extra_json": pa.nulls(m, pa.string()),
            }
            writer.write_table(pa.Table.from_pydict(columns, schema=SCHEMA), row_group_size=m)
    return n


def _delta_qty(rng: np.random.Generator, size: int) -> np.ndarray:
    # 0 (delete) a third of the time, else 0.01..0.49
    return rng.integers(0, 3, size=size).clip(0, 1) * rng.integers(1, 50, size=size) * 10**6
