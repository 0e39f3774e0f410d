"""Loopback venue order servers: Binance spot, OKX v5, Bybit v5, BitMart spot and Hyperliquid order entry,
as each venue checks it.

Each server verifies auth the way its venue does (API key known, timestamp within the window,
signature recomputed over the exact bytes received, OKX passphrase, BitMart memo; Hyperliquid: the signer
recovered from the EIP-712 signature must be a known address), answers refusals in the
venue's own error shape and codes, and fills orders against a small static book it holds.
They exist so live order entry can be proven without reaching an exchange: tests and local
development point `CROSSBOOK_<VENUE>_REST_URL` at them.

`start_server(app)` serves an app on 127.0.0.1 (port 0 = any free port) and returns once the
socket listens; `stop` closes it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import math
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.edges.hyperliquid import signing as signing_hl

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


class RateLimited:
    """ASGI wrapper: the venue's rate limits in front of its order API."""

    def __init__(self, venue: LoopbackVenue, app: ASGIApp) -> None:
        self.venue, self.app = venue, app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.venue.limits:
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        method, path = scope["method"], scope["path"]
        costs = [(lim, lim.cost(method, path)) for lim in self.venue.limits]
        over = [lim for lim, units in costs if units and lim.used(now) + units > lim.limit]
        if over:
            self.venue.throttled += 1
            retry = max(math.ceil(lim.seen[0][0] + lim.window_s - now) for lim in over if lim.seen) if any(
                lim.seen for lim in over) else 1
            await JSONResponse({"code": -1003, "msg": "Too many requests; current limit is exceeded."},
                               status_code=429, headers={"Retry-After": str(max(retry, 1))})(scope, receive, send)
            return
        for lim, units in costs:
            if units:
                lim.seen.append((now, units))
                self.venue.peak[lim.name] = max(self.venue.peak.get(lim.name, 0), lim.used(now))
        extra = [(lim.header.lower().encode(), str(lim.used(now)).encode()) for lim in self.venue.limits if lim.header]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
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
    # Each trade is listed twice by the trades endpoint and pushed twice on the private streams
    # (a duplicated fill message).
    duplicate_fills: bool = False
    limits: list[ServerLimit] = field(default_factory=list)
    throttled: int = 0
    peak: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1001))
    # User-data streams (Binance listenKey WebSocket): listenKey -> API key; each open stream's
    # queue of frames (None closes it); `refuse_streams` refuses new ones (a venue whose stream
    # endpoint is down); `pushed` counts executionReports sent.
    listen_keys: dict[str, str] = field(default_factory=dict)
    streams: list[asyncio.Queue[str | None]] = field(default_factory=list)
    refuse_streams: bool = False
    pushed: int = 0
    # How an order change looks on this venue's private stream (its app sets it; Binance's by default).
    stream_frame: Callable[[LoopbackVenue, LoopbackOrder, str, str, LoopbackTrade | None], str] = field(
        default=lambda venue, order, kind, status, trade: json.dumps(
            binance_execution_report(venue, order, kind, status, trade)))

    def _report(self, order: LoopbackOrder, kind: str, status: str, trade: LoopbackTrade | None = None) -> None:
        """Push a Binance executionReport for `order` to every open user stream."""
        if not self.streams:
            return
        frame = self.stream_frame(self, order, kind, status, trade)
        for queue in self.streams:
            for _ in range(2 if trade is not None and self.duplicate_fills else 1):  # the fill message twice
                queue.put_nowait(frame)
                self.pushed += 1

    def drop_streams(self) -> None:
        """Close every open user stream (a venue-side disconnect)."""
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
        self.balances[base] = self.balances.get(base, Decimal(0)) + sign * trade.qty
        self.balances[quote] = self.balances.get(quote, Decimal(0)) - sign * trade.price * trade.qty - trade.fee

    def fill_resting(self, order_id: int, qty: Decimal) -> None:
        """Someone takes `qty` of our resting order at its price (we are the maker; same fee here)."""
        order = self.orders[order_id]
        assert order.is_open and order.price is not None and qty <= order.qty - order.filled
        order.filled += qty
        order.status = "FILLED" if order.filled == order.qty else "PARTIALLY_FILLED"
        trade = LoopbackTrade(next(self._ids), order.order_id, order.price, qty,
                              order.price * qty * self.taker_fee, int(time.time() * 1000))
        self._book_trade(order, trade)
        self._report(order, "TRADE", order.status, trade)

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
            trade = LoopbackTrade(next(self._ids), order.order_id, level[0], take, level[0] * take * self.taker_fee, now)
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


def _hmac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


# ----------------------------------------------------------------------------------- Binance


def _split_signature(params: str) -> tuple[str, str]:
    if params.startswith("signature="):
        return "", params[len("signature="):]
    head, sep, signature = params.rpartition("&signature=")
    return (head, signature) if sep else (params, "")


def binance_app(venue: LoopbackVenue, recv_window_max_ms: int = 60_000) -> Starlette:
    def error(status: int, code: int, msg: str) -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg}, status_code=status)

    async def authenticate(request: Request) -> dict[str, str] | JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        account = venue.accounts.get(request.headers.get("X-MBX-APIKEY", ""))
        if account is None:
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        query, body = request.url.query, (await request.body()).decode()
        # totalParams = query string + body; the appended signature parameter is not signed.
        (query, query_sig), (body, body_sig) = _split_signature(query), _split_signature(body)
        signature = query_sig or body_sig
        total = query + body
        params = dict(parse_qsl(total))
        if not signature:
            return error(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        try:
            ts, window = int(params["timestamp"]), int(params.get("recvWindow", "5000"))
        except (KeyError, ValueError):
            return error(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        now = int(time.time() * 1000)
        if window > recv_window_max_ms or not (ts - 1000 <= now < ts + window):
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if not hmac.compare_digest(_hmac(account.secret, total).hex(), signature):
            return error(400, -1022, "Signature for this request is not valid.")
        return params

    def order_doc(order: LoopbackOrder) -> dict[str, object]:
        quote = sum((t.price * t.qty for t in venue.trades if t.order_id == order.order_id), Decimal(0))
        return {
            "symbol": order.symbol, "orderId": order.order_id, "orderListId": -1, "clientOrderId": order.client_id,
            "transactTime": order.ts_ms, "price": str(order.price or Decimal(0)), "origQty": str(order.qty),
            "executedQty": str(order.filled), "cummulativeQuoteQty": str(quote), "status": order.status,
            "timeInForce": "GTC" if order.tif == "MARKET" else order.tif,
            "type": "MARKET" if order.tif == "MARKET" else "LIMIT", "side": order.side,
        }

    async def new_order(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        client_id = params.get("newClientOrderId", "")
        existing = venue.by_client_id(client_id)
        if existing is not None and existing.is_open:  # Binance: unique among open orders
            return error(400, -2010, "Duplicate order sent.")
        if params.get("symbol") not in venue.books:
            return error(400, -1121, "Invalid symbol.")
        kind = params.get("type")
        tif = "MARKET" if kind == "MARKET" else params.get("timeInForce", "")
        if kind not in ("MARKET", "LIMIT") or tif not in ("MARKET", "GTC", "IOC", "FOK"):
            return error(400, -1116, "Invalid orderType.")
        price = Decimal(params["price"]) if kind == "LIMIT" else None
        order = venue.place(client_id, params["symbol"], params["side"], Decimal(params["quantity"]), price, tif)
        if venue.lose_reply():
            return error(503, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                                     "execution status unknown.")
        if venue.hold_reply():
            await venue.release.wait()  # the client times out meanwhile
        doc = order_doc(order)
        doc["fills"] = [
            {"price": str(t.price), "qty": str(t.qty), "commission": str(t.fee), "commissionAsset": "USDT",
             "tradeId": t.trade_id}
            for t in venue.trades if t.order_id == order.order_id
        ]
        return JSONResponse(doc)

    async def query_order(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        order = venue.by_client_id(params.get("origClientOrderId", ""))
        if order is None:
            return error(400, -2013, "Order does not exist.")
        if request.method == "DELETE":
            if not order.is_open:
                return error(400, -2011, "Unknown order sent.")
            order.status = "CANCELED"
            venue._report(order, "CANCELED", "CANCELED")
        return JSONResponse(order_doc(order))

    async def my_trades(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        order_id = int(params.get("orderId", "0"))
        venue.by_order_id(order_id)
        rows = [
            {"symbol": venue.orders[t.order_id].symbol, "id": t.trade_id, "orderId": t.order_id, "price": str(t.price),
             "qty": str(t.qty), "commission": str(t.fee), "commissionAsset": "USDT", "time": t.ts_ms,
             "isMaker": False}
            for t in venue.trades if t.order_id == order_id
        ]
        return JSONResponse([row for row in rows for _ in range(2 if venue.duplicate_fills else 1)])

    async def account(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        locked: dict[str, Decimal] = {}
        for order in venue.orders.values():  # what open orders hold
            if order.is_open and order.price is not None and order.symbol in venue.assets:
                base, quote = venue.assets[order.symbol]
                rest = order.qty - order.filled
                asset, qty = (quote, rest * order.price) if order.side == "BUY" else (base, rest)
                locked[asset] = locked.get(asset, Decimal(0)) + qty
        return JSONResponse({"canTrade": True, "accountType": "SPOT", "balances": [
            {"asset": asset, "free": str(total - locked.get(asset, Decimal(0))), "locked": str(locked.get(asset, Decimal(0)))}
            for asset, total in sorted(venue.balances.items())
        ]})

    async def open_orders(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        return JSONResponse([order_doc(o) for o in venue.orders.values() if o.is_open])

    async def user_data_stream(request: Request) -> JSONResponse:
        # API key only, no signature (Binance's USER_STREAM security type).
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if api_key not in venue.accounts:
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if request.method == "POST":
            key = base64.urlsafe_b64encode(hashlib.sha256(f"{api_key}:{len(venue.listen_keys)}".encode()).digest()).decode()
            venue.listen_keys[key[:60]] = api_key
            return JSONResponse({"listenKey": key[:60]})
        if venue.listen_keys.get(request.query_params.get("listenKey", "")) != api_key:
            return error(400, -1125, "This listenKey does not exist.")
        return JSONResponse({})

    async def user_stream(ws: WebSocket) -> None:
        if venue.refuse_streams or ws.path_params["key"] not in venue.listen_keys:
            await ws.close(code=1008)
            return
        await ws.accept()
        await _pump(ws, venue)

    return Starlette(routes=[
        Route("/api/v3/userDataStream", user_data_stream, methods=["POST", "PUT"]),
        WebSocketRoute("/ws/{key}", user_stream),
        Route("/api/v3/order", new_order, methods=["POST"]),
        Route("/api/v3/order", query_order, methods=["GET", "DELETE"]),
        Route("/api/v3/myTrades", my_trades, methods=["GET"]),
        Route("/api/v3/account", account, methods=["GET"]),
        Route("/api/v3/openOrders", open_orders, methods=["GET"]),
    ])


async def _pump(ws: WebSocket, venue: LoopbackVenue, replies: Callable[[str], str | None] = lambda text: None) -> None:
    """Send `venue`'s order changes on `ws` until either side closes; `replies` answers the
    client's frames (keepalive pings)."""
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


def binance_execution_report(venue: LoopbackVenue, order: LoopbackOrder, kind: str, status: str,
                             trade: LoopbackTrade | None) -> dict[str, object]:
    """An executionReport as Binance pushes it on the user-data stream."""
    now = trade.ts_ms if trade is not None else int(time.time() * 1000)
    quote = sum((t.price * t.qty for t in venue.trades if t.order_id == order.order_id), Decimal(0))
    return {
        "e": "executionReport", "E": now, "s": order.symbol, "c": order.client_id, "S": order.side,
        "o": "MARKET" if order.tif == "MARKET" else "LIMIT", "f": "GTC" if order.tif == "MARKET" else order.tif,
        "q": str(order.qty), "p": str(order.price or Decimal(0)), "P": "0.00000000", "C": "", "x": kind,
        "X": status, "r": "NONE", "i": order.order_id, "l": str(trade.qty if trade else Decimal(0)),
        "z": str(order.filled), "L": str(trade.price if trade else Decimal(0)),
        "n": str(trade.fee) if trade else "0", "N": "USDT" if trade else None, "T": now,
        "t": trade.trade_id if trade else -1, "w": status in ("NEW", "PARTIALLY_FILLED"), "m": False,
        "O": order.ts_ms, "Z": str(quote),
    }


# ----------------------------------------------------------------------------------- OKX


def okx_app(venue: LoopbackVenue, max_skew_s: int = 30) -> Starlette:
    def error(status: int, code: str, msg: str, data: list | None = None) -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg, "data": data or []}, status_code=status)

    async def authenticate(request: Request) -> str | JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        for name in ("OK-ACCESS-KEY", "OK-ACCESS-SIGN", "OK-ACCESS-TIMESTAMP", "OK-ACCESS-PASSPHRASE"):
            if not h.get(name):
                return error(401, "50103" if name == "OK-ACCESS-KEY" else "50104",
                             f'Request header "{name}" cannot be blank')
        account = venue.accounts.get(h["OK-ACCESS-KEY"])
        if account is None:
            return error(401, "50111", "Invalid OK-ACCESS-KEY")
        try:
            sent = datetime.fromisoformat(h["OK-ACCESS-TIMESTAMP"].replace("Z", "+00:00")).timestamp()
        except ValueError:
            return error(401, "50112", "Invalid OK-ACCESS-TIMESTAMP")
        if abs(time.time() - sent) > max_skew_s:
            return error(401, "50102", "Timestamp request expired")
        if not hmac.compare_digest(h["OK-ACCESS-PASSPHRASE"], account.passphrase):
            return error(401, "50105", "Invalid OK-ACCESS-PASSPHRASE")
        body = (await request.body()).decode()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        expected = base64.b64encode(_hmac(account.secret, h["OK-ACCESS-TIMESTAMP"] + request.method + target + body))
        if not hmac.compare_digest(expected.decode(), h["OK-ACCESS-SIGN"]):
            return error(401, "50113", "Invalid Sign")
        return body

    def ok(data: list) -> JSONResponse:
        return JSONResponse({"code": "0", "msg": "", "data": data})

    async def place(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        doc = json.loads(body)
        client_id = doc.get("clOrdId", "")
        item = {"ordId": "", "clOrdId": client_id, "tag": ""}
        if client_id and venue.by_client_id(client_id) is not None:
            return error(200, "1", "All operations failed", [{**item, "sCode": "51016", "sMsg": "Duplicated clOrdId"}])
        if doc.get("instId") not in venue.books:
            return error(200, "1", "All operations failed",
                         [{**item, "sCode": "51001", "sMsg": "Instrument ID does not exist"}])
        kind = doc.get("ordType")
        tif = {"market": "MARKET", "limit": "GTC", "ioc": "IOC", "fok": "FOK"}.get(kind)
        if tif is None or (kind == "market" and doc.get("tgtCcy") != "base_ccy"):
            return error(200, "1", "All operations failed", [{**item, "sCode": "51000", "sMsg": "Parameter error"}])
        price = None if kind == "market" else Decimal(doc["px"])
        order = venue.place(client_id, doc["instId"], doc["side"].upper(), Decimal(doc["sz"]), price, tif)
        if venue.lose_reply():
            return error(503, "50001", "Service temporarily unavailable, please try again later")
        return ok([{**item, "ordId": str(order.order_id), "ts": str(order.ts_ms), "sCode": "0", "sMsg": "Order placed"}])

    def state(order: LoopbackOrder) -> str:
        return {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled"}.get(order.status, "canceled")

    async def get_order(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        order = venue.by_client_id(request.query_params.get("clOrdId", ""))
        if order is None:
            return error(200, "51603", "Order does not exist")
        return ok([{"instId": order.symbol, "ordId": str(order.order_id), "clOrdId": order.client_id,
                    "state": state(order), "sz": str(order.qty), "accFillSz": str(order.filled),
                    "side": order.side.lower()}])

    async def fills(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        order_id = int(request.query_params.get("ordId", "0"))
        venue.by_order_id(order_id)
        return ok([
            {"instId": venue.orders[t.order_id].symbol, "tradeId": str(t.trade_id), "ordId": str(t.order_id),
             "clOrdId": venue.orders[t.order_id].client_id, "fillPx": str(t.price), "fillSz": str(t.qty),
             "side": venue.orders[t.order_id].side.lower(), "execType": "T", "fee": str(-t.fee), "feeCcy": "USDT",
             "ts": str(t.ts_ms)}
            for t in venue.trades if t.order_id == order_id
        ])

    async def cancel(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        doc = json.loads(body)
        order = venue.by_order_id(int(doc.get("ordId") or 0)) or venue.by_client_id(doc.get("clOrdId", ""))
        if order is None or not order.is_open:
            return error(200, "1", "All operations failed", [{
                "ordId": doc.get("ordId", ""), "clOrdId": "", "sCode": "51400",
                "sMsg": "Order cancellation failed as the order has been filled, canceled or does not exist"}])
        order.status = "CANCELED"
        venue._report(order, "CANCELED", "CANCELED")
        return ok([{"ordId": str(order.order_id), "clOrdId": order.client_id, "sCode": "0", "sMsg": ""}])

    def push(_: LoopbackVenue, order: LoopbackOrder, kind: str, status: str, trade: LoopbackTrade | None) -> str:
        item = {
            "instType": "SPOT", "instId": order.symbol, "ordId": str(order.order_id), "clOrdId": order.client_id,
            "side": order.side.lower(), "ordType": {"GTC": "limit"}.get(order.tif, order.tif.lower()),
            "px": str(order.price or ""), "sz": str(order.qty), "accFillSz": str(order.filled),
            "state": {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled"}.get(status, "canceled"),
            "tradeId": str(trade.trade_id) if trade else "", "fillSz": str(trade.qty) if trade else "0",
            "fillPx": str(trade.price) if trade else "", "fee": str(-trade.fee) if trade else "0", "feeCcy": "USDT",
            "execType": "T" if trade else "", "fillTime": str(trade.ts_ms) if trade else "",
            "cTime": str(order.ts_ms), "uTime": str(trade.ts_ms if trade else int(time.time() * 1000)),
        }
        return json.dumps({"arg": {"channel": "orders", "instType": "SPOT", "uid": "1"}, "data": [item]})

    venue.stream_frame = push

    async def private_ws(ws: WebSocket) -> None:
        # Login as OKX checks it: known key, passphrase, timestamp within 30 s, signature over
        # timestamp + "GET" + "/users/self/verify"; subscribe only after it.
        await ws.accept()
        if venue.refuse_streams:
            await ws.close(code=1011)
            return
        try:
            login = json.loads(await ws.receive_text())
            args = login["args"][0]
            account = venue.accounts.get(args["apiKey"])
            ts = args["timestamp"]
            expected = base64.b64encode(_hmac(account.secret, f"{ts}GET/users/self/verify")).decode() if account else ""
            good = (login.get("op") == "login" and account is not None and abs(time.time() - int(ts)) <= max_skew_s
                    and hmac.compare_digest(args["passphrase"], account.passphrase)
                    and hmac.compare_digest(expected, args["sign"]))
        except (KeyError, ValueError, IndexError, TypeError):
            good = False
        if not good:
            await ws.send_text(json.dumps({"event": "error", "code": "60009", "msg": "Login failed.", "connId": "lb"}))
            await ws.close()
            return
        await ws.send_text(json.dumps({"event": "login", "code": "0", "msg": "", "connId": "lb"}))
        subscribe = json.loads(await ws.receive_text())
        for arg in subscribe.get("args", []):
            await ws.send_text(json.dumps({"event": "subscribe", "arg": arg, "connId": "lb"}))
        await _pump(ws, venue, lambda text: "pong" if text == "ping" else None)

    return Starlette(routes=[
        WebSocketRoute("/ws/v5/private", private_ws),
        Route("/api/v5/trade/order", place, methods=["POST"]),
        Route("/api/v5/trade/order", get_order, methods=["GET"]),
        Route("/api/v5/trade/fills", fills, methods=["GET"]),
        Route("/api/v5/trade/cancel-order", cancel, methods=["POST"]),
    ])


# ----------------------------------------------------------------------------------- Bybit


def bybit_app(venue: LoopbackVenue) -> Starlette:
    def reply(code: int, msg: str, result: dict | None = None, status: int = 200) -> JSONResponse:
        doc = {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": {}, "time": int(time.time() * 1000)}
        return JSONResponse(doc, status_code=status)

    async def authenticate(request: Request) -> str | JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        account = venue.accounts.get(h.get("X-BAPI-API-KEY", ""))
        if account is None:
            return reply(10003, "API key is invalid.", status=401)
        try:
            ts, window = int(h.get("X-BAPI-TIMESTAMP", "")), int(h.get("X-BAPI-RECV-WINDOW", "5000"))
        except ValueError:
            return reply(10002, "invalid request, please check your server timestamp or recv_window param")
        now = int(time.time() * 1000)
        if not (now - window <= ts < now + 1000):
            return reply(10002, "invalid request, please check your server timestamp or recv_window param")
        body = (await request.body()).decode()
        payload = request.url.query if request.method == "GET" else body
        expected = _hmac(account.secret, f"{ts}{h['X-BAPI-API-KEY']}{window}{payload}").hex()
        if not hmac.compare_digest(expected, h.get("X-BAPI-SIGN", "")):
            return reply(10004, "error sign!", status=401)
        return body

    def status(order: LoopbackOrder) -> str:
        if order.status == "CANCELED" or order.status == "EXPIRED":
            return "PartiallyFilledCanceled" if order.filled else "Cancelled"
        return {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled"}[order.status]

    async def create(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        doc = json.loads(body)
        link_id = doc.get("orderLinkId", "")
        if link_id and venue.by_client_id(link_id) is not None:
            return reply(110072, "OrderLinkedID is duplicate")
        if doc.get("category") != "spot" or doc.get("symbol") not in venue.books:
            return reply(170121, "Invalid symbol.")
        market = doc.get("orderType") == "Market"
        if market and doc.get("marketUnit") != "baseCoin":
            return reply(170130, "Data sent for paramter 'marketUnit' is not valid.")
        tif = "MARKET" if market else doc.get("timeInForce", "GTC")
        price = None if market else Decimal(doc["price"])
        order = venue.place(link_id, doc["symbol"], doc["side"].upper(), Decimal(doc["qty"]), price, tif)
        if venue.lose_reply():
            return reply(10016, "Internal server error.", status=503)
        return reply(0, "OK", {"orderId": str(order.order_id), "orderLinkId": link_id})

    async def realtime(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        order = venue.by_client_id(request.query_params.get("orderLinkId", ""))
        rows = [] if order is None else [{
            "orderId": str(order.order_id), "orderLinkId": order.client_id, "symbol": order.symbol,
            "orderStatus": status(order), "qty": str(order.qty), "cumExecQty": str(order.filled)}]
        return reply(0, "OK", {"category": "spot", "list": rows})

    async def executions(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        order = venue.by_order_id(int(request.query_params.get("orderId", "0")))
        rows = [] if order is None else [
            {"symbol": order.symbol, "orderId": str(t.order_id), "orderLinkId": order.client_id,
             "execId": str(t.trade_id), "execPrice": str(t.price), "execQty": str(t.qty), "execFee": str(t.fee),
             "feeCurrency": "USDT", "isMaker": False, "execTime": str(t.ts_ms)}
            for t in venue.trades if t.order_id == order.order_id
        ]
        return reply(0, "OK", {"category": "spot", "list": rows})

    async def cancel(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        order = venue.by_order_id(int(json.loads(body).get("orderId") or 0))
        if order is None or not order.is_open:
            return reply(170213, "Order does not exist.")
        order.status = "CANCELED"
        venue._report(order, "CANCELED", "CANCELED")
        return reply(0, "OK", {"orderId": str(order.order_id), "orderLinkId": order.client_id})

    def push(_: LoopbackVenue, order: LoopbackOrder, kind: str, status_: str, trade: LoopbackTrade | None) -> str:
        now = int(time.time() * 1000)
        if trade is not None:  # fills go on `execution`
            return json.dumps({"topic": "execution", "id": f"lb-{trade.trade_id}", "creationTime": now, "data": [{
                "category": "spot", "symbol": order.symbol, "orderId": str(order.order_id),
                "orderLinkId": order.client_id, "side": order.side.title(), "execId": str(trade.trade_id),
                "execPrice": str(trade.price), "execQty": str(trade.qty), "execFee": str(trade.fee),
                "feeCurrency": "USDT", "execType": "Trade", "isMaker": False, "execTime": str(trade.ts_ms)}]})
        word = {"NEW": "New", "PARTIALLY_FILLED": "PartiallyFilled", "FILLED": "Filled"}.get(
            status_, "PartiallyFilledCanceled" if order.filled else "Cancelled")
        return json.dumps({"topic": "order", "id": f"lb-{order.order_id}-{kind}", "creationTime": now, "data": [{
            "category": "spot", "symbol": order.symbol, "orderId": str(order.order_id), "orderLinkId": order.client_id,
            "side": order.side.title(), "orderStatus": word, "qty": str(order.qty), "cumExecQty": str(order.filled),
            "leavesQty": str(order.qty - order.filled if word in ("New", "PartiallyFilled") else 0),
            "createdTime": str(order.ts_ms), "updatedTime": str(now)}]})

    venue.stream_frame = push

    async def private_ws(ws: WebSocket) -> None:
        # Auth as Bybit checks it: known key, `expires` in the future, hex HMAC over "GET/realtime" + expires.
        await ws.accept()
        if venue.refuse_streams:
            await ws.close(code=1011)
            return
        try:
            auth = json.loads(await ws.receive_text())
            api_key, expires, signature = auth["args"]
            account = venue.accounts.get(api_key)
            good = (auth.get("op") == "auth" and account is not None and int(expires) > time.time() * 1000
                    and hmac.compare_digest(_hmac(account.secret, f"GET/realtime{expires}").hex(), signature))
        except (KeyError, ValueError, TypeError):
            good = False
        await ws.send_text(json.dumps({"op": "auth", "success": good, "retCode": 0 if good else 10004,
                                       "retMsg": "" if good else "Invalid sign", "connId": "lb"}))
        if not good:
            await ws.close()
            return
        subscribe = json.loads(await ws.receive_text())
        await ws.send_text(json.dumps({"op": "subscribe", "success": True, "ret_msg": "", "req_id": subscribe.get(
            "req_id", ""), "connId": "lb"}))
        await _pump(ws, venue, lambda text: json.dumps({"op": "pong"}) if json.loads(text).get("op") == "ping" else None)

    return Starlette(routes=[
        WebSocketRoute("/v5/private", private_ws),
        Route("/v5/order/create", create, methods=["POST"]),
        Route("/v5/order/realtime", realtime, methods=["GET"]),
        Route("/v5/execution/list", executions, methods=["GET"]),
        Route("/v5/order/cancel", cancel, methods=["POST"]),
    ])


# ----------------------------------------------------------------------------------- Hyperliquid


def hyperliquid_app(venue: LoopbackVenue, is_mainnet: bool = True) -> Starlette:
    """Accounts are keyed by (lower-case) address; the signer recovered from each action must be
    one of them. Books are keyed by coin; `meta` lists them in `books` order as asset ids."""
    used_nonces: set[tuple[str, int]] = set()

    def coins() -> list[str]:
        return list(venue.books)

    def err(text: str) -> JSONResponse:
        return JSONResponse({"status": "err", "response": text})

    def ok(kind: str, statuses: list) -> JSONResponse:
        return JSONResponse({"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}})

    async def exchange(request: Request) -> JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        doc = json.loads(await request.body())
        action, nonce = doc["action"], int(doc["nonce"])
        try:
            signer = signing_hl.recover_l1_signer(action, doc.get("vaultAddress"), nonce, doc.get("expiresAfter"),
                                                  is_mainnet, doc["signature"]).lower()
        except (KeyError, ValueError):
            return err("Invalid signature")
        if signer not in venue.accounts:
            return err(f"User or API Wallet {signer} does not exist.")
        now = int(time.time() * 1000)
        if not now - 2 * 86_400_000 < nonce < now + 86_400_000 or (signer, nonce) in used_nonces:
            return err(f"Invalid nonce: duplicate or out of range ({nonce})")
        used_nonces.add((signer, nonce))
        if action.get("type") == "cancel":
            statuses: list = []
            for cancel in action["cancels"]:
                order = venue.by_order_id(int(cancel["o"]))
                if order is None or not order.is_open:
                    statuses.append({"error": "Order was never placed, already canceled, or filled."})
                else:
                    order.status = "CANCELED"
                    statuses.append("success")
            return ok("cancel", statuses)
        if action.get("type") != "order":
            return err(f"unsupported action {action.get('type')}")
        statuses = []
        for wire in action["orders"]:
            cloid = wire.get("c", "")
            if cloid and venue.by_client_id(cloid) is not None:
                statuses.append({"error": "Duplicate cloid"})
                continue
            coin = coins()[int(wire["a"])] if int(wire["a"]) < len(coins()) else None
            if coin is None:
                statuses.append({"error": "Invalid asset"})
                continue
            tif = {"Gtc": "GTC", "Alo": "GTC", "Ioc": "IOC"}[wire["t"]["limit"]["tif"]]
            order = venue.place(cloid, coin, "BUY" if wire["b"] else "SELL", Decimal(wire["s"]), Decimal(wire["p"]), tif)
            if venue.lose_reply():
                return JSONResponse({"error": "gateway timeout"}, status_code=503)
            if tif == "IOC" and not order.filled:
                del venue.orders[order.order_id]  # an IOC that matched nothing is not an order
                text = f"Order could not immediately match against any resting orders. asset={wire['a']}"
                statuses.append({"error": text})
            elif order.is_open:
                statuses.append({"resting": {"oid": order.order_id, "cloid": cloid}})
            else:
                statuses.append({"filled": {"totalSz": str(order.filled), "oid": order.order_id, "cloid": cloid}})
        return ok("order", statuses)

    def order_doc(order: LoopbackOrder) -> dict:
        status = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "filled"}.get(order.status, "canceled")
        return {"order": {"coin": order.symbol, "side": "B" if order.side == "BUY" else "A",
                          "limitPx": str(order.price), "sz": str(order.qty - order.filled), "oid": order.order_id,
                          "timestamp": order.ts_ms, "origSz": str(order.qty), "cloid": order.client_id},
                "status": status, "statusTimestamp": order.ts_ms}

    async def info(request: Request) -> JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        doc = json.loads(await request.body())
        kind = doc.get("type")
        if kind == "meta":
            if venue.failing_meta > 0:
                venue.failing_meta -= 1
                return JSONResponse({"error": "bad gateway"}, status_code=502)
            return JSONResponse({"universe": [{"name": coin, "szDecimals": 5, "maxLeverage": 40} for coin in coins()]})
        if doc.get("user", "").lower() not in venue.accounts:
            return JSONResponse([] if kind == "userFills" else {"status": UNKNOWN_OID})
        if kind == "orderStatus":
            oid = doc.get("oid")
            order = venue.by_client_id(oid) if isinstance(oid, str) else venue.by_order_id(int(oid))
            found = {"status": UNKNOWN_OID} if order is None else {"status": "order", "order": order_doc(order)}
            return JSONResponse(found)
        if kind == "userFills":
            return JSONResponse([
                {"coin": venue.orders[t.order_id].symbol, "px": str(t.price), "sz": str(t.qty),
                 "side": "B" if venue.orders[t.order_id].side == "BUY" else "A", "time": t.ts_ms, "oid": t.order_id,
                 "tid": t.trade_id, "crossed": True, "fee": str(t.fee), "feeToken": "USDC",
                 "cloid": venue.orders[t.order_id].client_id, "hash": "0x" + "0" * 64}
                for t in venue.trades if t.order_id in venue.orders
            ])
        return JSONResponse({"error": f"unknown info type {kind}"}, status_code=422)

    return Starlette(routes=[
        Route("/exchange", exchange, methods=["POST"]),
        Route("/info", info, methods=["POST"]),
    ])


# ----------------------------------------------------------------------------------- BitMart


def bitmart_app(venue: LoopbackVenue, max_skew_ms: int = 60_000) -> Starlette:
    """BitMart spot: signed JSON POSTs (`timestamp#memo#body`; the account's passphrase is its memo)."""

    def reply(code: int, message: str, data: object = None, status: int = 200) -> JSONResponse:
        doc = {"code": code, "message": message, "trace": "loopback", "data": {} if data is None else data}
        return JSONResponse(doc, status_code=status)

    async def authenticate(request: Request) -> dict | JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        account = venue.accounts.get(h.get("X-BM-KEY", ""))
        if account is None:
            return reply(30002, "Header X-BM-KEY not found", status=401)
        try:
            ts = int(h.get("X-BM-TIMESTAMP", ""))
        except ValueError:
            return reply(30008, "Header X-BM-TIMESTAMP invalid format", status=401)
        if abs(int(time.time() * 1000) - ts) > max_skew_ms:
            return reply(30007, "Header X-BM-TIMESTAMP range. Within a minute", status=401)
        body = (await request.body()).decode()
        expected = _hmac(account.secret, f"{ts}#{account.passphrase}#{body}").hex()
        if not hmac.compare_digest(expected, h.get("X-BM-SIGN", "")):
            return reply(30005, "Header X-BM-SIGN is wrong", status=401)
        doc = json.loads(body or "{}")
        return doc if isinstance(doc, dict) else reply(50000, "Bad Request", status=400)

    def state(order: LoopbackOrder) -> str:
        if order.status in ("CANCELED", "EXPIRED"):
            return "partially_canceled" if order.filled else "canceled"
        return order.status.lower()

    async def submit(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        client_id = str(doc.get("client_order_id", ""))
        if client_id and venue.by_client_id(client_id) is not None:
            return reply(50042, "clientOrderId is duplicate", status=400)
        if doc.get("symbol") not in venue.books:
            return reply(50001, "Symbol not found", status=400)
        kind, side = doc.get("type"), str(doc.get("side", "")).upper()
        if kind == "market" and side == "BUY":
            return reply(50012, "RequestParam notional is required", status=400)
        tif = {"limit": "GTC", "ioc": "IOC", "market": "MARKET"}.get(str(kind))
        if tif is None or side not in ("BUY", "SELL"):
            return reply(50021, "Invalid type", status=400)
        price = None if kind == "market" else Decimal(doc["price"])
        order = venue.place(client_id, doc["symbol"], side, Decimal(doc["size"]), price, tif)
        if venue.lose_reply():
            return reply(59002, "Internal Server Error", status=503)
        return reply(1000, "OK", {"order_id": str(order.order_id)})

    async def client_order(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        order = venue.by_client_id(str(doc.get("clientOrderId", "")))
        if order is None:
            return reply(50005, "Order Id not found", status=400)
        return reply(1000, "success", {
            "orderId": str(order.order_id), "clientOrderId": order.client_id, "symbol": order.symbol,
            "side": order.side.lower(), "orderMode": "spot", "state": state(order), "size": str(order.qty),
            "filledSize": str(order.filled), "createTime": order.ts_ms, "updateTime": order.ts_ms})

    async def order_trades(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        order = venue.by_order_id(int(doc.get("orderId") or 0))
        rows = [] if order is None else [
            {"tradeId": str(t.trade_id), "orderId": str(t.order_id), "clientOrderId": order.client_id,
             "symbol": order.symbol, "side": order.side.lower(), "orderMode": "spot", "price": str(t.price),
             "size": str(t.qty), "notional": str(t.price * t.qty), "fee": str(t.fee), "feeCoinName": "USDT",
             "tradeRole": "taker", "createTime": t.ts_ms, "updateTime": t.ts_ms}
            for t in venue.trades if t.order_id == order.order_id
        ]
        return reply(1000, "success", rows)

    async def cancel(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        order = venue.by_order_id(int(doc.get("order_id") or 0))
        if order is None or order.symbol != doc.get("symbol"):
            return reply(50005, "Order Id not found", status=400)
        if not order.is_open:
            return reply(50032, "The order was matched or cancelled", status=400)
        order.status = "CANCELED"
        return reply(1000, "OK", {"result": True})

    return Starlette(routes=[
        Route("/spot/v2/submit_order", submit, methods=["POST"]),
        Route("/spot/v4/query/client-order", client_order, methods=["POST"]),
        Route("/spot/v4/query/order-trades", order_trades, methods=["POST"]),
        Route("/spot/v3/cancel_order", cancel, methods=["POST"]),
    ])


APPS = {
    "binance": binance_app, "okx": okx_app, "bybit": bybit_app, "bitmart": bitmart_app,
    "hyperliquid": hyperliquid_app,
}


def serve_venue(name: str, venue: LoopbackVenue) -> ASGIApp:
    """The loopback server of venue `name`, behind the rate limits `venue.limits` (none by default)."""
    return RateLimited(venue, APPS[name](venue))


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
