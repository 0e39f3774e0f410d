"""services/edges/binance/sim.py: the socket round trip against the local Binance servers.

A real client path: connect, SUBSCRIBE, buffer deltas, fetch the REST snapshot while the
stream keeps flowing, replay, then compare with the server's true book. Comparisons happen
right after applying the frame whose `u` is the server's latest id: nothing can tick between
that check and the comparison (one event loop), so the books must be identical.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.binance.adapter import BinanceBase, BinanceSpot, BinanceUsdm
from services.edges.binance.sim import SIM_INSTRUMENTS, BinanceSimBase, BinanceSpotSim, BinanceUsdmSim
from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control, ParseError, TradeUpdate, VenueEndpoints, VenueNotice

TIMEOUT_S = 15.0
VENUES = {"binance": (BinanceSpotSim, BinanceSpot), "binance_usdm": (BinanceUsdmSim, BinanceUsdm)}


@dataclass
class Client:
    """What the runtime does, minus publishing: parse every frame, feed each book's BookSync."""

    srv: SimServer
    adapter: BinanceBase
    ws: ClientConnection
    http: httpx.AsyncClient
    syncs: dict[str, BookSync]
    results: dict[str, Counter[SyncResult]] = field(default_factory=dict)
    controls: list[Control] = field(default_factory=list)
    notices: list[VenueNotice] = field(default_factory=list)
    trades: list[TradeUpdate] = field(default_factory=list)
    parse_errors: int = 0
    last_frame: str = ""

    @property
    def protocol(self) -> BinanceSimBase:
        assert isinstance(self.srv.protocol, BinanceSimBase)
        return self.srv.protocol

    async def step(self) -> list[tuple[str, SyncResult]]:
        """Receive one frame and apply it; return (symbol, result) per book update."""
        frame = await asyncio.wait_for(self.ws.recv(), TIMEOUT_S)
        self.last_frame = frame if isinstance(frame, str) else frame.decode()
        try:
            parsed = self.adapter.parse(frame)
        except ParseError:
            self.parse_errors += 1
            return []
        out = []
        for item in parsed:
            if isinstance(item, BookUpdate):
                result = self.syncs[item.symbol].apply(item)
                self.results.setdefault(item.symbol, Counter())[result] += 1
                out.append((item.symbol, result))
            elif isinstance(item, TradeUpdate):
                self.trades.append(item)
            elif isinstance(item, Control):
                self.controls.append(item)
            elif isinstance(item, VenueNotice):
                self.notices.append(item)
        return out

    async def until(self, done: object, what: str) -> None:
        async def loop() -> None:
            while not done():  # type: ignore[operator]
                await self.step()

        try:
            await asyncio.wait_for(loop(), TIMEOUT_S)
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; results {self.results}")

    async def bootstrap(self, symbol: str) -> SyncResult:
        """Fetch the REST snapshot while deltas keep arriving (they queue in the socket)."""
        response = await self.http.get(self.adapter.snapshot_url(symbol), timeout=TIMEOUT_S)
        assert response.status_code == 200, response.text
        snapshot = self.adapter.parse_snapshot(response.content, symbol)
        return self.syncs[symbol].apply(snapshot)

    def in_step_with_server(self, symbol: str) -> bool:
        sync = self.syncs[symbol]
        return not sync.stale and sync.seq.last_seq == self.protocol.ids(symbol).final

    def assert_matches_true_book(self, symbol: str) -> None:
        true = self.srv.true_book(symbol)
        book = self.syncs[symbol].book
        assert book.bids() == true.bids() and book.asks() == true.asks()
        assert len(true.bids()) > 10 and len(true.asks()) > 10


async def synced_client(srv: SimServer, venue: str, ws: ClientConnection, http: httpx.AsyncClient) -> Client:
    """Subscribe, buffer, bootstrap every book over REST and run until each equals the truth."""
    adapter = VENUES[venue][1](VenueEndpoints(srv.ws_url, srv.rest_url))
    symbols = [adapter.to_venue(inst.symbol) for inst in SIM_INSTRUMENTS[venue]]
    client = Client(srv, adapter, ws, http, {s: BookSync(adapter, s) for s in symbols})
    frames = adapter.subscribe_frames(symbols)
    for frame in frames:
        await ws.send(frame)
    await client.until(lambda: all(client.results.get(s, {}).get(SyncResult.BUFFERED) for s in symbols), "buffering")
    assert sum(c.kind == "subscribed" for c in client.controls) == len(frames)
    for s in symbols:
        buffered = client.syncs[s].buffered
        assert buffered and all(not u.snapshot for u in buffered)
        first_u = buffered[0].seq
        assert await client.bootstrap(s) is SyncResult.APPLIED
        # The snapshot is newer than what was buffered: the replay had to drop the overlap.
        assert client.syncs[s].seq.last_seq is not None and client.syncs[s].seq.last_seq >= first_u  # type: ignore[operator]
    await sync_all(client, symbols, min_applied=20)
    return client


async def sync_all(client: Client, symbols: list[str], min_applied: int) -> None:
    pending = set(symbols)
    start = {s: sync.seq.applied_since_snapshot for s, sync in client.syncs.items()}

    async def loop() -> None:
        while pending:
            for symbol, result in await client.step():
                assert not result.failed, client.syncs[symbol].last_failure
                applied = client.syncs[symbol].seq.applied_since_snapshot - start[symbol]
                if symbol in pending and applied >= min_applied and client.in_step_with_server(symbol):
                    client.assert_matches_true_book(symbol)  # no await since the check: same instant
                    pending.discard(symbol)

    try:
        await asyncio.wait_for(loop(), TIMEOUT_S)
    except TimeoutError:
        pytest.fail(f"books never caught up with the server: {pending}, results {client.results}")


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_rest_bootstrap_while_streaming_matches_true_book(venue: str) -> None:
    protocol_cls = VENUES[venue][0]
    async with SimServer(protocol_cls(), SIM_INSTRUMENTS[venue], tick_ms=20) as srv:
        async with connect(srv.ws_url) as ws, httpx.AsyncClient() as http:
            client = await synced_client(srv, venue, ws, http)
            for counts in client.results.values():
                assert not any(r.failed for r in counts)
            await client.until(lambda: len(client.trades) >= 3, "trades")
            for t in client.trades:
                assert t.aggressor in ("buy", "sell") and t.qty_1e8 > 0 and t.px_1e9 > 0
            assert client.parse_errors == 0 and not client.notices


@pytest.mark.parametrize("venue", sorted(VENUES))
async def test_gap_fault_is_detected_and_rest_resync_recovers(venue: str) -> None:
    protocol_cls = VENUES[venue][0]
    async with SimServer(protocol_cls(), SIM_INSTRUMENTS[venue], tick_ms=20) as srv:
        async with connect(srv.ws_url) as ws, httpx.AsyncClient() as http:
            client = await synced_client(srv, venue, ws, http)
            symbol = next(iter(client.syncs))
            sync = client.syncs[symbol]

            await srv.inject("gap", symbol)
            await client.until(lambda: client.results[symbol][SyncResult.GAP] == 1, "the gap")
            assert sync.stale and sync.last_failure.startswith("gap")
            # The frame after the dropped one broke continuity the venue's way.
            (broken,) = client.adapter.parse(client.last_frame)
            last = sync.seq.last_seq
            assert isinstance(broken, BookUpdate) and broken.symbol == symbol and last is not None
            if venue == "binance":
                assert broken.first_seq is not None and broken.first_seq > last + 1  # U != previous u + 1
            else:
                assert broken.prev_seq is not None and broken.prev_seq > last  # pu != previous u

            sync.reset()  # what the runtime does before refetching
            await client.until(lambda: bool(sync.buffered), "a buffered delta")
            assert await client.bootstrap(symbol) is SyncResult.APPLIED
            await sync_all(client, [symbol], min_applied=10)
            assert sync.failures == 1


async def test_bad_checksum_fault_is_harmless_without_a_checksum() -> None:
    async with SimServer(BinanceSpotSim(), SIM_INSTRUMENTS["binance"], tick_ms=20) as srv:
        async with connect(srv.ws_url) as ws, httpx.AsyncClient() as http:
            client = await synced_client(srv, "binance", ws, http)
            await srv.inject("bad_checksum")
            await sync_all(client, list(client.syncs), min_applied=10)
            assert all(s.failures == 0 for s in client.syncs.values())


async def test_garbage_fault_raises_parse_errors_and_the_book_survives() -> None:
    async with SimServer(BinanceUsdmSim(), SIM_INSTRUMENTS["binance_usdm"], tick_ms=20) as srv:
        async with connect(srv.ws_url) as ws, httpx.AsyncClient() as http:
            client = await synced_client(srv, "binance_usdm", ws, http)
            await srv.inject("garbage")
            await client.until(lambda: client.parse_errors == 2, "two garbage frames")
            await sync_all(client, list(client.syncs), min_applied=5)


async def test_combined_endpoint_wraps_frames_and_still_syncs() -> None:
    async with SimServer(BinanceSpotSim(), SIM_INSTRUMENTS["binance"], tick_ms=20) as srv:
        base = srv.ws_url.removesuffix("/ws")
        async with connect(f"{base}/stream") as ws, httpx.AsyncClient() as http:
            client = await synced_client(srv, "binance", ws, http)
            await client.step()
            while '"e":"depthUpdate"' not in client.last_frame:
                await client.step()
            assert client.last_frame.startswith('{"stream":"') and '@depth@100ms","data":{' in client.last_frame


async def test_subscribe_errors_and_rest_errors() -> None:
    async with SimServer(BinanceSpotSim(), SIM_INSTRUMENTS["binance"], tick_ms=20) as srv:
        adapter = BinanceSpot(VenueEndpoints(srv.ws_url, srv.rest_url))
        async with connect(srv.ws_url) as ws, httpx.AsyncClient() as http:
            await ws.send('{"method":"SUBSCRIBE","params":["btcusdt@bogus"],"id":9}')
            notice = adapter.parse(await asyncio.wait_for(ws.recv(), TIMEOUT_S))
            assert isinstance(notice[0], VenueNotice) and "id 9" in notice[0].message
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":10}')
            assert adapter.parse(await asyncio.wait_for(ws.recv(), TIMEOUT_S)) == [Control("result", "id=10")]
            response = await http.get(adapter.snapshot_url("NOPEUSDT"), timeout=TIMEOUT_S)
            assert response.status_code == 400
            with pytest.raises(ParseError, match="Invalid symbol"):
                adapter.parse_snapshot(response.content, "NOPEUSDT")
