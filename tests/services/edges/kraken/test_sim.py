"""Round trip against the local Kraken sim (services/edges/kraken/sim.py) through the real adapter."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.kraken.adapter import KrakenAdapter
from services.edges.kraken.sim import SIM_INSTRUMENTS, KrakenSim, checksum_of
from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control, ParseError, Parsed, TradeUpdate, VenueNotice
from tests.shared_fixtures import fixture_json

BTC, ETH = "BTC/USD", "ETH/USD"
TIMEOUT_S = 20.0


async def _frames(ws: ClientConnection, adapter: KrakenAdapter) -> list[Parsed]:
    return adapter.parse(await ws.recv())


async def _until(
    ws: ClientConnection, adapter: KrakenAdapter, syncs: dict[str, BookSync], symbol: str, *, snapshot: bool
) -> SyncResult:
    """Apply frames until `symbol` fails (or, with `snapshot`, until its next snapshot lands)."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for p in await _frames(ws, adapter):
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if p.symbol != symbol:
                        assert not result.failed, syncs[p.symbol].last_failure
                    elif (snapshot and p.snapshot) or (not snapshot and result.failed):
                        return result


def test_sim_checksum_matches_the_docs_example() -> None:
    # The sim hashes its own wire text; check it against Kraken's published vector.
    data = fixture_json("venues", "kraken", "ws_v2_book_checksum_doc_example.json")["data"][0]
    asks = [(a["price"], a["qty"]) for a in data["asks"]]
    bids = [(b["price"], b["qty"]) for b in data["bids"]]
    assert checksum_of(asks, bids) == 3310070434


async def test_books_match_the_true_book_then_gap_and_bad_checksum_are_caught() -> None:
    adapter = KrakenAdapter()
    async with SimServer(KrakenSim(), SIM_INSTRUMENTS["kraken"], tick_ms=10, heartbeat_s=0.05) as srv:
        async with connect(srv.ws_url) as ws:
            for frame in adapter.subscribe_frames([BTC, ETH]):
                await ws.send(frame)
            syncs = {s: BookSync(adapter, s) for s in (BTC, ETH)}
            seen: Counter[str] = Counter()
            deltas: Counter[str] = Counter()
            kinds: Counter[str] = Counter()
            matched: set[str] = set()
            async with asyncio.timeout(TIMEOUT_S):
                while len(matched) < 2 or not kinds["trade"] or not kinds["heartbeat"]:
                    for p in await _frames(ws, adapter):
                        if isinstance(p, Control):
                            kinds[p.kind] += 1
                        elif isinstance(p, TradeUpdate):
                            assert p.symbol in syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                            kinds["trade"] += 1
                        elif isinstance(p, BookUpdate):
                            sync = syncs[p.symbol]
                            assert sync.apply(p) is SyncResult.APPLIED, sync.last_failure
                            seen[p.symbol] += 1
                            deltas[p.symbol] += not p.snapshot
                            (conn,) = srv.conns
                            # No await since the apply: when we have every book frame the server
                            # rendered for us, our top 10 is the true top 10.
                            if deltas[p.symbol] >= 20 and seen[p.symbol] == conn.state["rendered"][p.symbol]:
                                true = srv.true_book(p.symbol)
                                assert sync.book.bids() == true.bids(10)
                                assert sync.book.asks() == true.asks(10)
                                matched.add(p.symbol)
                        else:
                            pytest.fail(f"unexpected {p!r}")
            assert kinds["subscribe"] == 5  # instrument + two books + two trade feeds
            assert kinds["instrument"] == 1 and adapter.precision(ETH) == (2, 8)

            # gap: one tick's update is not sent; Kraken has no sequence, the checksum catches it
            await srv.inject("gap", BTC)
            assert await _until(ws, adapter, syncs, BTC, snapshot=False) is SyncResult.CHECKSUM
            assert "checksum mismatch" in syncs[BTC].last_failure

            # resync by resubscribing the book
            for frame in adapter.resync_frames(BTC):
                await ws.send(frame)
            assert await _until(ws, adapter, syncs, BTC, snapshot=True) is SyncResult.APPLIED
            assert not syncs[BTC].stale

            await srv.inject("bad_checksum", BTC)
            assert await _until(ws, adapter, syncs, BTC, snapshot=False) is SyncResult.CHECKSUM
            assert syncs[BTC].stale and syncs[BTC].failures == 2 and syncs[ETH].failures == 0


async def test_ping_unknown_symbol_and_garbage() -> None:
    adapter = KrakenAdapter()
    async with SimServer(KrakenSim(), SIM_INSTRUMENTS["kraken"], tick_ms=10, heartbeat_s=0) as srv:
        async with connect(srv.ws_url) as ws:
            await ws.send(adapter.ping_frame() or "")
            assert await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S) == [Control("pong")]
            book_frame = [f for f in adapter.subscribe_frames(["NOPE/USD"]) if '"book"' in f]
            await ws.send(book_frame[0])
            (notice,) = await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
            assert isinstance(notice, VenueNotice) and notice.symbol == "NOPE/USD"
            assert "not supported" in notice.message
            await srv.inject("garbage")
            for _ in range(2):
                with pytest.raises(ParseError):
                    await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
