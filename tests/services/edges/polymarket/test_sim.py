"""services/edges/polymarket/sim.py: the local market channel round-trips through the adapter."""

from __future__ import annotations

import asyncio
import json

import httpx
from websockets.asyncio.client import connect

from services.edges.book import L2Book, RawLevel
from services.edges.polymarket.adapter import PolymarketAdapter
from services.edges.polymarket.sim import NO_TOKEN, SIM_INSTRUMENTS, YES_TOKEN, PolymarketSim
from services.edges.sim.server import SimServer
from services.edges.venue import BookUpdate, VenueEndpoints
from tests.services.edges.simclient import TIMEOUT_S, SimClient

TOKENS = [YES_TOKEN, NO_TOKEN]


class _SteppedSim(PolymarketSim):
    """Signals every market step, so the test can wait for a tick without sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.stepped = asyncio.Event()

    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        self.stepped.set()


def _matches(client: SimClient, srv: SimServer, token: str, depth: int = 20) -> bool:
    book, true = client.syncs[token].book, srv.true_book(token)
    return book.bids(depth) == true.bids(depth) and book.asks(depth) == true.asks(depth)


async def test_round_trip_rest_book_and_undetectable_gap() -> None:
    proto = _SteppedSim()
    async with SimServer(proto, SIM_INSTRUMENTS["polymarket"], tick_ms=10) as srv:
        adapter = PolymarketAdapter(VenueEndpoints(srv.ws_url, srv.rest_url))
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, TOKENS)
            await client.subscribe()
            await client.until(lambda: all(client.applied(t) >= 25 for t in TOKENS))
            await client.settle(srv)
            assert client.failures() == []
            assert all(_matches(client, srv, t) for t in TOKENS)
            assert 600_000_000 <= client.syncs[YES_TOKEN].book.best_bid()[0] <= 640_000_000  # type: ignore[index]
            await client.until(lambda: bool(client.trades))
            assert client.trades[0].symbol in TOKENS

            # The REST book equals the true book while no tick can run.
            async with srv._lock, httpx.AsyncClient(timeout=TIMEOUT_S) as http:
                resp = await http.get(adapter.snapshot_url(YES_TOKEN))
                rest = adapter.parse_snapshot(resp.content, YES_TOKEN)
                true = srv.true_book(YES_TOKEN)
                assert [lvl[:2] for lvl in rest.bids] == true.bids() and [lvl[:2] for lvl in rest.asks] == true.asks()

            # A dropped price_change is invisible (no sequence): the book silently diverges...
            (server_conn,) = srv.conns
            await srv.inject("gap")
            async with asyncio.timeout(TIMEOUT_S):
                while True:
                    proto.stepped.clear()
                    await proto.stepped.wait()
                    async with srv._lock:
                        if not server_conn.pending_faults:
                            break
            await client.settle(srv)
            assert client.failures() == []
            assert not all(_matches(client, srv, t) for t in TOKENS)

            # ...until a fresh `book` (resubscribe) replaces it.
            books = client.snapshots
            await client.subscribe()
            await client.until(lambda: client.snapshots >= books + 2)
            await client.settle(srv)
            assert all(_matches(client, srv, t) for t in TOKENS)


async def test_ping_pong_and_unknown_rest_token() -> None:
    async with SimServer(PolymarketSim(), SIM_INSTRUMENTS["polymarket"], tick_ms=3_600_000) as srv:
        adapter = PolymarketAdapter(VenueEndpoints(srv.ws_url, srv.rest_url))
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, [])
            await ws.send(adapter.ping_frame() or "")
            assert [c.kind for c in await client.step()] == ["pong"]  # type: ignore[union-attr]
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as http:
            resp = await http.get(adapter.snapshot_url("123"))
            assert resp.status_code == 404


def test_sim_book_text_matches_venue_style() -> None:
    """Shortest decimals ("0.6", "3300") and worst-first sides, as in ws_book_full.json."""
    book = L2Book()
    book.set_bid(RawLevel(600_000_000, 330_000_000_000))
    book.set_bid(RawLevel(590_000_000, 19_230_000_000))
    book.set_ask(RawLevel(610_000_000, 100_000_000))
    book.set_ask(RawLevel(620_000_000, 1))
    body = PolymarketSim()._book_body(YES_TOKEN, book)
    assert body["bids"] == [{"price": "0.59", "size": "192.3"}, {"price": "0.6", "size": "3300"}]
    assert body["asks"] == [{"price": "0.62", "size": "0.00000001"}, {"price": "0.61", "size": "1"}]
    (parsed,) = PolymarketAdapter().parse('{"event_type":"book",' + json.dumps(body)[1:])
    assert isinstance(parsed, BookUpdate) and parsed.bids[0][:2] == (600_000_000, 330_000_000_000)
