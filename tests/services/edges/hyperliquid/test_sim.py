"""Round trip against the local Hyperliquid sim (services/edges/hyperliquid/sim.py) through the real adapter."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from websockets.asyncio.client import ClientConnection, connect

from services.edges.hyperliquid.adapter import HyperliquidAdapter
from services.edges.hyperliquid.sim import SIM_INSTRUMENTS, HyperliquidSim
from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control, FundingUpdate, ParseError, Parsed, TradeUpdate, VenueNotice

BTC, ETH = "BTC", "ETH"
TIMEOUT_S = 20.0


class _Feed:
    """Our side of one connection: parsed frames applied to a BookSync per coin."""

    def __init__(self, ws: ClientConnection, srv: SimServer) -> None:
        self.ws, self.srv = ws, srv
        self.adapter = HyperliquidAdapter()
        self.syncs = {c: BookSync(self.adapter, c) for c in (BTC, ETH)}
        self.pushes: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()

    async def frames(self) -> list[Parsed]:
        return self.adapter.parse(await self.ws.recv())

    async def until_caught_up(self, pushes: int) -> dict[str, int]:
        """Apply at least `pushes` more pushes per coin, then until each coin has just received
        the last push the server rendered for it; check the book against the true book then and
        return how many rendered pushes never arrived, per coin."""
        target = {c: self.pushes[c] + pushes for c in self.syncs}
        missing: dict[str, int] = {}
        async with asyncio.timeout(TIMEOUT_S):
            while len(missing) < len(self.syncs):
                raw = await self.ws.recv()
                for p in self.adapter.parse(raw):
                    if isinstance(p, Control):
                        self.kinds[p.kind] += 1
                    elif isinstance(p, TradeUpdate):
                        assert p.symbol in self.syncs and p.qty_1e8 > 0 and p.aggressor in ("buy", "sell")
                        self.kinds["trade"] += 1
                    elif isinstance(p, FundingUpdate):  # activeAssetCtx (tests/services/edges/test_funding.py)
                        assert p.symbol in self.syncs
                    elif isinstance(p, BookUpdate):
                        assert p.snapshot
                        sync = self.syncs[p.symbol]
                        assert sync.apply(p) is SyncResult.APPLIED, sync.last_failure
                        self.pushes[p.symbol] += 1
                        (conn,) = self.srv.conns
                        # No await since the apply: holding the last push rendered for us means
                        # our book is the true top 20 (the market steps and renders at once).
                        if self.pushes[p.symbol] >= target[p.symbol] and raw == conn.state["last_push"][p.symbol]:
                            true = self.srv.true_book(p.symbol)
                            assert sync.book.bids() == true.bids(20)
                            assert sync.book.asks() == true.asks(20)
                            missing[p.symbol] = conn.state["rendered"][p.symbol] - self.pushes[p.symbol]
                    else:
                        pytest.fail(f"unexpected {p!r}")
        return missing


async def test_pushes_match_the_true_book_and_a_dropped_push_heals() -> None:
    async with SimServer(HyperliquidSim(), SIM_INSTRUMENTS["hyperliquid"], tick_ms=10, heartbeat_s=0) as srv:
        async with connect(srv.ws_url) as ws:
            feed = _Feed(ws, srv)
            for frame in feed.adapter.subscribe_frames([BTC, ETH]):
                await ws.send(frame)
            assert await feed.until_caught_up(20) == {BTC: 0, ETH: 0}
            assert feed.kinds["subscribed"] == 6 and feed.kinds["trade"] > 0  # l2Book, trades, activeAssetCtx x 2

            # A dropped push loses nothing: the next one is the whole book again. There is no
            # sequence to notice it by, so the claim is that the book is still exactly right.
            await srv.inject("gap", BTC)
            await srv.inject("bad_checksum", BTC)  # nothing to corrupt on this venue
            assert await feed.until_caught_up(10) == {BTC: 1, ETH: 0}
            assert all(s.failures == 0 and not s.stale for s in feed.syncs.values())

            # the in-band resync the runtime uses after a crossed push: resubscribe, fresh push
            for frame in feed.adapter.resync_frames(BTC):
                await ws.send(frame)
            assert await feed.until_caught_up(5) == {BTC: 1, ETH: 0}
            assert feed.kinds["subscribed"] == 8


async def test_ping_unknown_coin_and_garbage() -> None:
    async with SimServer(HyperliquidSim(), SIM_INSTRUMENTS["hyperliquid"], tick_ms=10, heartbeat_s=0) as srv:
        async with connect(srv.ws_url) as ws:
            feed = _Feed(ws, srv)
            await ws.send(feed.adapter.ping_frame() or "")
            assert await asyncio.wait_for(feed.frames(), TIMEOUT_S) == [Control("pong")]
            await ws.send(feed.adapter.subscribe_frames(["NOPE"])[0])
            (notice,) = await asyncio.wait_for(feed.frames(), TIMEOUT_S)
            assert isinstance(notice, VenueNotice) and "Invalid subscription" in notice.message
            await srv.inject("garbage")
            for _ in range(2):
                with pytest.raises(ParseError):
                    await asyncio.wait_for(feed.frames(), TIMEOUT_S)
