"""A local Bitget v2 spot private REST API, checking auth as Bitget does.

`ACCESS-KEY` known; `ACCESS-TIMESTAMP` (ms) within `max_skew_ms` of the server clock;
`ACCESS-PASSPHRASE` the key's passphrase; `ACCESS-SIGN` recomputed over timestamp + METHOD +
path (+ `?query`) + body as received. Refusals are Bitget's `{"code", "msg", "requestTime",
"data": null}` with HTTP 400 (codes [verify]: 40006 key, 40008 timestamp, 40011 passphrase,
40009 signature). Books are keyed by Bitget symbol (`BTCUSDT`); fees are in the quote coin.
"""

from __future__ import annotations

import hmac
import json
import time
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.bitget import signing
from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue


def bitget_app(venue: LoopbackVenue, max_skew_ms: int = 30_000) -> Starlette:
    """`venue.accounts`: API key -> Account(secret, passphrase); `venue.assets` names each
    symbol's (base, quote) for the fee coin (quote)."""

    def reply(code: str, msg: str, data: object = None, status: int = 200) -> JSONResponse:
        return JSONResponse({"code": code, "msg": msg, "requestTime": int(time.time() * 1000), "data": data},
                            status_code=status)

    async def authenticate(request: Request) -> dict | JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        account = venue.accounts.get(h.get("ACCESS-KEY", ""))
        if account is None:
            return reply("40006", "Invalid ACCESS_KEY", status=400)
        ts = h.get("ACCESS-TIMESTAMP", "")
        if not ts.isdigit() or abs(int(time.time() * 1000) - int(ts)) > max_skew_ms:
            return reply("40008", "Invalid ACCESS_TIMESTAMP", status=400)
        if h.get("ACCESS-PASSPHRASE", "") != account.passphrase:
            return reply("40011", "Invalid ACCESS_PASSPHRASE", status=400)
        body = (await request.body()).decode()
        expected = signing.sign(account.secret, ts, request.method, request.url.path, request.url.query, body)
        if not hmac.compare_digest(expected, h.get("ACCESS-SIGN", "")):
            return reply("40009", "sign signature error", status=400)
        doc = json.loads(body) if body else dict(request.query_params)
        return doc if isinstance(doc, dict) else reply("40019", "Parameter cannot be empty", status=400)

    def status(order: LoopbackOrder) -> str:
        return {"NEW": "live", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled", "CANCELED": "cancelled",
                "EXPIRED": "cancelled"}[order.status]

    def quote(order: LoopbackOrder) -> str:
        return venue.assets.get(order.symbol, ("", "USDT"))[1]

    def order_doc(order: LoopbackOrder) -> dict[str, object]:
        trades = [t for t in venue.trades if t.order_id == order.order_id]
        value = sum((t.price * t.qty for t in trades), Decimal(0))
        return {
            "userId": "loopback", "symbol": order.symbol, "orderId": str(order.order_id), "clientOid": order.client_id,
            "price": str(order.price or 0), "size": str(order.qty),
            "orderType": "market" if order.tif == "MARKET" else "limit", "side": order.side.lower(),
            "status": status(order), "priceAvg": str(value / order.filled if order.filled else 0),
            "baseVolume": str(order.filled), "quoteVolume": str(value), "enterPointSource": "API",
            "orderSource": "normal", "cTime": str(order.ts_ms), "uTime": str(order.ts_ms),
        }

    def fill_doc(order: LoopbackOrder, t: LoopbackTrade) -> dict[str, object]:
        return {
            "userId": "loopback", "symbol": order.symbol, "orderId": str(order.order_id), "tradeId": str(t.trade_id),
            "orderType": "market" if order.tif == "MARKET" else "limit", "side": order.side.lower(),
            "priceAvg": str(t.price), "size": str(t.qty), "amount": str(t.price * t.qty),
            "feeDetail": {"deduction": "no", "feeCoin": quote(order), "totalDeductionFee": "0",
                          "totalFee": str(-t.fee)},
            "tradeScope": "taker" if t.ts_ms == order.ts_ms else "maker", "cTime": str(t.ts_ms), "uTime": str(t.ts_ms),
        }

    async def place(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        client_id = str(doc.get("clientOid", ""))
        if client_id and venue.by_client_id(client_id) is not None:
            return reply("43118", "clientOid duplicate", status=400)
        if doc.get("symbol") not in venue.books:
            return reply("40034", "Parameter symbol does not exist", status=400)
        kind, side = doc.get("orderType"), str(doc.get("side", ""))
        if kind == "market" and side == "buy":
            return reply("40019", "market buy is sized in quote: not served here", status=400)
        tif = "MARKET" if kind == "market" else {"gtc": "GTC", "ioc": "IOC", "fok": "FOK"}.get(str(doc.get("force")))
        if kind not in ("market", "limit") or tif is None or side not in ("buy", "sell"):
            return reply("40020", "Parameter orderType/force error", status=400)
        price = Decimal(doc["price"]) if kind == "limit" else None
        order = venue.place(client_id, doc["symbol"], side.upper(), Decimal(doc["size"]), price, tif)
        if venue.lose_reply():
            return reply("40010", "Request timed out", status=503)
        if venue.hold_reply():
            await venue.release.wait()
        return reply("00000", "success", {"orderId": str(order.order_id), "clientOid": client_id})

    async def order_info(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        if doc.get("orderId"):
            order = venue.by_order_id(int(doc["orderId"]))
        else:
            order = venue.by_client_id(str(doc.get("clientOid", "")))
        if order is None:
            return reply("40109", "The data of the order cannot be found, please confirm the order number",
                         status=400)
        return reply("00000", "success", [order_doc(order)])

    async def fills(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        order = venue.by_order_id(int(doc.get("orderId") or 0))
        rows = [] if order is None else [fill_doc(order, t) for t in venue.trades if t.order_id == order.order_id]
        if venue.duplicate_fills:
            rows = [row for row in rows for _ in (0, 1)]
        return reply("00000", "success", rows)

    async def cancel(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        order = venue.by_order_id(int(doc.get("orderId") or 0))
        if order is None or order.symbol != doc.get("symbol"):
            return reply("40109", "The data of the order cannot be found, please confirm the order number",
                         status=400)
        if not order.is_open:
            return reply("43004", "The order has been filled or cancelled", status=400)  # [verify] code
        order.status = "CANCELED"
        return reply("00000", "success", {"orderId": str(order.order_id), "clientOid": order.client_id})

    async def unfilled(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        return reply("00000", "success", [order_doc(o) for o in venue.orders.values() if o.is_open])

    async def assets(request: Request) -> JSONResponse:
        doc = await authenticate(request)
        if isinstance(doc, JSONResponse):
            return doc
        return reply("00000", "success", [{"coin": coin, "available": str(qty), "frozen": "0", "locked": "0",
                                          "limitAvailable": "0", "uTime": str(int(time.time() * 1000))}
                                         for coin, qty in venue.balances.items()])

    return Starlette(routes=[
        Route("/api/v2/spot/trade/place-order", place, methods=["POST"]),
        Route("/api/v2/spot/trade/orderInfo", order_info, methods=["GET"]),
        Route("/api/v2/spot/trade/fills", fills, methods=["GET"]),
        Route("/api/v2/spot/trade/cancel-order", cancel, methods=["POST"]),
        Route("/api/v2/spot/trade/unfilled-orders", unfilled, methods=["GET"]),
        Route("/api/v2/spot/account/assets", assets, methods=["GET"]),
    ])
