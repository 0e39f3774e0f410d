"""The local Bybit v5 private order server (see services/edges/live/loopback.py for the shared
book, accounts and fault switches, and how tests serve it)."""

from __future__ import annotations

import hmac
import json
import time
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue, hmac_sha256, pump


def bybit_app(venue: LoopbackVenue, linear: LoopbackVenue | None = None) -> Starlette:
    """`category=spot` on `venue`, `category=linear` on `linear` (books keyed by the same names,
    e.g. BTCUSDT, so kept apart; default: `venue` itself, when a test needs only one)."""
    markets = {"spot": venue, "linear": venue if linear is None else linear}

    def reply(code: int, msg: str, result: dict | None = None, status: int = 200) -> JSONResponse:
        doc = {"retCode": code, "retMsg": msg, "result": result or {}, "retExtInfo": {}, "time": venue.now_ms()}
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
        now = venue.now_ms()
        if not (now - window <= ts < now + 1000):
            return reply(10002, "invalid request, please check your server timestamp or recv_window param")
        body = (await request.body()).decode()
        payload = request.url.query if request.method == "GET" else body
        expected = hmac_sha256(account.secret, f"{ts}{h['X-BAPI-API-KEY']}{window}{payload}").hex()
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
        category = doc.get("category")
        book = markets.get(category, venue)
        if link_id and book.by_client_id(link_id) is not None:
            return reply(110072, "OrderLinkedID is duplicate")
        if category not in markets or doc.get("symbol") not in book.books:
            return reply(170121, "Invalid symbol.")
        market = doc.get("orderType") == "Market"
        if market and category == "spot" and doc.get("marketUnit") != "baseCoin":
            return reply(170130, "Data sent for paramter 'marketUnit' is not valid.")
        tif = "MARKET" if market else doc.get("timeInForce", "GTC")
        price = None if market else Decimal(doc["price"])
        order = book.place(link_id, doc["symbol"], doc["side"].upper(), Decimal(doc["qty"]), price, tif)
        if book.lose_reply():
            return reply(10016, "Internal server error.", status=503)
        if book.hold_reply():
            await book.release.wait()  # executed; the client times out meanwhile
        return reply(0, "OK", {"orderId": str(order.order_id), "orderLinkId": link_id})

    async def realtime(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        category = request.query_params.get("category", "")
        order = markets.get(category, venue).by_client_id(request.query_params.get("orderLinkId", ""))
        rows = [] if order is None else [{
            "orderId": str(order.order_id), "orderLinkId": order.client_id, "symbol": order.symbol,
            "orderStatus": status(order), "qty": str(order.qty), "cumExecQty": str(order.filled)}]
        return reply(0, "OK", {"category": category, "list": rows})

    async def executions(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        category = request.query_params.get("category", "")
        book = markets.get(category, venue)
        order = book.by_order_id(int(request.query_params.get("orderId", "0")))
        rows = [] if order is None else [
            {"symbol": order.symbol, "orderId": str(t.order_id), "orderLinkId": order.client_id,
             "execId": str(t.trade_id), "execPrice": str(t.price), "execQty": str(t.qty), "execFee": str(t.fee),
             "feeCurrency": "USDT", "isMaker": False, "execTime": str(t.ts_ms)}
            for t in book.trades if t.order_id == order.order_id
        ]
        return reply(0, "OK", {"category": category, "list": book.as_listed(rows)})

    async def cancel(request: Request) -> JSONResponse:
        body = await authenticate(request)
        if isinstance(body, JSONResponse):
            return body
        doc = json.loads(body)
        market = markets.get(doc.get("category"), venue)
        order = market.by_order_id(int(doc.get("orderId") or 0))
        if order is None or not order.is_open:
            return reply(170213, "Order does not exist.")
        order.status = "CANCELED"
        market._report(order, "CANCELED", "CANCELED")
        return reply(0, "OK", {"orderId": str(order.order_id), "orderLinkId": order.client_id})

    async def server_time(request: Request) -> JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        now_ms = venue.now_ms()
        return reply(0, "OK", {"timeSecond": str(now_ms // 1000), "timeNano": str(now_ms * 1_000_000)})

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
            good = (auth.get("op") == "auth" and account is not None and int(expires) > venue.now_ms()
                    and hmac.compare_digest(hmac_sha256(account.secret, f"GET/realtime{expires}").hex(), signature))
        except (KeyError, ValueError, TypeError):
            good = False
        await ws.send_text(json.dumps({"op": "auth", "success": good, "retCode": 0 if good else 10004,
                                       "retMsg": "" if good else "Invalid sign", "connId": "lb"}))
        if not good:
            await ws.close()
            return
        subscribe = json.loads(await ws.receive_text())
        await ws.send_text(json.dumps({"op": "subscribe", "success": True, "ret_msg": "",
                                       "req_id": subscribe.get("req_id", ""), "connId": "lb"}))
        await pump(ws, venue, lambda text: json.dumps({"op": "pong"}) if json.loads(text).get("op") == "ping" else None)

    return Starlette(routes=[
        WebSocketRoute("/v5/private", private_ws),
        Route("/v5/market/time", server_time, methods=["GET"]),
        Route("/v5/order/create", create, methods=["POST"]),
        Route("/v5/order/realtime", realtime, methods=["GET"]),
        Route("/v5/execution/list", executions, methods=["GET"]),
        Route("/v5/order/cancel", cancel, methods=["POST"]),
    ])
