"""Round trip against the local Coinbase sim (services/edges/coinbase/sim.py) through the real adapter."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.coinbase.adapter import CoinbaseAdapter
from services.edges.coinbase.sim import SIM_INSTRUMENTS, CoinbaseSim
from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control, ParseError, Parsed, TradeUpdate, VenueNotice

BTC, ETH = "BTC-USD", "ETH-USD"
TIMEOUT_S = 20.0


async def _frames(ws: ClientConnection, adapter: CoinbaseAdapter) -> list[Parsed]:
    return adapter.parse(await ws.recv())


async def _until_failed(
    ws: ClientConnection, adapter: CoinbaseAdapter, syncs: dict[str, BookSync], symbols: set[str]
) -> dict[str, SyncResult]:
    """Apply frames until every book in `symbols` has failed; return each one's first failure."""
    failed: dict[str, SyncResult] = {}
    async with asyncio.timeout(TIMEOUT_S):
        while set(failed) != symbols:
            for p in await _frames(ws, adapter):
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if result.failed:
                        failed.setdefault(p.symbol, result)
    return failed


async def _until_snapshot(
    ws: ClientConnection, adapter: CoinbaseAdapter, syncs: dict[str, BookSync], symbol: str
) -> SyncResult:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for p in await _frames(ws, adapter):
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if p.symbol == symbol and p.snapshot:
                        return result


async def test_books_match_the_true_book_then_a_gap_is_caught() -> None:
    adapter = CoinbaseAdapter()
    async with SimServer(CoinbaseSim(), SIM_INSTRUMENTS["coinbase"], tick_ms=10, heartbeat_s=0.02) as srv:
        async with connect(srv.ws_url) as ws:
            adapter.on_connect()  # what the runtime does on every connect
            for frame in adapter.subscribe_frames([BTC, ETH]):
                await ws.send(frame)
            syncs = {s: BookSync(adapter, s) for s in (BTC, ETH)}
            deltas: Counter[str] = Counter()
            kinds: Counter[str] = Counter()
            matched: set[str] = set()
            async with asyncio.timeout(TIMEOUT_S):
                while len(matched) < 2 or not kinds["trade"] or kinds["heartbeat"] < 3:
                    for p in await _frames(ws, adapter):
                        if isinstance(p, Control):
                            kinds[p.kind] += 1
                        elif isinstance(p, TradeUpdate):
                            assert p.symbol in syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                            kinds["trade"] += 1
                        elif isinstance(p, BookUpdate):
                            sync = syncs[p.symbol]
                            assert sync.apply(p) is SyncResult.APPLIED, sync.last_failure
                            deltas[p.symbol] += not p.snapshot
                        else:
                            pytest.fail(f"unexpected {p!r}")
                    (conn,) = srv.conns
                    # No await since the last frame: once we hold the last sequence_num the
                    # server rendered for us, every true book is exactly what we were sent.
                    if min(deltas[BTC], deltas[ETH]) >= 20 and adapter.connection.last == conn.state["last_seq"]:
                        for sym in (BTC, ETH):
                            assert syncs[sym].book == srv.true_book(sym)  # the full book, every level
                            matched.add(sym)
            assert kinds["subscriptions"] == 3  # heartbeats, level2, market_trades
            assert adapter.connection.run_start == 0  # one unbroken run across all channels

            # gap: one rendered frame is never sent, so one sequence_num is missing
            await srv.inject("gap", BTC)
            # the lost number belonged to BTC, but ETH cannot know that: both resync
            assert await _until_failed(ws, adapter, syncs, {BTC, ETH}) == {BTC: SyncResult.GAP, ETH: SyncResult.GAP}
            assert "sequence gap" in syncs[BTC].last_failure and adapter.connection.run_start > 0

            # resubscribe: fresh snapshots, then clean deltas again
            for sym in (BTC, ETH):
                for frame in adapter.resync_frames(sym):
                    await ws.send(frame)
                assert await _until_snapshot(ws, adapter, syncs, sym) is SyncResult.APPLIED
            applied = 0
            async with asyncio.timeout(TIMEOUT_S):
                while applied < 10:
                    for p in await _frames(ws, adapter):
                        if isinstance(p, BookUpdate):
                            assert syncs[p.symbol].apply(p) is SyncResult.APPLIED, syncs[p.symbol].last_failure
                            applied += 1
            assert not syncs[BTC].stale and not syncs[ETH].stale


async def test_unknown_channel_unknown_product_and_garbage() -> None:
    adapter = CoinbaseAdapter()
    async with SimServer(CoinbaseSim(), SIM_INSTRUMENTS["coinbase"], tick_ms=10, heartbeat_s=0) as srv:
        async with connect(srv.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "product_ids": [BTC], "channel": "level3"}))
            assert await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S) == [VenueNotice("authentication failure")]
            await ws.send(json.dumps({"type": "subscribe", "product_ids": ["NOPE-USD"], "channel": "level2"}))
            (notice,) = await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
            assert isinstance(notice, VenueNotice) and "NOPE-USD" in notice.message
            await srv.inject("garbage")
            for _ in range(2):
                with pytest.raises(ParseError):
                    await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
            assert adapter.connection.last is None  # error frames carry no sequence_num
