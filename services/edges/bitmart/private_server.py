"""The local BitMart spot private order server (see services/edges/live/loopback.py for the shared
book, accounts and fault switches, and how tests serve it)."""

from __future__ import annotations

import hmac
import json
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.live.loopback import hmac_sha256, LoopbackOrder, LoopbackVenue


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
        if abs(venue.now_ms() - ts) > max_skew_ms:
            return reply(30007, "Header X-BM-TIMESTAMP range. Within a minute", status=401)
        body = (await request.body()).decode()
        expected = hmac_sha256(account.secret, f"{ts}#{account.passphrase}#{body}").hex()
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
        if venue.hold_reply():
            await venue.release.wait()  # executed; the client times out meanwhile
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
        return reply(1000, "success", venue.as_listed(rows))

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
