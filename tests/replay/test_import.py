"""Import: the shared venue fixtures go through the real parsers and edge runtime into a
recording that replays into the same books; a generated Tardis CSV imports exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from events.market import BookDeltaBatch, BookSnapshot, TradePrinted
from projections.market import MarketBooks
from replay.importers import FRAME_STEP_NS, ImportError_, import_fixtures, import_tardis
from replay.recording import RecordingWriter, read_recording
from tests.shared_fixtures import FIXTURES, fixture_lines, fixture_path


async def test_fixtures_import_through_the_real_parsers_and_replay(tmp_path: Path) -> None:
    fixture_path("venues", "okx", "ws_books_BTC-USDT.jsonl")
    fixture_path("venues", "binance_spot", "ws_depth_diff_NKNUSDT.jsonl")
    out = tmp_path / "fixtures.parquet"
    with RecordingWriter(out) as writer:
        reports = await import_fixtures(FIXTURES / "venues", writer, venues=["okx", "binance_spot"])
    by_file = {r.path.name: r for r in reports}
    okx = by_file["ws_books_BTC-USDT.jsonl"]
    # Every OKX update passed the runtime's sequence and CRC32 checks; Binance's diffs chained
    # onto the recorded REST snapshot (lastUpdateId) without a gap.
    assert (okx.venue, okx.integrity_failures, okx.bad_frames) == ("okx", 0, 0)
    nkn = by_file["ws_depth_diff_NKNUSDT.jsonl"]
    assert (nkn.venue, nkn.integrity_failures, nkn.symbols) == ("binance", 0, ["NKN-USDT"])

    events = list(read_recording(out))
    in_file = range(okx.start_ns, okx.start_ns + okx.frames * FRAME_STEP_NS)
    okx_btc = [e for e in events if e.ts_ns in in_file and isinstance(e, (BookSnapshot, BookDeltaBatch))]
    first = json.loads(fixture_lines("venues", "okx", "ws_books_BTC-USDT.jsonl")[0])["data"][0]
    assert first["asks"][0][:2] == ["30243.5", "1.44679"] and first["bids"][0][:2] == ["30243.4", "0.0012029"]
    snap = okx_btc[0]
    assert isinstance(snap, BookSnapshot) and snap.symbol == "BTC-USDT"
    assert snap.asks[0] == (30_243_500_000_000, 144_679_000)
    assert snap.bids[0] == (30_243_400_000_000, 120_290)
    delta = okx_btc[1]
    assert isinstance(delta, BookDeltaBatch)
    assert (30_243_500_000_000, 121_120_000) in delta.asks and (30_247_500_000_000, 0) in delta.asks
    assert len([e for e in okx_btc if isinstance(e, BookDeltaBatch)]) == okx.frames - 1

    # Replaying the recording through the NBBO projection rebuilds a usable, uncrossed book.
    books = MarketBooks()
    for e in events:
        books.apply(e)
    nbbo = books.nbbo("NKN-USDT")
    assert nbbo is not None and 0 < nbbo.bid_px_1e9 < nbbo.ask_px_1e9


async def test_the_same_fixtures_import_to_the_same_bytes(tmp_path: Path) -> None:
    fixture_path("venues", "okx")
    for name in ("a", "b"):
        with RecordingWriter(tmp_path / f"{name}.parquet") as writer:
            await import_fixtures(FIXTURES / "venues", writer, venues=["okx"])
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def write_tardis(dir: Path, levels: int = 3, updates: int = 40) -> tuple[Path, Path]:
    """A small, exact Tardis pair: a snapshot, deltas every 10 ms, trades in between."""
    book = dir / "binance_incremental_book_L2_BTCUSDT.csv"
    trades = dir / "binance_trades_BTCUSDT.csv"
    t0 = 1_700_000_000_000_000  # microseconds
    rows = ["exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount"]
    for k in range(levels):
        rows.append(f"binance,BTCUSDT,{t0},{t0 + 5},true,bid,{50000 - k}.5,{k + 1}.25")
        rows.append(f"binance,BTCUSDT,{t0},{t0 + 5},true,ask,{50001 + k}.5,{k + 1}.5")
    for i in range(1, updates + 1):
        ts = t0 + i * 10_000
        rows.append(f"binance,BTCUSDT,{ts},{ts + 5},false,bid,49999.5,{i}.0")
        rows.append(f"binance,BTCUSDT,{ts},{ts + 5},false,ask,50003.5,0")
    book.write_text("\n".join(rows) + "\n")
    trows = ["exchange,symbol,timestamp,local_timestamp,id,side,price,amount"]
    for i in range(1, updates + 1):
        ts = t0 + i * 10_000 + 3_000
        trows.append(f"binance,BTCUSDT,{ts},{ts + 7},{1000 + i},{'buy' if i % 2 else 'sell'},50001.5,0.001")
    trades.write_text("\n".join(trows) + "\n")
    return book, trades


def test_tardis_csv_imports_into_time_ordered_exact_events(tmp_path: Path) -> None:
    book, trades = write_tardis(tmp_path)
    out = tmp_path / "tardis.parquet"
    with RecordingWriter(out) as writer:
        assert import_tardis([book, trades], writer) == 1 + 40 + 40
    events = list(read_recording(out))
    assert [e.ts_ns for e in events] == sorted(e.ts_ns for e in events)
    snap = events[0]
    assert isinstance(snap, BookSnapshot) and (snap.venue, snap.symbol) == ("binance", "BTC-USDT")
    assert snap.bids == [(50_000_500_000_000, 125_000_000), (49_999_500_000_000, 225_000_000), (49_998_500_000_000, 325_000_000)]
    assert snap.asks[0] == (50_001_500_000_000, 150_000_000)
    assert snap.ts_ns == (1_700_000_000_000_000 + 5) * 1_000 and snap.ts_event_ns == 1_700_000_000_000_000_000
    deltas = [e for e in events if isinstance(e, BookDeltaBatch)]
    assert deltas[0].bids == [(49_999_500_000_000, 100_000_000)] and deltas[0].asks == [(50_003_500_000_000, 0)]
    prints = [e for e in events if isinstance(e, TradePrinted)]
    assert (prints[0].px_1e9, prints[0].qty_1e8, prints[0].aggressor, prints[0].trade_id) == (
        50_001_500_000_000, 100_000, "buy", "1001")


def test_a_bad_tardis_value_is_named_with_its_line(tmp_path: Path) -> None:
    book, _ = write_tardis(tmp_path, updates=2)
    lines = book.read_text().splitlines()
    lines[3] = lines[3].replace("49999.5", "4999x.5")
    book.write_text("\n".join(lines) + "\n")
    with RecordingWriter(tmp_path / "bad.parquet") as writer, pytest.raises(ImportError_, match=r":4: price '4999x.5'"):
        import_tardis([book], writer)
