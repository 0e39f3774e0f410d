"""The local OKX v5 private order server (see services/edges/live/loopback.py for the shared
book, accounts and fault switches, and how tests serve it)."""

from __future__ import annotations

import base64
import hmac
import json
import time
from datetime import datetime
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue, hmac_sha256, pump


SWAP_LOT = Decimal("0.01")  # contracts per lot of every local swap (OKX's BTC-USDT-SWAP lot)


def okx_app(venue: LoopbackVenue, max_skew_s: int = 30) -> Starlette:
    """Spot instruments and linear swaps (`<BASE>-<QUOTE>-SWAP` books, sized and matched in
    contracts of `venue.contract_values[instId]` base coins each)."""

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
        if abs(venue.now_ms() / 1000 - sent) > max_skew_s:
            return error(401, "50102", "Timestamp request expired")
        if not hmac.compare_digest(h["OK-ACCESS-PASSPHRASE"], account.passphrase):
            return error(401, "50105", "Invalid OK-ACCESS-PASSPHRASE")
        body = (await request.body()).decode()
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        expected = base64.b64encode(hmac_sha256(account.secret, h["OK-ACCESS-TIMESTAMP"] + request.method + target + body))
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
        swap = doc["instId"].endswith("-SWAP")
        tif = {"market": "MARKET", "limit": "GTC", "ioc": "IOC", "fok": "FOK"}.get(kind)
        spot_market_in_quote = not swap and kind == "market" and doc.get("tgtCcy") != "base_ccy"
        margin_mode_wrong = doc.get("tdMode") not in (("cross", "isolated") if swap else ("cash",))
        if tif is None or spot_market_in_quote or margin_mode_wrong:
            return error(200, "1", "All operations failed", [{**item, "sCode": "51000", "sMsg": "Parameter error"}])
        if swap and Decimal(doc["sz"]) % SWAP_LOT:
            return error(200, "1", "All operations failed",
                         [{**item, "sCode": "51121", "sMsg": "Order quantity must be a multiple of the lot size."}])
        price = None if kind == "market" else Decimal(doc["px"])
        order = venue.place(client_id, doc["instId"], doc["side"].upper(), Decimal(doc["sz"]), price, tif)
        if venue.lose_reply():
            return error(503, "50001", "Service temporarily unavailable, please try again later")
        if venue.hold_reply():
            await venue.release.wait()  # executed; the client times out meanwhile
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
        return ok(venue.as_listed([
            {"instId": venue.orders[t.order_id].symbol, "tradeId": str(t.trade_id), "ordId": str(t.order_id),
             "clOrdId": venue.orders[t.order_id].client_id, "fillPx": str(t.price), "fillSz": str(t.qty),
             "side": venue.orders[t.order_id].side.lower(), "execType": "T", "fee": str(-t.fee), "feeCcy": "USDT",
             "ts": str(t.ts_ms)}
            for t in venue.trades if t.order_id == order_id
        ]))

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

    async def instruments(request: Request) -> JSONResponse:
        """Public (unsigned): the linear swaps with their contract values."""
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        if request.query_params.get("instType") != "SWAP":
            return error(400, "51000", "Parameter instType error")
        return ok([
            {"instType": "SWAP", "instId": inst_id, "ctType": "linear", "ctVal": str(venue.contract_values[inst_id]),
             "ctValCcy": inst_id.split("-")[0], "ctMult": "1", "lotSz": str(SWAP_LOT), "minSz": str(SWAP_LOT),
             "tickSz": "0.1", "settleCcy": inst_id.split("-")[1], "state": "live"}
            for inst_id in venue.books if inst_id.endswith("-SWAP") and inst_id in venue.contract_values
        ])

    async def server_time(request: Request) -> JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        return ok([{"ts": str(venue.now_ms())}])

    def push(_: LoopbackVenue, order: LoopbackOrder, kind: str, status: str, trade: LoopbackTrade | None) -> str:
        swap = order.symbol.endswith("-SWAP")
        item = {
            "instType": "SWAP" if swap else "SPOT", "instId": order.symbol, "ordId": str(order.order_id),
            "clOrdId": order.client_id, "side": order.side.lower(),
            "ordType": {"GTC": "limit"}.get(order.tif, order.tif.lower()), "px": str(order.price or ""),
            "sz": str(order.qty), "accFillSz": str(order.filled),
            "state": {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled"}.get(status, "canceled"),
            "tradeId": str(trade.trade_id) if trade else "", "fillSz": str(trade.qty) if trade else "0",
            "fillPx": str(trade.price) if trade else "", "fee": str(-trade.fee) if trade else "0", "feeCcy": "USDT",
            "execType": "T" if trade else "", "fillTime": str(trade.ts_ms) if trade else "",
            "cTime": str(order.ts_ms), "uTime": str(trade.ts_ms if trade else int(time.time() * 1000)),
        }
        return json.dumps({"arg": {"channel": "orders", "instType": "ANY", "uid": "1"}, "data": [item]})

    venue.stream_frame = push

    async def private_ws(ws: WebSocket) -> None:
        # Login as OKX checks it: known key, passphrase, timestamp within the skew, signature over
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
            expected = base64.b64encode(hmac_sha256(account.secret, f"{ts}GET/users/self/verify")).decode() if account else ""
            good = (login.get("op") == "login" and account is not None
                    and abs(venue.now_ms() / 1000 - int(ts)) <= max_skew_s
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
        await pump(ws, venue, lambda text: "pong" if text == "ping" else None)

    return Starlette(routes=[
        WebSocketRoute("/ws/v5/private", private_ws),
        Route("/api/v5/public/time", server_time, methods=["GET"]),
        Route("/api/v5/public/instruments", instruments, methods=["GET"]),
        Route("/api/v5/trade/order", place, methods=["POST"]),
        Route("/api/v5/trade/order", get_order, methods=["GET"]),
        Route("/api/v5/trade/fills", fills, methods=["GET"]),
        Route("/api/v5/trade/cancel-order", cancel, methods=["POST"]),
    ])
