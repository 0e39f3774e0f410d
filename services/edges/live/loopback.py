"""The shared parts of the local venue order servers: accounts, a small book each server matches
against, orders and trades, fault switches, the venue's rate limits, and serving on 127.0.0.1.

Each venue's own server (its auth checks, wire shapes and error codes) lives in its folder:
`services/edges/<venue>/private_server.py`. They exist so live order entry can be proven without
reaching an exchange: tests and local development point `CROSSBOOK_<VENUE>_REST_URL` at them.
`APPS`, `serve_venue` and the `<venue>_app` names stay importable from here (loaded on first use:
the venue modules import this one).

`start_server(app)` serves an app on 127.0.0.1 (port 0 = any free port) and returns once the
socket listens; `stop` closes it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import math
import socket
import time
from typing import Any
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import uvicorn
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Level = list[Decimal]  # [price, size]
UNKNOWN_OID = "unknownOid"  # Hyperliquid's answer for an order it does not have


@dataclass
class Account:
    secret: str
    passphrase: str = ""


@dataclass
class LoopbackOrder:
    order_id: int
    client_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None
    tif: str  # GTC | IOC | FOK | MARKET
    filled: Decimal = Decimal(0)
    status: str = "NEW"  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED
    ts_ms: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


@dataclass
class LoopbackTrade:
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    fee: Decimal  # paid, in the quote asset
    ts_ms: int


@dataclass
class ServerLimit:
    """`limit` units per sliding `window_s`; `cost(method, path)` is a request's units (0 = not
    counted); `header` reports the units used in the window on every answer (Binance's
    X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S)."""

    name: str
    limit: int
    window_s: float
    cost: Callable[[str, str], int] = lambda method, path: 1
    header: str | None = None
    seen: deque[tuple[float, int]] = field(default_factory=deque)

    def used(self, now: float) -> int:
        while self.seen and self.seen[0][0] <= now - self.window_s:
            self.seen.popleft()
        return sum(units for _, units in self.seen)


class ConnectionDropped(Exception):
    """Raised mid-reply so the server closes the connection (the `disconnects` fault)."""


class RateLimited:
    """ASGI wrapper: the venue's gateway in front of its order API: its rate limits, and the
    gateway faults (`throttle_next`: 429 with Retry-After, not executed; `disconnects`: the
    order is executed, then the connection drops halfway through the reply)."""

    def __init__(self, venue: LoopbackVenue, app: ASGIApp) -> None:
        self.venue, self.app = venue, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.venue.throttle_next > 0:
            self.venue.throttle_next -= 1
            await self._throttle(scope, receive, send, 1)
            return
        if not self.venue.limits:
            await self._serve(scope, receive, send, [])
            return
        now = time.monotonic()
        method, path = scope["method"], scope["path"]
        costs = [(lim, lim.cost(method, path)) for lim in self.venue.limits]
        over = [lim for lim, units in costs if units and lim.used(now) + units > lim.limit]
        if over:
            retry = max(math.ceil(lim.seen[0][0] + lim.window_s - now) for lim in over if lim.seen) if any(
                lim.seen for lim in over) else 1
            await self._throttle(scope, receive, send, retry)
            return
        for lim, units in costs:
            if units:
                lim.seen.append((now, units))
                self.venue.peak[lim.name] = max(self.venue.peak.get(lim.name, 0), lim.used(now))
        extra = [(lim.header.lower().encode(), str(lim.used(now)).encode()) for lim in self.venue.limits if lim.header]
        await self._serve(scope, receive, send, extra)

    async def _throttle(self, scope: Scope, receive: Receive, send: Send, retry_s: int) -> None:
        self.venue.throttled += 1
        await JSONResponse({"code": -1003, "msg": "Too many requests; current limit is exceeded."},
                           status_code=429, headers={"Retry-After": str(max(retry_s, 1))})(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, extra: list[tuple[bytes, bytes]]) -> None:
        orders_before = len(self.venue.orders)
        dropping = False

        async def send_with_headers(message: Message) -> None:
            nonlocal dropping
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
                # A request that made a new order: the fault drops the connection mid-reply.
                dropping = self.venue.disconnects > 0 and len(self.venue.orders) > orders_before
                if dropping:
                    self.venue.disconnects -= 1
            elif dropping and message["type"] == "http.response.body":
                body = message.get("body", b"")
                await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
                raise ConnectionDropped("the loopback gateway dropped the connection mid-reply")
            await send(message)

        await self.app(scope, receive, send_with_headers)


@dataclass
class LoopbackVenue:
    """The state a loopback server keeps: accounts, a book per symbol, orders and trades."""

    accounts: dict[str, Account] = field(default_factory=dict)
    books: dict[str, dict[str, list[Level]]] = field(default_factory=dict)  # symbol -> bids/asks
    taker_fee: Decimal = Decimal("0.001")
    orders: dict[int, LoopbackOrder] = field(default_factory=dict)
    trades: list[LoopbackTrade] = field(default_factory=list)
    requests_seen: list[str] = field(default_factory=list)  # method + path of every request
    touched: list[str] = field(default_factory=list)  # client id of each order a request named
    # The next N new orders are executed but answered 503, as when the gateway times out after
    # the matching engine took the order (the sender cannot tell whether it exists).
    lost_replies: int = 0
    # The next N metadata requests (Hyperliquid `meta`) answer 502, as an overloaded info endpoint does.
    failing_meta: int = 0
    # Rate limits the server enforces, as the venue does: a request over one answers 429 with
    # Retry-After (and is not executed); `throttled` counts those, `peak` the most units seen in
    # any window (a budget that works keeps every peak at or under its limit).
    # Account balances per asset, moved by fills (fees in the quote asset); `assets` names each
    # symbol's (base, quote). Empty: balances are not kept.
    balances: dict[str, Decimal] = field(default_factory=dict)
    assets: dict[str, tuple[str, str]] = field(default_factory=dict)
    # The next N new orders are executed but answered only once `release` is set (the client
    # times out first).
    held_replies: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    # The next N new orders wait for `arrive` before the venue takes them: the request is still on
    # its way when the client gives up on it and looks the order up (Binance's server checks it).
    late_orders: int = 0
    arrive: asyncio.Event = field(default_factory=asyncio.Event)
    # Gateway faults (see RateLimited): the next N requests answered 429 + Retry-After without
    # being executed; the next N requests that make an order lose their connection mid-reply.
    throttle_next: int = 0
    disconnects: int = 0
    # The venue's clock runs this far ahead of ours (negative: behind): requests signed with our
    # clock fall outside its timestamp window.
    clock_skew_ms: int = 0
    # Each trade is listed twice by the trades endpoint and pushed twice on the private streams
    # (a duplicated fill message).
    duplicate_fills: bool = False
    limits: list[ServerLimit] = field(default_factory=list)
    # Symbol -> base coins per contract, for books sized in contracts (OKX swaps): fees and
    # balances count base coins.
    contract_values: dict[str, Decimal] = field(default_factory=dict)
    throttled: int = 0
    peak: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1001))
    # Private streams (Binance listenKey, OKX/Bybit private WebSockets): listenKey -> API key;
    # each open stream's queue of frames (None closes it); `refuse_streams` refuses new ones (the
    # stream endpoint is down); `pushed` counts frames sent; `stream_frame` is how an order
    # change looks on this venue's stream (its app sets it; None: no stream, or not on it).
    listen_keys: dict[str, str] = field(default_factory=dict)
    streams: list[asyncio.Queue[str | None]] = field(default_factory=list)
    refuse_streams: bool = False
    pushed: int = 0
    stream_frame: Callable[[LoopbackVenue, LoopbackOrder, str, str, LoopbackTrade | None], str | None] | None = None

    def _report(self, order: LoopbackOrder, kind: str, status: str, trade: LoopbackTrade | None = None) -> None:
        """Push an order change (NEW, TRADE, CANCELED, EXPIRED) to every open private stream."""
        if not self.streams or self.stream_frame is None:
            return
        frame = self.stream_frame(self, order, kind, status, trade)
        if frame is None:
            return  # not on this stream (a perp on a spot stream)
        for queue in self.streams:
            for _ in range(2 if trade is not None and self.duplicate_fills else 1):  # the fill message twice
                queue.put_nowait(frame)
                self.pushed += 1

    def drop_streams(self) -> None:
        """Close every open private stream (a venue-side disconnect)."""
        for queue in self.streams:
            queue.put_nowait(None)
        self.streams.clear()  # nothing more reaches them

    def hold_reply(self) -> bool:
        if self.held_replies <= 0:
            return False
        self.held_replies -= 1
        return True

    def _book_trade(self, order: LoopbackOrder, trade: LoopbackTrade) -> None:
        self.trades.append(trade)
        if order.symbol not in self.assets:
            return
        base, quote = self.assets[order.symbol]
        sign = 1 if order.side == "BUY" else -1
        qty = trade.qty * self.contract_values.get(order.symbol, Decimal(1))
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * qty
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * trade.price * qty - trade.fee

    def fill_resting(self, order_id: int, qty: Decimal) -> None:
        """Someone takes `qty` of our resting order at its price (we are the maker; same fee here)."""
        order = self.orders[order_id]
        assert order.is_open and order.price is not None and qty <= order.qty - order.filled
        order.filled += qty
        order.status = "FILLED" if order.filled == order.qty else "PARTIALLY_FILLED"
        trade = LoopbackTrade(next(self._ids), order.order_id, order.price, qty,
                              self._fee(order.symbol, order.price, qty), int(time.time() * 1000))
        self._book_trade(order, trade)
        self._report(order, "TRADE", order.status, trade)

    def _fee(self, symbol: str, price: Decimal, qty: Decimal) -> Decimal:
        """In the quote asset: `qty` may be contracts (`contract_values`)."""
        return price * qty * self.contract_values.get(symbol, Decimal(1)) * self.taker_fee

    def now_ms(self) -> int:
        """The venue's clock (what its timestamp checks use): ours moved by `clock_skew_ms`."""
        return int(time.time() * 1000) + self.clock_skew_ms

    def as_listed(self, rows: list) -> list:
        """Trade rows as the venue's fills endpoint lists them (each twice: `duplicate_fills`)."""
        return [row for row in rows for _ in range(2 if self.duplicate_fills else 1)]

    def late_order(self) -> bool:
        if self.late_orders <= 0:
            return False
        self.late_orders -= 1
        return True

    def lose_reply(self) -> bool:
        if self.lost_replies <= 0:
            return False
        self.lost_replies -= 1
        return True

    def set_book(self, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.books[symbol] = {
            "bids": sorted(([Decimal(p), Decimal(q)] for p, q in bids), key=lambda lv: -lv[0]),
            "asks": sorted(([Decimal(p), Decimal(q)] for p, q in asks), key=lambda lv: lv[0]),
        }

    def mid(self, symbol: str) -> Decimal | None:
        """(best bid + best ask) / 2 of the held book; None without both sides."""
        book = self.books.get(symbol, {})
        if not book.get("bids") or not book.get("asks"):
            return None
        return (book["bids"][0][0] + book["asks"][0][0]) / 2

    def by_client_id(self, client_id: str) -> LoopbackOrder | None:
        self.touched.append(client_id)
        return next((o for o in self.orders.values() if o.client_id == client_id), None)

    def by_order_id(self, order_id: int) -> LoopbackOrder | None:
        order = self.orders.get(order_id)
        if order is not None:
            self.touched.append(order.client_id)
        return order

    def place(self, client_id: str, symbol: str, side: str, qty: Decimal, price: Decimal | None,
              tif: str) -> LoopbackOrder:
        """Match as a taker against the held book, then rest (GTC) or expire the rest."""
        now = int(time.time() * 1000)
        order = LoopbackOrder(next(self._ids), client_id, symbol, side, qty, price, tif, ts_ms=now)
        self.orders[order.order_id] = order
        self._report(order, "NEW", "NEW")
        levels = self.books.get(symbol, {"bids": [], "asks": []})["asks" if side == "BUY" else "bids"]
        crossing = [lv for lv in levels if price is None or (lv[0] <= price if side == "BUY" else lv[0] >= price)]
        if tif == "FOK" and sum(lv[1] for lv in crossing) < qty:
            order.status = "EXPIRED"
            self._report(order, "EXPIRED", "EXPIRED")
            return order
        for level in crossing:
            take = min(level[1], qty - order.filled)
            if take <= 0:
                break
            level[1] -= take
            order.filled += take
            trade = LoopbackTrade(next(self._ids), order.order_id, level[0], take, self._fee(symbol, level[0], take), now)
            self._book_trade(order, trade)
            self._report(order, "TRADE", "FILLED" if order.filled == qty else "PARTIALLY_FILLED", trade)
        levels[:] = [lv for lv in levels if lv[1] > 0]
        if order.filled == qty:
            order.status = "FILLED"
        elif tif in ("IOC", "MARKET"):
            order.status = "EXPIRED"
            self._report(order, "EXPIRED", "EXPIRED")
        elif order.filled:
            order.status = "PARTIALLY_FILLED"
        return order

    def placed_with(self, client_id: str) -> int:
        return sum(1 for o in self.orders.values() if o.client_id == client_id)


async def pump(ws: WebSocket, venue: LoopbackVenue, replies: Callable[[str], str | None] = lambda text: None) -> None:
    """Send `venue`'s order changes on the accepted `ws` until either side closes; `replies`
    answers the client's frames (keepalive pings)."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    venue.streams.append(queue)

    async def from_client() -> None:
        try:
            while True:
                reply = replies(await ws.receive_text())
                if reply is not None:
                    queue.put_nowait(reply)
        except (WebSocketDisconnect, RuntimeError):
            return

    watcher = asyncio.create_task(from_client())
    try:
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, watcher}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                return
            frame = getter.result()
            if frame is None:
                await ws.close()
                return
            await ws.send_text(frame)
    finally:
        if queue in venue.streams:
            venue.streams.remove(queue)
        watcher.cancel()


def hmac_sha256(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


# ----------------------------------------------------------------------------------- serving


@dataclass
class RunningServer:
    server: uvicorn.Server
    sock: socket.socket

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    async def stop(self) -> None:
        await self.server.shutdown([self.sock])
        self.sock.close()


async def start_server(app: ASGIApp, port: int = 0) -> RunningServer:
    """Serve `app` on 127.0.0.1:`port`; returns once the socket is listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.config.load()
    server.lifespan = server.config.lifespan_class(server.config)
    await server.startup(sockets=[sock])
    return RunningServer(server, sock)


_FROM_VENUE_FOLDERS = frozenset({"APPS", "serve_venue", "binance_app", "okx_app", "bybit_app", "bitmart_app",
                                 "hyperliquid_app"})


def __getattr__(name: str) -> Any:
    """`APPS`, `serve_venue` and each `<venue>_app`, from the venue folders (imported lazily: they
    import this module)."""
    if name in _FROM_VENUE_FOLDERS:  # never for dunders (`__path__`: the import system asks)
        from services.edges.live import private_servers

        return getattr(private_servers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
