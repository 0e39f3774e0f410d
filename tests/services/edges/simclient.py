"""A test client for the local venue server: parse every frame, feed books to BookSyncs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection

from services.edges.sim.server import SimServer
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import BookUpdate, Control, Parsed, TradeUpdate, VenueAdapter, VenueNotice

TIMEOUT_S = 20.0  # generous: a loaded 2-core machine


class SimClient:
    def __init__(self, ws: ClientConnection, adapter: VenueAdapter, symbols: list[str]) -> None:
        self.ws = ws
        self.adapter = adapter
        self.syncs = {s: BookSync(adapter, s) for s in symbols}
        self.received = 0
        self.snapshots = 0
        self.results: list[tuple[str, SyncResult]] = []
        self.trades: list[TradeUpdate] = []
        self.controls: list[Control] = []
        self.notices: list[VenueNotice] = []

    async def subscribe(self) -> None:
        for frame in self.adapter.subscribe_frames(list(self.syncs)):
            await self.ws.send(frame)

    async def step(self) -> list[Parsed]:
        raw = await asyncio.wait_for(self.ws.recv(), TIMEOUT_S)
        self.received += 1
        parsed = self.adapter.parse(raw)
        for item in parsed:
            if isinstance(item, BookUpdate):
                self.snapshots += item.snapshot
                self.results.append((item.symbol, self.syncs[item.symbol].apply(item)))
            elif isinstance(item, TradeUpdate):
                self.trades.append(item)
            elif isinstance(item, Control):
                self.controls.append(item)
            elif isinstance(item, VenueNotice):
                self.notices.append(item)
        return parsed

    async def until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(TIMEOUT_S):
            while not done():
                await self.step()

    async def settle(self, srv: SimServer) -> None:
        """Hold the server's tick lock and read every frame it has sent: the books are then
        comparable with the server's true books (no tick can be in flight)."""
        async with srv._lock:
            async with asyncio.timeout(TIMEOUT_S):
                while self.received < srv.stats["frames_sent"]:
                    await self.step()

    def applied(self, symbol: str) -> int:
        return self.syncs[symbol].seq.applied_since_snapshot

    def failures(self) -> list[tuple[str, SyncResult]]:
        return [(s, r) for s, r in self.results if r.failed]
