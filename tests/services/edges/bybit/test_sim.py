"""services/edges/bybit/sim.py: the local Bybit sockets round-trip through the adapters."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from services.edges.bybit.adapter import BybitLinearAdapter, BybitSpotAdapter
from services.edges.bybit.sim import SIM_INSTRUMENTS, BybitLinearSim, BybitSpotSim
from services.edges.sim.server import SimServer
from services.edges.sync import SyncResult
from services.edges.venue import VenueAdapter
from tests.services.edges.simclient import SimClient



CASES = [
    (BybitSpotAdapter(), BybitSpotSim, "/v5/public/spot"),
    (BybitLinearAdapter(), BybitLinearSim, "/v5/public/linear"),
]


@pytest.mark.parametrize(("adapter", "sim", "path"), CASES, ids=["spot", "linear"])
async def test_round_trip_matches_true_book_then_detects_gap(adapter: VenueAdapter, sim: type, path: str) -> None:
    instruments = SIM_INSTRUMENTS[adapter.name]
    symbols = [adapter.to_venue(i.symbol) for i in instruments]
    async with SimServer(sim(), instruments, tick_ms=10) as srv:
        assert srv.ws_url.endswith(path)
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, symbols)
            await client.subscribe()
            await client.until(lambda: all(client.applied(s) >= 25 for s in symbols))
            await client.settle(srv)
            assert client.failures() == []
            for s in symbols:
                true = srv.true_book(s)
                assert client.syncs[s].book.bids(20) == true.bids(20)
                assert client.syncs[s].book.asks(20) == true.asks(20)
            assert client.controls[0].kind == "subscribe"
            await client.until(lambda: bool(client.trades))
            trade = client.trades[0]
            assert trade.symbol in symbols and trade.aggressor in ("buy", "sell") and trade.qty_1e8 > 0

            await srv.inject("bad_checksum")  # Bybit has no checksum: deltas keep applying
            before = client.applied(symbols[0])
            await client.until(lambda: client.applied(symbols[0]) >= before + 3)
            assert client.failures() == []

            await srv.inject("gap", symbols[0])
            await client.until(lambda: bool(client.failures()))
            assert client.failures() == [(symbols[0], SyncResult.GAP)]
            assert client.syncs[symbols[0]].stale


async def test_ping_pong_and_rejected_topic() -> None:
    adapter = BybitLinearAdapter()
    async with SimServer(BybitLinearSim(), SIM_INSTRUMENTS["bybit_linear"], tick_ms=3_600_000) as srv:
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, [])
            await ws.send(adapter.ping_frame() or "")
            (pong,) = await client.step()
            assert pong.kind == "pong"  # type: ignore[union-attr]
            await ws.send(json.dumps({"op": "subscribe", "args": ["orderbook.50.NOPEUSDT"], "req_id": "x"}))
            await client.step()
            assert len(client.notices) == 1 and "NOPEUSDT" in client.notices[0].message
