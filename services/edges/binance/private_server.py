"""The local Binance spot private order server (see services/edges/live/loopback.py for the shared
book, accounts and fault switches, and how tests serve it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue, hmac_sha256, pump


def _split_signature(params: str) -> tuple[str, str]:
    if params.startswith("signature="):
        return "", params[len("signature="):]
    head, sep, signature = params.rpartition("&signature=")
    return (head, signature) if sep else (params, "")


def binance_app(venue: LoopbackVenue, recv_window_max_ms: int = 60_000, usdm: LoopbackVenue | None = None) -> Starlette:
    """Spot (/api/v3) on `venue`, USD-M futures (/fapi/v1) on `usdm` (its own account and books,
    as at Binance; default: `venue` itself, when a test needs only one of them)."""
    futures = venue if usdm is None else usdm

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
        now = venue.now_ms()
        if window > recv_window_max_ms or not (ts - 1000 <= now < ts + window):
            return error(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        if not hmac.compare_digest(hmac_sha256(account.secret, total).hex(), signature):
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
        if venue.late_order():
            await venue.arrive.wait()  # still on its way: the venue has no such order meanwhile
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

    # --- USD-M futures: a RESULT reply (no fills), -4116 for a reused client id, userTrades.
    def futures_doc(order: LoopbackOrder) -> dict[str, object]:
        quote = sum((t.price * t.qty for t in futures.trades if t.order_id == order.order_id), Decimal(0))
        return {
            "orderId": order.order_id, "symbol": order.symbol, "status": order.status,
            "clientOrderId": order.client_id, "price": str(order.price or Decimal(0)),
            "avgPrice": str(quote / order.filled if order.filled else Decimal(0)), "origQty": str(order.qty),
            "executedQty": str(order.filled), "cumQuote": str(quote),
            "timeInForce": "GTC" if order.tif == "MARKET" else order.tif,
            "type": "MARKET" if order.tif == "MARKET" else "LIMIT", "reduceOnly": False, "closePosition": False,
            "side": order.side, "positionSide": "BOTH", "origType": "MARKET" if order.tif == "MARKET" else "LIMIT",
            "time": order.ts_ms, "updateTime": order.ts_ms,
        }

    async def futures_new_order(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        client_id = params.get("newClientOrderId", "")
        if futures.by_client_id(client_id) is not None:
            return error(400, -4116, "ClientOrderId is duplicated.")
        if params.get("symbol") not in futures.books:
            return error(400, -1121, "Invalid symbol.")
        kind = params.get("type")
        tif = "MARKET" if kind == "MARKET" else params.get("timeInForce", "")
        if kind not in ("MARKET", "LIMIT") or tif not in ("MARKET", "GTC", "IOC", "FOK", "GTX"):
            return error(400, -1116, "Invalid orderType.")
        price = Decimal(params["price"]) if kind == "LIMIT" else None
        order = futures.place(client_id, params["symbol"], params["side"], Decimal(params["quantity"]), price,
                              "GTC" if tif == "GTX" else tif)
        if futures.lose_reply():
            return error(503, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                                     "execution status unknown.")
        if futures.hold_reply():
            await futures.release.wait()
        return JSONResponse(futures_doc(order))

    async def futures_query_order(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        order = futures.by_client_id(params.get("origClientOrderId", ""))
        if order is None:
            return error(400, -2013, "Order does not exist.")
        if request.method == "DELETE":
            if not order.is_open:
                return error(400, -2011, "Unknown order sent.")
            order.status = "CANCELED"
        return JSONResponse(futures_doc(order))

    async def futures_trades(request: Request) -> JSONResponse:
        params = await authenticate(request)
        if isinstance(params, JSONResponse):
            return params
        order_id = int(params.get("orderId", "0"))
        futures.by_order_id(order_id)
        rows = [
            {"symbol": futures.orders[t.order_id].symbol, "id": t.trade_id, "orderId": t.order_id,
             "side": futures.orders[t.order_id].side, "price": str(t.price), "qty": str(t.qty),
             "quoteQty": str(t.price * t.qty), "realizedPnl": "0", "commission": str(t.fee),
             "commissionAsset": "USDT", "time": t.ts_ms, "positionSide": "BOTH", "maker": False,
             "buyer": futures.orders[t.order_id].side == "BUY"}
            for t in futures.trades if t.order_id == order_id
        ]
        return JSONResponse([row for row in rows for _ in range(2 if futures.duplicate_fills else 1)])

    async def server_time(request: Request) -> JSONResponse:
        """Public: the venue's clock (a client whose requests fall outside recvWindow syncs to it)."""
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        return JSONResponse({"serverTime": venue.now_ms()})

    async def user_data_stream(request: Request) -> JSONResponse:
        # API key only, no signature (Binance's USER_STREAM security type).
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        api_key = request.headers.get("X-MBX-APIKEY", "")
        if api_key not in venue.accounts:
            return error(401, -2015, "Invalid API-key, IP, or permissions for action.")
        if request.method == "POST":
            key = base64.urlsafe_b64encode(hashlib.sha256(f"{api_key}:{len(venue.listen_keys)}".encode()).digest())
            venue.listen_keys[key.decode()[:60]] = api_key
            return JSONResponse({"listenKey": key.decode()[:60]})
        if venue.listen_keys.get(request.query_params.get("listenKey", "")) != api_key:
            return error(400, -1125, "This listenKey does not exist.")
        return JSONResponse({})

    async def user_stream(ws: WebSocket) -> None:
        if venue.refuse_streams or ws.path_params["key"] not in venue.listen_keys:
            await ws.close(code=1008)
            return
        await ws.accept()
        await pump(ws, venue)

    venue.stream_frame = execution_report

    return Starlette(routes=[
        Route("/api/v3/userDataStream", user_data_stream, methods=["POST", "PUT"]),
        WebSocketRoute("/ws/{key}", user_stream),
        Route("/api/v3/time", server_time, methods=["GET"]),
        Route("/fapi/v1/time", server_time, methods=["GET"]),
        Route("/fapi/v1/order", futures_new_order, methods=["POST"]),
        Route("/fapi/v1/order", futures_query_order, methods=["GET", "DELETE"]),
        Route("/fapi/v1/userTrades", futures_trades, methods=["GET"]),
        Route("/api/v3/order", new_order, methods=["POST"]),
        Route("/api/v3/order", query_order, methods=["GET", "DELETE"]),
        Route("/api/v3/myTrades", my_trades, methods=["GET"]),
        Route("/api/v3/account", account, methods=["GET"]),
        Route("/api/v3/openOrders", open_orders, methods=["GET"]),
    ])


def execution_report(venue: LoopbackVenue, order: LoopbackOrder, kind: str, status: str,
                     trade: LoopbackTrade | None) -> str | None:
    """An executionReport as Binance pushes it on the spot user-data stream. (A server whose
    USD-M orders share the spot state, `usdm=None`, pushes those too; Binance would not.)"""
    now = trade.ts_ms if trade is not None else int(time.time() * 1000)
    quote = sum((t.price * t.qty for t in venue.trades if t.order_id == order.order_id), Decimal(0))
    return json.dumps({
        "e": "executionReport", "E": now, "s": order.symbol, "c": order.client_id, "S": order.side,
        "o": "MARKET" if order.tif == "MARKET" else "LIMIT", "f": "GTC" if order.tif == "MARKET" else order.tif,
        "q": str(order.qty), "p": str(order.price or Decimal(0)), "P": "0.00000000", "C": "", "x": kind,
        "X": status, "r": "NONE", "i": order.order_id, "l": str(trade.qty if trade else Decimal(0)),
        "z": str(order.filled), "L": str(trade.price if trade else Decimal(0)),
        "n": str(trade.fee) if trade else "0", "N": "USDT" if trade else None, "T": now,
        "t": trade.trade_id if trade else -1, "w": status in ("NEW", "PARTIALLY_FILLED"), "m": False,
        "O": order.ts_ms, "Z": str(quote),
    })
