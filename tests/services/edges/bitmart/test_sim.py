"""Round trip against the local BitMart server (services/edges/bitmart/sim.py) over real sockets."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.bitmart.adapter import BitmartAdapter
from services.edges.bitmart.sim import SIM_INSTRUMENTS, BitmartSimProtocol
from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import (
    BookUpdate,
    Control,
    Parsed,
    ParseError,
    TradeUpdate,
    VenueNotice,
)

BTC, ETH = "BTC_USDT", "ETH_USDT"
TIMEOUT_S = 20.0


async def _frames(ws: ClientConnection, adapter: BitmartAdapter) -> list[Parsed]:
    return adapter.parse(await ws.recv())


async def test_books_match_the_true_book_then_a_gap_is_caught_and_a_requested_snapshot_recovers() -> None:
    adapter = BitmartAdapter()
    proto = BitmartSimProtocol()
    sim = SimServer(proto, SIM_INSTRUMENTS["bitmart"], tick_ms=10, heartbeat_s=0.05)
    async with sim as srv, connect(srv.ws_url) as ws:
        for frame in adapter.subscribe_frames([BTC, ETH]):
            await ws.send(frame)
        syncs = {s: BookSync(adapter, s) for s in (BTC, ETH)}
        deltas = {BTC: 0, ETH: 0}
        matched: set[str] = set()
        acks = trades = keepalives = 0
        async with asyncio.timeout(TIMEOUT_S):
            while len(matched) < 2 or not trades or keepalives < 2:
                for p in await _frames(ws, adapter):
                    if isinstance(p, Control):
                        acks += p.kind == "subscribe"
                    elif isinstance(p, TradeUpdate):
                        assert p.symbol in syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                        trades += 1
                    elif isinstance(p, BookUpdate):
                        sync = syncs[p.symbol]
                        result = sync.apply(p)
                        assert not result.failed, sync.last_failure
                        if result is SyncResult.SKIPPED:  # the keep-alive repeats the last version
                            assert not p.bids and not p.asks
                            keepalives += 1
                        deltas[p.symbol] += not p.snapshot
                        # No await between this check and the asserts: when our version is the
                        # server's, its true book is exactly the state we were sent.
                        if deltas[p.symbol] >= 20 and sync.seq.last_seq == proto.state[p.symbol]:
                            assert sync.book == srv.true_book(p.symbol)
                            matched.add(p.symbol)
                    else:
                        pytest.fail(f"unexpected {p!r}")
        assert acks == 4  # depth + trade topics for two symbols

        await srv.inject("gap", BTC)
        async with asyncio.timeout(TIMEOUT_S):
            result = SyncResult.APPLIED
            while not result.failed:
                for p in await _frames(ws, adapter):
                    if isinstance(p, BookUpdate):
                        result = syncs[p.symbol].apply(p)
                        assert p.symbol == BTC or not result.failed
        assert result is SyncResult.GAP and syncs[BTC].stale

        for frame in adapter.resync_frames(BTC):
            await ws.send(frame)
        applied = 0
        async with asyncio.timeout(TIMEOUT_S):
            while syncs[BTC].stale or applied < 5:
                for p in await _frames(ws, adapter):
                    if isinstance(p, BookUpdate):
                        result = syncs[p.symbol].apply(p)
                        assert not result.failed, syncs[p.symbol].last_failure
                        applied += p.symbol == BTC and not syncs[BTC].stale and result is SyncResult.APPLIED
        assert syncs[ETH].failures == 0
        (conn,) = srv.conns
        assert conn.subscribed == {BTC, ETH}  # a request changes no subscription


async def test_ping_refusals_unsubscribe_and_garbage() -> None:
    adapter = BitmartAdapter()
    sim = SimServer(BitmartSimProtocol(), SIM_INSTRUMENTS["bitmart"], tick_ms=10, heartbeat_s=0)
    async with sim as srv, connect(srv.ws_url) as ws:
        await ws.send("ping")
        assert await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S) == [Control("pong")]
        for frame in adapter.subscribe_frames(["NOPE_USDT"]):
            await ws.send(frame)
        refusals = [p for _ in range(2) for p in await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)]
        assert refusals == [VenueNotice("bitmart subscribe error 90004: Invalid channel param")] * 2
        await ws.send("not a request")
        (refused,) = await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
        assert isinstance(refused, VenueNotice) and "90001" in refused.message  # the socket stays open

        await ws.send(json.dumps({"op": "subscribe", "args": [f"spot/depth/increase100:{BTC}"]}))
        await ws.send(json.dumps({"op": "unsubscribe", "args": [f"spot/depth/increase100:{BTC}"]}))
        (conn,) = srv.conns
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                (p,) = await _frames(ws, adapter)
                if p == Control("unsubscribe", f"spot/depth/increase100:{BTC}"):
                    break
        assert conn.subscribed == set()

        # nothing is subscribed now (the ack comes after the last push), so only the garbage arrives
        await srv.inject("garbage")
        for _ in range(2):
            with pytest.raises(ParseError):
                await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)


async def test_rest_books_serve_the_true_book_in_the_documented_shape() -> None:
    sim = SimServer(BitmartSimProtocol(), SIM_INSTRUMENTS["bitmart"], tick_ms=1000, heartbeat_s=0)
    async with sim as srv, httpx.AsyncClient(base_url=srv.rest_url, timeout=TIMEOUT_S) as http:
        await srv.pause()
        try:
            reply = (await http.get("/spot/quotation/v3/books", params={"symbol": ETH, "limit": 5})).json()
            assert reply["code"] == 1000 and reply["data"]["symbol"] == ETH
            (snapshot,) = BitmartAdapter().parse(
                json.dumps({"table": "spot/depth/increase100", "data": [{**reply["data"], "type": "snapshot", "version": 1}]})
            )
            assert isinstance(snapshot, BookUpdate)
            truth = srv.true_book(ETH)
            assert [(lv.px_1e9, lv.qty_1e8) for lv in snapshot.bids] == truth.bids(5)
            assert [(lv.px_1e9, lv.qty_1e8) for lv in snapshot.asks] == truth.asks(5)
        finally:
            srv.resume()
        bad = await http.get("/spot/quotation/v3/books", params={"symbol": "NOPE_USDT"})
        assert bad.status_code == 400 and bad.json()["code"] == 50000
