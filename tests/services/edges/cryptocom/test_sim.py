"""Round trip against the local Crypto.com sim (services/edges/cryptocom/sim.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.edges.cryptocom.adapter import CryptocomAdapter
from services.edges.cryptocom.sim import SIM_INSTRUMENTS, CryptocomSimProtocol
from services.edges.sim.server import SimConn, SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import (
    BookUpdate,
    Control,
    Parsed,
    ParseError,
    Reply,
    TradeUpdate,
    VenueNotice,
)

BTC, ETH = "BTC_USDT", "ETH_USDT"
TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def _hashable_sim_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    # Framework bug: SimConn is an eq=True dataclass, hence unhashable, and SimServer keeps
    # connections in a set. Patch identity hashing for these tests only until server.py fixes it.
    if SimConn.__hash__ is None:
        monkeypatch.setattr(SimConn, "__hash__", object.__hash__)


class Client:
    """Read frames, answer heartbeats (as the runtime does with Reply), count what arrived."""

    def __init__(self, ws: ClientConnection, adapter: CryptocomAdapter) -> None:
        self.ws, self.adapter = ws, adapter
        self.heartbeats_answered = 0

    async def frames(self) -> list[Parsed]:
        parsed = self.adapter.parse(await self.ws.recv())
        for p in parsed:
            if isinstance(p, Reply):
                await self.ws.send(p.frame)
                self.heartbeats_answered += 1
        return parsed


async def _until_failure(client: Client, syncs: dict[str, BookSync], symbol: str) -> SyncResult:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for p in await client.frames():
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if result.failed:
                        assert p.symbol == symbol, syncs[p.symbol].last_failure
                        return result


async def test_books_match_the_true_book_then_a_gap_is_caught_and_resubscribing_recovers() -> None:
    adapter = CryptocomAdapter()
    proto = CryptocomSimProtocol()
    sim = SimServer(proto, SIM_INSTRUMENTS["cryptocom"], tick_ms=10, heartbeat_s=0.1)
    async with sim as srv, connect(srv.ws_url) as ws:
        client = Client(ws, adapter)
        for frame in adapter.subscribe_frames([BTC, ETH]):
            await ws.send(frame)
        syncs = {s: BookSync(adapter, s) for s in (BTC, ETH)}
        deltas = {BTC: 0, ETH: 0}
        matched: set[str] = set()
        trades = acks = 0
        async with asyncio.timeout(TIMEOUT_S):
            while len(matched) < 2 or not trades or client.heartbeats_answered < 3:
                for p in await client.frames():
                    if isinstance(p, Control):
                        acks += p.kind == "subscribe"
                    elif isinstance(p, TradeUpdate):
                        assert p.symbol in syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                        trades += 1
                    elif isinstance(p, BookUpdate):
                        sync = syncs[p.symbol]
                        assert sync.apply(p) is SyncResult.APPLIED, sync.last_failure
                        deltas[p.symbol] += not p.snapshot
                        # No await between this check and the asserts: when our last u is the
                        # server's, its true book is exactly the state we were sent.
                        if deltas[p.symbol] >= 20 and sync.seq.last_seq == proto.state[p.symbol][1]:
                            true = srv.true_book(p.symbol)
                            assert sync.book.bids(25) == true.bids(25)
                            assert sync.book.asks(25) == true.asks(25)
                            assert sync.book == true
                            matched.add(p.symbol)
                    elif not isinstance(p, Reply):
                        pytest.fail(f"unexpected {p!r}")
        assert acks == 4  # book + trade channels for two instruments
        # answered heartbeats are cleared: five unanswered would have closed the socket by now
        (conn,) = srv.conns
        assert len(conn.state["heartbeats"]) < 5 and client.heartbeats_answered >= 3

        await srv.inject("gap", BTC)
        assert await _until_failure(client, syncs, BTC) is SyncResult.GAP

        channels = [f"book.{BTC}.50"]
        await ws.send(json.dumps({"id": 7, "method": "unsubscribe", "params": {"channels": channels}}))
        await ws.send(json.dumps({"id": 8, "method": "subscribe", "params": {"channels": channels}}))
        async with asyncio.timeout(TIMEOUT_S):
            while syncs[BTC].stale:
                for p in await client.frames():
                    if isinstance(p, BookUpdate):
                        result = syncs[p.symbol].apply(p)
                        assert not result.failed, syncs[p.symbol].last_failure
        applied = 0
        async with asyncio.timeout(TIMEOUT_S):
            while applied < 5:
                for p in await client.frames():
                    if isinstance(p, BookUpdate):
                        assert syncs[p.symbol].apply(p) is SyncResult.APPLIED
                        applied += p.symbol == BTC
        assert syncs[ETH].failures == 0


async def test_a_client_that_never_answers_heartbeats_is_closed() -> None:
    adapter = CryptocomAdapter()
    sim = SimServer(CryptocomSimProtocol(), SIM_INSTRUMENTS["cryptocom"], tick_ms=1000, heartbeat_s=0.02)
    async with sim as srv, connect(srv.ws_url) as ws:
        seen = 0
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    (p,) = adapter.parse(await ws.recv())
                    assert isinstance(p, Reply)  # only heartbeats arrive; we ignore them
                    seen += 1
        assert seen == 5


async def test_unknown_symbol_and_garbage() -> None:
    adapter = CryptocomAdapter()
    sim = SimServer(CryptocomSimProtocol(), SIM_INSTRUMENTS["cryptocom"], tick_ms=10, heartbeat_s=0)
    async with sim as srv, connect(srv.ws_url) as ws:
        for frame in adapter.subscribe_frames(["NOPE_USDT"]):
            await ws.send(frame)
        notices = [p for _ in range(2) for p in adapter.parse(await asyncio.wait_for(ws.recv(), TIMEOUT_S))]
        assert notices == [VenueNotice("cryptocom error 40003: Unknown symbol", "NOPE_USDT")] * 2
        await ws.send('{"id": 3, "method": "subscribe", "params": {"channels": "book.BTC_USDT.50"}}')
        (refused,) = adapter.parse(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
        assert isinstance(refused, VenueNotice) and "10004" in refused.message  # the socket stays open
        await srv.inject("garbage")
        for _ in range(2):
            with pytest.raises(ParseError):
                adapter.parse(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
