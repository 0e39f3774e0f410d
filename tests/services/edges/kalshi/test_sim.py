"""services/edges/kalshi/sim.py: the local Kalshi socket round-trips through the adapter."""

from __future__ import annotations

import json

from websockets.asyncio.client import connect

from services.edges.kalshi.adapter import KalshiAdapter
from services.edges.kalshi.sim import SIM_INSTRUMENTS, KalshiSim, determined_msg
from services.edges.sim.server import SimServer
from services.edges.sync import SyncResult
from tests.services.edges.simclient import SimClient


async def test_round_trip_matches_true_book_then_detects_gap() -> None:
    adapter = KalshiAdapter()
    (inst,) = SIM_INSTRUMENTS["kalshi"]
    ticker = adapter.to_venue(inst.symbol)
    async with SimServer(KalshiSim(), [inst], tick_ms=10) as srv:
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, [ticker])
            await client.subscribe()
            await client.until(lambda: client.applied(ticker) >= 60)
            await client.settle(srv)
            assert client.failures() == []
            sync, true = client.syncs[ticker], srv.true_book(ticker)
            assert sync.book.bids(20) == true.bids(20)
            assert sync.book.asks(20) == true.asks(20)
            (_, _, _), (no_sym, no_bids, no_asks) = adapter.derive_books(ticker, sync.book, 5)
            assert no_sym == ticker + ":NO"
            assert no_bids[0] == (1_000_000_000 - true.asks(1)[0][0], true.asks(1)[0][1])
            assert no_asks[0] == (1_000_000_000 - true.bids(1)[0][0], true.bids(1)[0][1])
            assert [c.kind for c in client.controls[:2]] == ["subscribed", "subscribed"]
            await client.until(lambda: bool(client.trades))
            assert client.trades[0].symbol == ticker and 0 < client.trades[0].px_1e9 < 1_000_000_000

            await srv.inject("bad_checksum")  # Kalshi has no checksum: increments keep applying
            before = client.applied(ticker)
            await client.until(lambda: client.applied(ticker) >= before + 5)
            assert client.failures() == []

            await srv.inject("gap")
            await client.until(lambda: bool(client.failures()))
            assert client.failures() == [(ticker, SyncResult.GAP)]
            assert sync.stale


async def test_unknown_market_and_channel_are_errors() -> None:
    adapter = KalshiAdapter()
    async with SimServer(KalshiSim(), SIM_INSTRUMENTS["kalshi"], tick_ms=3_600_000) as srv:
        async with connect(srv.ws_url) as ws:
            client = SimClient(ws, adapter, [])
            await ws.send(adapter.subscribe_frames(["NOPE-1"])[0])
            await client.step()
            await ws.send(json.dumps({"id": 9, "cmd": "subscribe", "params": {"channels": ["nope"]}}))
            await client.step()
            assert len(client.notices) == 2
            assert "NOPE-1" in client.notices[0].message and "Unknown channel" in client.notices[1].message


async def test_lifecycle_channel_beside_a_book_subscription_gets_every_market() -> None:
    (inst,) = SIM_INSTRUMENTS["kalshi"]
    ticker = KalshiAdapter().to_venue(inst.symbol)
    async with SimServer(KalshiSim(), [inst], tick_ms=1000) as srv:
        async with connect(srv.ws_url) as ws:
            params = {"channels": ["orderbook_delta", "market_lifecycle_v2"], "market_tickers": [ticker]}
            await ws.send(json.dumps({"id": 7, "cmd": "subscribe", "params": params}))
            acks = [json.loads(await ws.recv()) for _ in range(2)]
            assert [(a["type"], a["msg"]["channel"]) for a in acks] == [
                ("subscribed", "orderbook_delta"),
                ("subscribed", "market_lifecycle_v2"),
            ]
            assert json.loads(await ws.recv())["type"] == "orderbook_snapshot"
            # A market this connection never named still reaches it on the lifecycle sid.
            await srv.lifecycle(determined_msg("KXOTHER-26JAN01-T1", "no", 1_767_225_600))
            frame = json.loads(await ws.recv())
            while frame["type"] != "market_lifecycle_v2":  # a delta may come first
                frame = json.loads(await ws.recv())
            assert frame["sid"] == acks[1]["msg"]["sid"]
            assert (frame["msg"]["market_ticker"], frame["msg"]["result"]) == ("KXOTHER-26JAN01-T1", "no")
