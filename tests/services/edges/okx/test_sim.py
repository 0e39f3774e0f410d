"""Round trip against the local OKX sim (services/edges/okx/sim.py) through the real adapter."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.okx.adapter import OkxAdapter
from services.edges.okx.sim import SIM_INSTRUMENTS, OkxSimProtocol
from services.edges.sim.server import SimConn, SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import (
    BookUpdate,
    Control,
    FundingUpdate,
    Parsed,
    ParseError,
    TradeUpdate,
    VenueNotice,
)

SPOT, SWAP = "BTC-USDT", "BTC-USDT-SWAP"
TIMEOUT_S = 20.0


@pytest.fixture(autouse=True)
def _hashable_sim_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    # Framework bug: SimConn is an eq=True dataclass, hence unhashable, and SimServer keeps
    # connections in a set. Patch identity hashing for these tests only until server.py fixes it.
    if SimConn.__hash__ is None:
        monkeypatch.setattr(SimConn, "__hash__", object.__hash__)


async def _frames(ws: ClientConnection, adapter: OkxAdapter) -> list[Parsed]:
    return adapter.parse(await ws.recv())


async def _until_failure(
    ws: ClientConnection, adapter: OkxAdapter, syncs: dict[str, BookSync], symbol: str
) -> SyncResult:
    """Apply frames until `symbol`'s book fails; any other outcome must be clean."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for p in await _frames(ws, adapter):
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if result.failed:
                        assert p.symbol == symbol, syncs[p.symbol].last_failure
                        return result


async def _until_snapshot(ws: ClientConnection, adapter: OkxAdapter, syncs: dict[str, BookSync], symbol: str) -> None:
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            for p in await _frames(ws, adapter):
                if isinstance(p, BookUpdate):
                    result = syncs[p.symbol].apply(p)
                    if p.symbol == symbol and p.snapshot:
                        assert result is SyncResult.APPLIED
                        return


async def test_books_match_the_true_book_then_gap_and_bad_checksum_are_caught() -> None:
    adapter = OkxAdapter()
    proto = OkxSimProtocol()
    async with SimServer(proto, SIM_INSTRUMENTS["okx"], tick_ms=10) as srv, connect(srv.ws_url) as ws:
        for frame in adapter.subscribe_frames([SPOT, SWAP]):
            await ws.send(frame)
        syncs = {s: BookSync(adapter, s) for s in (SPOT, SWAP)}
        deltas = {SPOT: 0, SWAP: 0}
        matched: set[str] = set()
        trades = acks = 0
        async with asyncio.timeout(TIMEOUT_S):
            while len(matched) < 2 or not trades:
                for p in await _frames(ws, adapter):
                    if isinstance(p, Control):
                        acks += p.kind == "subscribe"
                    elif isinstance(p, TradeUpdate):
                        assert p.symbol in syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                        trades += 1
                    elif isinstance(p, FundingUpdate):  # the swap's funding (tests/services/edges/test_funding.py)
                        assert p.symbol.endswith("-SWAP")
                    elif isinstance(p, BookUpdate):
                        sync = syncs[p.symbol]
                        result = sync.apply(p)
                        assert result is SyncResult.APPLIED, sync.last_failure
                        deltas[p.symbol] += not p.snapshot
                        # No await between this check and the asserts: when our last seqId is
                        # the server's, its true book is exactly the state we were sent.
                        if deltas[p.symbol] >= 20 and sync.seq.last_seq == proto.state[p.symbol][1]:
                            true = srv.true_book(p.symbol)
                            assert sync.book.bids(25) == true.bids(25)
                            assert sync.book.asks(25) == true.asks(25)
                            assert sync.book == true
                            matched.add(p.symbol)
                    else:
                        pytest.fail(f"unexpected {p!r}")
        assert acks == 6  # books + trades for two instruments, mark-price + funding-rate for the swap

        # gap: one tick's frames are dropped, the next prevSeqId no longer chains
        await srv.inject("gap", SPOT)
        assert await _until_failure(ws, adapter, syncs, SPOT) is SyncResult.GAP
        assert "sequence gap" in syncs[SPOT].last_failure

        # resync by resubscribing; the swap book is untouched throughout
        args = [{"channel": "books", "instId": SPOT}]
        await ws.send(json.dumps({"op": "unsubscribe", "args": args}))
        await ws.send(json.dumps({"op": "subscribe", "args": args}))
        await _until_snapshot(ws, adapter, syncs, SPOT)
        assert not syncs[SPOT].stale

        await srv.inject("bad_checksum", SPOT)
        assert await _until_failure(ws, adapter, syncs, SPOT) is SyncResult.CHECKSUM
        assert syncs[SPOT].stale and syncs[SWAP].failures == 0


async def test_ping_unknown_symbol_and_garbage() -> None:
    adapter = OkxAdapter()
    async with SimServer(OkxSimProtocol(), SIM_INSTRUMENTS["okx"], tick_ms=10) as srv, connect(srv.ws_url) as ws:
        await ws.send(adapter.ping_frame() or "")
        assert await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S) == [Control("pong")]
        for frame in adapter.subscribe_frames(["NOPE-USDT"]):
            await ws.send(frame)
        notices = [p for _ in range(2) for p in await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)]
        assert all(isinstance(n, VenueNotice) and "60018" in n.message for n in notices)
        await ws.send('{"op": "subscribe", "args": [')  # a malformed request is refused, the socket stays
        (refused,) = await asyncio.wait_for(_frames(ws, adapter), TIMEOUT_S)
        assert isinstance(refused, VenueNotice) and "60012" in refused.message
        await srv.inject("garbage")
        errors = 0
        async with asyncio.timeout(TIMEOUT_S):
            while errors < 2:
                with pytest.raises(ParseError):
                    await _frames(ws, adapter)
                errors += 1
