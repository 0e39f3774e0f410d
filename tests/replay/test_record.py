"""`record` against a real cluster: local venue servers over real sockets, real edges, a real
nats-server. The recording holds exactly the MD stream's events of the chosen symbols (nothing
lost, nothing doubled), each book opening with a snapshot, and replays into the same books."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events import new_event_id
from events.market import BookDeltaBatch, BookSnapshot
from projections.market import MarketBooks
from replay.record import md_subjects, record
from replay.recording import read_recording
from services.bus import Bus
from services.cli.main import app as cli
from services.settings import Settings
from tests.stack import trading_stack


async def test_record_captures_the_md_stream_range_and_replays_to_the_same_books(
    bus: Bus, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "rec.parquet"
    async with trading_stack(bus, ["okx", "binance"], seed=7, symbols={"okx": ["BTC-USDT", "ETH-USDT"],
                                                                       "binance": ["BTC-USDT"]}):
        stats = await record(bus, out, symbols=["BTC-USDT"], seconds=2.0)
        # The command line does the same, with its progress bar (the CLI runs its own event loop).
        cli_out = tmp_path / "cli.parquet"
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["record", "--symbols", "ETH-USDT", "--venues", "okx", "--seconds", "1",
                                      "--out", str(cli_out)],
            env={"CROSSBOOK_NATS_URL": settings.nats_url, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "recording" in result.output and f"to {cli_out}" in " ".join(result.output.split())
    cli_events = list(read_recording(cli_out))
    assert cli_events and {(e.venue, e.symbol) for e in cli_events} <= {("okx", "ETH-USDT"), ("okx", "")}
    events = list(read_recording(out))
    assert stats.events == len(events) > 20
    assert {e.venue for e in events} == {"okx", "binance"}
    assert {e.symbol for e in events} <= {"BTC-USDT", ""}  # "" = venue-wide status; no ETH-USDT
    for venue in ("okx", "binance"):
        book_events = [e for e in events if e.venue == venue and isinstance(e, (BookSnapshot, BookDeltaBatch))]
        assert isinstance(book_events[0], BookSnapshot)
        assert any(isinstance(e, BookDeltaBatch) for e in book_events)

    # The same stream range read straight from JetStream, with the same rule (a book's deltas
    # before its first snapshot are dropped), is exactly the recording, in time order.
    expected, live = [], set()
    async for d in bus.replay("MD", md_subjects(["BTC-USDT"], None), start_seq=stats.start_seq, end_seq=stats.last_seq):
        e = d.event
        if isinstance(e, BookSnapshot):
            live.add((e.venue, e.symbol))
        elif isinstance(e, BookDeltaBatch) and (e.venue, e.symbol) not in live:
            continue
        expected.append(e)
    assert sorted(expected, key=lambda e: e.ts_ns) == events

    a, b = MarketBooks(), MarketBooks()
    for e in expected:
        a.apply(e)
    for e in events:
        b.apply(e)
    assert a.nbbo("BTC-USDT") == b.nbbo("BTC-USDT") and b.nbbo("BTC-USDT") is not None


def _book(symbol: str, i: int) -> BookSnapshot:
    px = (100 + i) * 10**9
    return BookSnapshot(event_id=new_event_id(), ts_ns=i + 1, venue="okx", symbol=symbol, bids=[(px, 10**8)],
                        asks=[(px + 10**9, 10**8)], ts_recv_ns=i + 1)


def _delta(i: int) -> BookDeltaBatch:
    return BookDeltaBatch(event_id=new_event_id(), ts_ns=i + 1, venue="okx", symbol="BTC-USDT",
                          bids=[(100 * 10**9, (i + 1) * 10**8)], asks=[], ts_recv_ns=i + 1)


async def test_record_until_the_session_is_over_takes_in_everything_the_stream_held_then(
    bus: Bus, tmp_path: Path
) -> None:
    # Arrange: the book's snapshot (where a recording starts), a recording with no time limit,
    # then the session's deltas, the last events on another symbol (the stream's end is not one
    # of the recorded subjects).
    out = tmp_path / "session.parquet"
    ours: list[BookSnapshot | BookDeltaBatch] = [_book("BTC-USDT", 0)]
    await bus.publish_many(ours)
    over = asyncio.Event()
    recording = asyncio.create_task(record(bus, out, symbols=["BTC-USDT"], until=over))
    ours += [_delta(i) for i in range(1, 30)]
    await bus.publish_many([*ours[1:10], _book("ETH-USDT", 0)])
    await bus.publish_many([*ours[10:], *(_book("ETH-USDT", i) for i in range(1, 5))])
    # Act: the session ends; whatever the recording has not fetched yet is still taken in.
    over.set()
    stats = await asyncio.wait_for(recording, 30)
    # Assert
    assert list(read_recording(out)) == ours and stats.events == len(ours)


async def test_record_needs_a_length_or_an_end(bus: Bus, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="seconds"):
        await record(bus, tmp_path / "x.parquet", symbols=["BTC-USDT"])
