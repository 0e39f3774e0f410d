"""A local venue server: one venue's WebSocket (and REST snapshot) protocol on loopback.

The server owns the true books (`SimMarket`), the tick loop, connections and faults; the
venue's `SimProtocol` (in `services/edges/<venue>/sim.py`) only renders frames and answers
client frames, so each venue speaks its own wire format.

Faults (in-process `inject()` or HTTP `GET /__sim/fault/<kind>[?symbol=S]`):
  gap           the next delta frame per subscriber is not sent (sequence/checksum breaks)
  bad_checksum  the next delta frame carries a wrong checksum (venues that have one)
  close         close every client socket
  stall         send nothing for `stall_s` seconds
  garbage       send one non-protocol frame to every subscriber
Test hooks: `GET /__sim/book/<venue_symbol>?depth=N` returns the true book as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from services.edges.book import L2Book
from services.edges.sim.market import SimInstrument, SimMarket, SimTrade

log = logging.getLogger("crossbook.sim")

FAULTS = ("gap", "bad_checksum", "close", "stall", "garbage")
FUNDING_EVERY_TICKS = 20  # one funding push per second at the default 50 ms tick


@dataclass(eq=False)  # identity hash: connections live in a set
class SimConn:
    """One client connection and the venue symbols it subscribed to."""

    ws: ServerConnection
    subscribed: set[str] = field(default_factory=set)
    state: dict[str, Any] = field(default_factory=dict)  # protocol's per-connection state
    pending_faults: dict[str, int] = field(default_factory=dict)
    frames_sent: int = 0


class SimProtocol(ABC):
    """A venue's wire format for the local server. Implemented in each venue's `sim.py`."""

    venue: str
    ws_path: str = "/"

    def __init__(self) -> None:
        self.server: SimServer | None = None
        self.state: dict[str, Any] = {}  # protocol's server-wide state (e.g. update ids per symbol)

    @abstractmethod
    def to_venue(self, canonical: str) -> str: ...

    @abstractmethod
    def on_client_frame(self, conn: SimConn, text: str) -> list[str]:
        """Handle a client frame (subscribe, ping...). Call `self.subscribe(conn, sym)` to start
        streaming a symbol; return the frames to send back (acks) *before* the snapshot."""

    @abstractmethod
    def snapshot_frames(self, conn: SimConn, venue_symbol: str, book: L2Book) -> list[str]: ...

    @abstractmethod
    def delta_frames(
        self,
        conn: SimConn,
        venue_symbol: str,
        bids: list[tuple[int, int]],
        asks: list[tuple[int, int]],
        book: L2Book,
        corrupt_checksum: bool,
    ) -> list[str]: ...

    def advance(self, venue_symbol: str, bids: list[tuple[int, int]], asks: list[tuple[int, int]]) -> None:
        """Advance server-wide sequence state once per market step (before frames are rendered)."""

    def trade_frames(self, conn: SimConn, venue_symbol: str, trade: SimTrade) -> list[str]:
        return []

    def heartbeat_frames(self, conn: SimConn) -> list[str]:
        return []

    def funding_frames(self, conn: SimConn, venue_symbol: str, market: SimMarket) -> list[str]:
        """A perp's funding/mark-price push, sent every `FUNDING_EVERY_TICKS` (perp venues)."""
        return []

    def rest(self, path: str, query: dict[str, str]) -> tuple[int, Any] | None:
        """Answer a REST request (snapshot endpoints); None = 404."""
        return None

    def resolution_msg(self, market: str, winner: str) -> dict[str, Any] | None:
        """The venue's message resolving one of its markets for `winner` (yes|no); None if unknown."""
        return None

    def lifecycle_frames(self, conn: SimConn, msg: dict[str, Any]) -> list[str]:
        """A prediction market's lifecycle notice (listed, resolved) for one connection, if it
        asked for them; `msg` is the venue's own message body."""
        return []

    def subscribe(self, conn: SimConn, venue_symbol: str) -> bool:
        assert self.server is not None
        if venue_symbol not in self.server.markets_by_venue_symbol:
            return False
        conn.subscribed.add(venue_symbol)
        self.server.schedule_snapshot(conn, venue_symbol)
        return True


class SimServer:
    """Serve one venue protocol on 127.0.0.1; tick the markets; inject faults."""

    def __init__(
        self,
        protocol: SimProtocol,
        instruments: Iterable[SimInstrument],
        *,
        seed: int = 7,
        tick_ms: int = 50,
        changes_per_tick: int = 4,
        heartbeat_s: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        anchor_epoch_ns: int | None = None,
    ) -> None:
        self.protocol = protocol
        protocol.server = self
        self.markets: dict[str, SimMarket] = {}
        self.markets_by_venue_symbol: dict[str, SimMarket] = {}
        for i, inst in enumerate(instruments):
            market = SimMarket(inst, seed * 1000 + i)
            self.markets[inst.symbol] = market
            self.markets_by_venue_symbol[protocol.to_venue(inst.symbol)] = market
        self.tick_ms = tick_ms
        self.changes_per_tick = changes_per_tick
        self.heartbeat_s = heartbeat_s
        self.host = host
        self.port = port
        self.conns: set[SimConn] = set()
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stall_until = 0.0
        self._lock = asyncio.Lock()
        self._paused = False
        self._ticks = 0
        # Set by the local cluster so all servers share the anchor path by wall clock; None in
        # tests, where each server's step count drives its own (deterministic) anchor.
        self.anchor_epoch_ns = anchor_epoch_ns
        self.stats = {"connections": 0, "frames_sent": 0, "faults": 0}

    # --- lifecycle --------------------------------------------------------------------------
    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{self.protocol.ws_path}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> SimServer:
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._process_request, ping_interval=None
        )
        self.port = self._server.sockets[0].getsockname()[1] if self.port == 0 else self.port
        self._tasks.append(asyncio.create_task(self._tick_loop(), name=f"sim-{self.protocol.venue}-tick"))
        if self.heartbeat_s:
            self._tasks.append(asyncio.create_task(self._heartbeat_loop(), name=f"sim-{self.protocol.venue}-hb"))
        log.info("sim %s listening on %s", self.protocol.venue, self.ws_url)
        return self

    async def stop(self) -> None:
        # A test that failed while the market was paused must not hang here: a connection
        # handler waiting for the lock would keep wait_closed() from ever returning.
        self.resume()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> SimServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- faults and test hooks --------------------------------------------------------------
    async def inject(self, kind: str, venue_symbol: str | None = None, stall_s: float = 3.0) -> None:
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}, was not one of {FAULTS}")
        self.stats["faults"] += 1
        if kind == "close":
            for conn in list(self.conns):
                await conn.ws.close(1011, "sim fault: close")
        elif kind == "stall":
            self._stall_until = asyncio.get_running_loop().time() + stall_s
        elif kind == "garbage":
            for conn in list(self.conns):
                await self._send(conn, ['{"truncated": [1, 2', "\x00\xffnot json at all"])
        else:
            for conn in self.conns:
                for sym in conn.subscribed:
                    if venue_symbol is None or sym == venue_symbol:
                        conn.pending_faults[f"{kind}:{sym}"] = 1

    async def pause(self) -> None:
        """Stop the market (ticks and heartbeats) so a test can compare books at rest."""
        if not self._paused:
            await self._lock.acquire()
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._lock.release()

    async def lifecycle(self, msg: dict[str, Any]) -> None:
        """Push a market lifecycle notice to every connection subscribed to them."""
        async with self._lock:
            for conn in list(self.conns):
                await self._send(conn, self.protocol.lifecycle_frames(conn, msg))

    def true_book(self, venue_symbol: str) -> L2Book:
        return self.markets_by_venue_symbol[venue_symbol].book

    def schedule_snapshot(self, conn: SimConn, venue_symbol: str) -> None:
        conn.state.setdefault("_needs_snapshot", []).append(venue_symbol)

    # --- internals --------------------------------------------------------------------------
    async def _send(self, conn: SimConn, frames: list[str]) -> None:
        for frame in frames:
            try:
                await conn.ws.send(frame)
                self.stats["frames_sent"] += 1
                conn.frames_sent += 1
            except Exception:  # a closing client is not the server's problem
                return

    async def _flush_snapshots(self, conn: SimConn) -> None:
        pending = conn.state.pop("_needs_snapshot", [])
        for sym in pending:
            market = self.markets_by_venue_symbol[sym]
            await self._send(conn, self.protocol.snapshot_frames(conn, sym, market.book))

    async def _handle(self, ws: ServerConnection) -> None:
        conn = SimConn(ws)
        self.conns.add(conn)
        self.stats["connections"] += 1
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                async with self._lock:
                    await self._send(conn, self.protocol.on_client_frame(conn, text))
                    await self._flush_snapshots(conn)
        except Exception as exc:  # client went away mid-frame
            log.debug("sim %s connection ended: %s", self.protocol.venue, exc)
        finally:
            self.conns.discard(conn)

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick_ms / 1000)
            async with self._lock:
                self._ticks += 1
                funding_tick = self._ticks % FUNDING_EVERY_TICKS == 1
                stalled = loop.time() < self._stall_until
                # One wall-clock step index for every server: all venues sit on the same anchor.
                anchor_step = (
                    None
                    if self.anchor_epoch_ns is None
                    else (time.time_ns() - self.anchor_epoch_ns) // (self.tick_ms * 1_000_000)
                )
                for venue_symbol, market in self.markets_by_venue_symbol.items():
                    bids, asks = market.step(self.changes_per_tick, anchor_step)
                    self.protocol.advance(venue_symbol, bids, asks)
                    for conn in list(self.conns):
                        if venue_symbol not in conn.subscribed:
                            continue
                        gap = conn.pending_faults.pop(f"gap:{venue_symbol}", 0)
                        bad = conn.pending_faults.pop(f"bad_checksum:{venue_symbol}", 0)
                        frames = self.protocol.delta_frames(conn, venue_symbol, bids, asks, market.book, bool(bad))
                        if market.last_trade is not None:
                            frames += self.protocol.trade_frames(conn, venue_symbol, market.last_trade)
                        if funding_tick:
                            frames += self.protocol.funding_frames(conn, venue_symbol, market)
                        if gap:
                            continue
                        if stalled:
                            # A stalled wire delays frames; it does not lose them.
                            conn.state.setdefault("_stalled", []).extend(frames)
                        else:
                            await self._send(conn, conn.state.pop("_stalled", []) + frames)

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if loop.time() < self._stall_until:
                continue
            async with self._lock:
                for conn in list(self.conns):
                    await self._send(conn, self.protocol.heartbeat_frames(conn))

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        parts = urlsplit(request.path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path.startswith("/__sim/fault/"):
            kind = path.rsplit("/", 1)[1]
            if kind not in FAULTS:
                return _json(HTTPStatus.BAD_REQUEST, {"error": f"unknown fault {kind}"})
            asyncio.get_running_loop().create_task(self.inject(kind, query.get("symbol")))
            return _json(HTTPStatus.OK, {"injected": kind})
        if path.startswith("/__sim/resolve/"):
            # Resolve a prediction market by hand (`make run`): /__sim/resolve/<market>?winner=yes|no
            market, winner = unquote(path[len("/__sim/resolve/") :]), query.get("winner", "")
            msg = self.protocol.resolution_msg(market, winner) if winner in ("yes", "no") else None
            if msg is None:
                return _json(HTTPStatus.NOT_FOUND, {"error": f"no market {market!r} to resolve for winner {winner!r}"})
            asyncio.get_running_loop().create_task(self.lifecycle(msg))
            return _json(HTTPStatus.OK, {"resolving": market, "winner": winner})
        if path.startswith("/__sim/book/"):
            sym = unquote(path[len("/__sim/book/") :])
            if sym not in self.markets_by_venue_symbol:
                return _json(HTTPStatus.NOT_FOUND, {"error": f"unknown symbol {sym}"})
            depth = int(query.get("depth", "50"))
            book = self.true_book(sym)
            return _json(HTTPStatus.OK, {"bids": book.bids(depth), "asks": book.asks(depth)})
        answer = self.protocol.rest(path, query)
        if answer is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": f"no route {path}"})
        status, body = answer
        return _json(HTTPStatus(status), body)


def _json(status: HTTPStatus, body: Any) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status.value, status.phrase, headers, data)
