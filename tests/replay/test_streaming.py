"""A recording streams: replaying 1M events holds memory flat (the 10M figure is in bench/)."""

from __future__ import annotations

from pathlib import Path

from events.market import BookDeltaBatch, BookSnapshot, TradePrinted
from projections.market import MarketBooks
from replay.recording import read_recording
from replay.synthetic_recording import write_synthetic

EVENTS = 1_000_000
WARM = 100_000  # RSS is read after this many events, then must stay within GROWTH_MB of it
GROWTH_MB = 64


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_a_million_events_replay_in_time_order_with_flat_memory(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    write_synthetic(path, EVENTS)
    books = MarketBooks()
    kinds = {BookSnapshot: 0, BookDeltaBatch: 0, TradePrinted: 0}
    last_ts = 0
    warm_rss = peak = 0.0
    for n, event in enumerate(read_recording(path), start=1):
        assert event.ts_ns >= last_ts
        last_ts = event.ts_ns
        kinds[type(event)] += 1  # type: ignore[index]
        books.apply(event)
        if n == WARM:
            warm_rss = rss_mb()
        elif n > WARM and n % 50_000 == 0:
            peak = max(peak, rss_mb())
    assert sum(kinds.values()) == EVENTS and kinds[TradePrinted] > 90_000 and kinds[BookSnapshot] == 2 * 20
    assert peak - warm_rss < GROWTH_MB, (warm_rss, peak)
    nbbo = books.nbbo("BTC-USDT")
    assert nbbo is not None and 0 < nbbo.bid_px_1e9 < nbbo.ask_px_1e9
