"""A local Kraken spot private REST API (/0/private/*), checking auth as Kraken does.

`API-Key` must be a known account; the form body's `nonce` must exceed the last one accepted
for that key (Kraken's default nonce window of 0); `API-Sign` is recomputed as
b64(HMAC-SHA512(b64decode(secret), path + SHA256(nonce + body))) over the exact bytes received.
Refusals are Kraken's: HTTP 200 with `{"error": ["EAPI:Invalid key"], "result": {}}` etc.
Books are keyed by REST pair (`XBTUSD`); balances by our asset names and reported under
Kraken's classic codes (`XXBT`, `ZUSD`).
"""

from __future__ import annotations

import hmac
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.kraken import signing
from services.edges.kraken.orders import ASSET_NAMES
from services.edges.live.loopback import LoopbackOrder, LoopbackVenue

_CODES = {ours: code for code, ours in ASSET_NAMES.items() if len(code) == 4}  # BTC -> XXBT, USD -> ZUSD


def txid(order_id: int) -> str:
    return f"O{order_id:05d}-KRAKN-LOCAL"


def trade_txid(trade_id: int) -> str:
    return f"T{trade_id:05d}-KRAKN-LOCAL"


def kraken_app(venue: LoopbackVenue) -> Starlette:
    """`venue.accounts`: API key -> Account(secret = the base64 private key Kraken issues)."""
    last_nonce: dict[str, int] = {}

    def refuse(*errors: str) -> JSONResponse:
        return JSONResponse({"error": list(errors), "result": {}})

    def ok(result: object) -> JSONResponse:
        return JSONResponse({"error": [], "result": result})

    async def authenticate(request: Request) -> dict[str, str] | JSONResponse:
        path = request.url.path
        venue.requests_seen.append(f"{request.method} {path}")
        key = request.headers.get("API-Key", "")
        account = venue.accounts.get(key)
        if account is None:
            return refuse("EAPI:Invalid key")
        body = (await request.body()).decode()
        params = dict(parse_qsl(body, keep_blank_values=True))
        try:
            nonce = int(params["nonce"])
        except (KeyError, ValueError):
            return refuse("EAPI:Invalid nonce")
        expected = signing.api_sign(account.secret, path, params["nonce"], body)
        if not hmac.compare_digest(expected, request.headers.get("API-Sign", "")):
            return refuse("EAPI:Invalid signature")
        if nonce <= last_nonce.get(key, 0):
            return refuse("EAPI:Invalid nonce")
        last_nonce[key] = nonce
        return params

    def status(order: LoopbackOrder) -> str:
        return {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "closed", "CANCELED": "canceled",
                "EXPIRED": "canceled"}[order.status]

    def order_doc(order: LoopbackOrder) -> dict[str, object]:
        trades = [t for t in venue.trades if t.order_id == order.order_id]
        cost = sum((t.price * t.qty for t in trades), Decimal(0))
        kind = "market" if order.tif == "MARKET" else "limit"
        price = str(order.price or 0)
        return {
            "refid": None, "userref": 0, "cl_ord_id": order.client_id, "status": status(order),
            "opentm": order.ts_ms / 1000, "starttm": 0, "expiretm": 0,
            "descr": {"pair": order.symbol, "type": order.side.lower(), "ordertype": kind, "price": price,
                      "price2": "0", "leverage": "none", "order": f"{order.side.lower()} {order.qty} {order.symbol} @ {kind}",
                      "close": ""},
            "vol": str(order.qty), "vol_exec": str(order.filled), "cost": str(cost),
            "fee": str(sum((t.fee for t in trades), Decimal(0))), "price": str(cost / order.filled if order.filled else 0),
            "misc": "", "oflags": "fciq", "trades": [trade_txid(t.trade_id) for t in trades],
        }

    def by_txid(text: str) -> LoopbackOrder | None:
        order = next((o for o in venue.orders.values() if txid(o.order_id) == text), None)
        if order is not None:
            venue.touched.append(order.client_id)
        return order

    async def add_order(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        client_id = p.get("cl_ord_id", "")
        existing = venue.by_client_id(client_id) if client_id else None
        if existing is not None and existing.is_open:  # unique among open orders only
            return refuse("EOrder:Duplicate cl_ord_id")
        if p.get("pair") not in venue.books:
            return refuse("EQuery:Unknown asset pair")
        kind, side = p.get("ordertype"), p.get("type")
        if kind not in ("market", "limit") or side not in ("buy", "sell"):
            return refuse("EGeneral:Invalid arguments:ordertype")
        tif = "MARKET" if kind == "market" else p.get("timeinforce", "GTC")
        if tif not in ("MARKET", "GTC", "IOC"):
            return refuse("EGeneral:Invalid arguments:timeinforce")
        price = Decimal(p["price"]) if kind == "limit" else None
        order = venue.place(client_id, p["pair"], side.upper(), Decimal(p["volume"]), price, tif)
        if venue.lose_reply():
            return JSONResponse({"error": ["EService:Unavailable"], "result": {}}, status_code=503)
        if venue.hold_reply():
            await venue.release.wait()  # the client times out meanwhile
        descr = f"{side} {p['volume']} {p['pair']} @ {kind}" + (f" {p['price']}" if price is not None else "")
        return ok({"descr": {"order": descr}, "txid": [txid(order.order_id)]})

    async def open_orders(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        wanted = p.get("cl_ord_id")
        return ok({"open": {txid(o.order_id): order_doc(o) for o in venue.orders.values()
                            if o.is_open and (wanted is None or o.client_id == wanted)}})

    async def closed_orders(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        wanted, start = p.get("cl_ord_id"), int(p.get("start") or 0)
        closed = {txid(o.order_id): order_doc(o) for o in sorted(venue.orders.values(), key=lambda o: -o.order_id)
                  if not o.is_open and (wanted is None or o.client_id == wanted) and o.ts_ms >= start * 1000}
        return ok({"closed": closed, "count": len(closed)})

    async def trades_history(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        start = int(p.get("start") or 0)
        rows: dict[str, object] = {}
        for t in sorted(venue.trades, key=lambda t: -t.trade_id):
            order = venue.orders.get(t.order_id)
            if order is None or t.ts_ms < start * 1000:
                continue
            rows[trade_txid(t.trade_id)] = {
                "ordertxid": txid(order.order_id), "postxid": "TKH2SE-LOCAL-KRAKN", "pair": order.symbol,
                "time": t.ts_ms / 1000, "type": order.side.lower(), "ordertype": "market" if order.tif == "MARKET" else "limit",
                "price": str(t.price), "cost": str(t.price * t.qty), "fee": str(t.fee), "vol": str(t.qty),
                "margin": "0.00000", "misc": "", "trade_id": t.trade_id, "maker": t.ts_ms != order.ts_ms,
            }
        return ok({"trades": rows, "count": len(rows)})

    async def cancel_order(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        order = by_txid(p.get("txid", "")) if p.get("txid") else venue.by_client_id(p.get("cl_ord_id", ""))
        if order is None or not order.is_open:
            return refuse("EOrder:Unknown order")
        order.status = "CANCELED"
        return ok({"count": 1})

    async def amend_order(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        order = by_txid(p.get("txid", "")) if p.get("txid") else venue.by_client_id(p.get("cl_ord_id", ""))
        if order is None or not order.is_open:
            return refuse("EOrder:Unknown order")
        qty = Decimal(p["order_qty"]) if "order_qty" in p else order.qty
        if qty <= order.filled:
            return refuse("EOrder:Invalid order_qty")
        order.qty = qty
        if "limit_price" in p:
            order.price = Decimal(p["limit_price"])
        return ok({"amend_id": f"TAMEND-{order.order_id:05d}-{int(time.time() * 1000)}"})

    async def balance(request: Request) -> JSONResponse:
        p = await authenticate(request)
        if isinstance(p, JSONResponse):
            return p
        return ok({_CODES.get(asset, asset): str(qty) for asset, qty in venue.balances.items()})

    return Starlette(routes=[
        Route("/0/private/AddOrder", add_order, methods=["POST"]),
        Route("/0/private/OpenOrders", open_orders, methods=["POST"]),
        Route("/0/private/ClosedOrders", closed_orders, methods=["POST"]),
        Route("/0/private/TradesHistory", trades_history, methods=["POST"]),
        Route("/0/private/CancelOrder", cancel_order, methods=["POST"]),
        Route("/0/private/AmendOrder", amend_order, methods=["POST"]),
        Route("/0/private/Balance", balance, methods=["POST"]),
    ])
