"""A local Crypto.com Exchange v1 private API (JSON-RPC over REST), checking auth as the venue does.

The body's `api_key` must be known, `nonce` (ms) within 60 s of the server clock (40102), and
`sig` = hex(HMAC-SHA256(secret, method + id + api_key + paramString + nonce)) recomputed from
the received JSON (40101 otherwise); the URL's method must be the body's `method`. Answers use
the venue's envelope `{"id", "method", "code", "message"?, "result"?}`. Books are keyed by
instrument name (`BTC_USDT`); `venue.assets` gives each one's (base, quote) for fees.
"""

from __future__ import annotations

import hmac
import json
import time
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.cryptocom import signing
from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue

_STATUS = {"NEW": "ACTIVE", "PARTIALLY_FILLED": "ACTIVE", "FILLED": "FILLED", "CANCELED": "CANCELED",
           "EXPIRED": "EXPIRED"}


def cryptocom_app(venue: LoopbackVenue, max_skew_ms: int = 60_000) -> Starlette:
    def answer(doc: dict[str, Any], code: int, message: str = "", result: object = None,
               status: int = 200) -> JSONResponse:
        out: dict[str, Any] = {"id": doc.get("id", -1), "method": doc.get("method", ""), "code": code}
        if message:
            out["message"] = message
        if result is not None:
            out["result"] = result
        return JSONResponse(out, status_code=status)

    def quote(order: LoopbackOrder) -> str:
        return venue.assets.get(order.symbol, ("", "USD"))[1]

    def order_doc(order: LoopbackOrder) -> dict[str, Any]:
        trades = [t for t in venue.trades if t.order_id == order.order_id]
        value = sum((t.price * t.qty for t in trades), Decimal(0))
        return {
            "account_id": "loopback", "order_id": str(order.order_id), "client_oid": order.client_id,
            "order_type": "MARKET" if order.tif == "MARKET" else "LIMIT",
            "time_in_force": {"GTC": "GOOD_TILL_CANCEL", "IOC": "IMMEDIATE_OR_CANCEL", "FOK": "FILL_OR_KILL",
                              "MARKET": "IMMEDIATE_OR_CANCEL"}[order.tif],
            "side": order.side, "exec_inst": [], "quantity": str(order.qty), "limit_price": str(order.price or 0),
            "order_value": str(order.qty * (order.price or 0)), "avg_price": str(value / order.filled if order.filled else 0),
            "cumulative_quantity": str(order.filled), "cumulative_value": str(value),
            "cumulative_fee": str(sum((t.fee for t in trades), Decimal(0))), "status": _STATUS[order.status],
            "instrument_name": order.symbol, "create_time": order.ts_ms, "update_time": order.ts_ms,
        }

    def trade_doc(order: LoopbackOrder, t: LoopbackTrade) -> dict[str, Any]:
        return {
            "account_id": "loopback", "event_date": time.strftime("%Y-%m-%d", time.gmtime(t.ts_ms // 1000)),
            "journal_type": "TRADING", "side": order.side, "instrument_name": order.symbol, "fees": str(-t.fee),
            "trade_id": str(t.trade_id), "trade_match_id": str(t.trade_id), "create_time": t.ts_ms,
            "traded_price": str(t.price), "traded_quantity": str(t.qty), "fee_instrument_name": quote(order),
            "client_oid": order.client_id, "taker_side": order.side if t.ts_ms == order.ts_ms else "",
            "liquidity_indicator": "TAKER" if t.ts_ms == order.ts_ms else "MAKER", "order_id": str(order.order_id),
        }

    async def call(request: Request) -> JSONResponse:
        method = "private/" + request.path_params["name"]
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        try:
            doc = json.loads(await request.body())
        except ValueError:
            return answer({}, 40001, "BAD_REQUEST", status=400)
        if not isinstance(doc, dict) or doc.get("method") != method or method not in handlers:
            return answer({}, 40004, "METHOD_NOT_FOUND", status=400)
        account = venue.accounts.get(str(doc.get("api_key", "")))
        if account is None:
            return answer(doc, 40101, "UNAUTHORIZED", status=401)
        nonce = doc.get("nonce")
        if not isinstance(nonce, int) or abs(int(time.time() * 1000) - nonce) > max_skew_ms:
            return answer(doc, 40102, "INVALID_NONCE", status=401)
        params = doc.get("params") or {}
        expected = signing.sign(account.secret, method, doc.get("id", 0), doc["api_key"], params, nonce)
        if not hmac.compare_digest(expected, str(doc.get("sig", ""))):
            return answer(doc, 40101, "UNAUTHORIZED", status=401)
        return await handlers[method](doc, params)

    async def create(doc: dict, p: dict) -> JSONResponse:
        client_id = str(p.get("client_oid", ""))
        existing = venue.by_client_id(client_id) if client_id else None
        if existing is not None:
            return answer(doc, 204, "DUPLICATE_CLORDID", status=400)
        if p.get("instrument_name") not in venue.books:
            return answer(doc, 40003, "Invalid instrument_name", status=400)
        kind, side = p.get("type"), p.get("side")
        tif = "MARKET" if kind == "MARKET" else {"GOOD_TILL_CANCEL": "GTC", "IMMEDIATE_OR_CANCEL": "IOC",
                                                  "FILL_OR_KILL": "FOK"}.get(p.get("time_in_force", "GOOD_TILL_CANCEL"))
        if kind not in ("MARKET", "LIMIT") or side not in ("BUY", "SELL") or tif is None:
            return answer(doc, 40003, "Invalid type, side or time_in_force", status=400)
        price = Decimal(p["price"]) if kind == "LIMIT" else None
        order = venue.place(client_id, p["instrument_name"], side, Decimal(p["quantity"]), price, tif)
        if venue.lose_reply():
            return answer(doc, 50001, "SYS_ERROR", status=503)
        if venue.hold_reply():
            await venue.release.wait()
        return answer(doc, 0, result={"order_id": str(order.order_id), "client_oid": client_id})

    def find(p: dict) -> LoopbackOrder | None:
        if p.get("order_id"):
            return venue.by_order_id(int(p["order_id"]))
        return venue.by_client_id(str(p.get("client_oid", "")))

    async def detail(doc: dict, p: dict) -> JSONResponse:
        order = find(p)
        if order is None:
            return answer(doc, 212, "INVALID_ORDERID", status=400)
        return answer(doc, 0, result=order_doc(order))

    async def trades(doc: dict, p: dict) -> JSONResponse:
        start, end = int(p.get("start_time") or 0), int(p.get("end_time") or 2**62)
        rows = [trade_doc(venue.orders[t.order_id], t) for t in venue.trades
                if t.order_id in venue.orders and venue.orders[t.order_id].symbol == p.get("instrument_name")
                and start <= t.ts_ms < end]
        if venue.duplicate_fills:
            rows = [row for row in rows for _ in (0, 1)]
        return answer(doc, 0, result={"data": rows})

    async def cancel(doc: dict, p: dict) -> JSONResponse:
        order = find(p)
        if order is None:
            return answer(doc, 212, "INVALID_ORDERID", status=400)
        if not order.is_open:
            return answer(doc, 316, "ORDER_NOT_OPEN", status=400)  # [verify] code
        order.status = "CANCELED"
        return answer(doc, 0, result={"order_id": str(order.order_id), "client_oid": order.client_id})

    async def amend(doc: dict, p: dict) -> JSONResponse:
        order = find(p)
        if order is None or not order.is_open:
            return answer(doc, 212, "INVALID_ORDERID", status=400)
        qty = Decimal(p["new_quantity"])
        if qty <= order.filled or order.tif != "GTC":
            return answer(doc, 40003, "Invalid new_quantity", status=400)
        order.qty, order.price = qty, Decimal(p["new_price"])
        return answer(doc, 0, result={"order_id": str(order.order_id), "client_oid": order.client_id})

    async def open_orders(doc: dict, p: dict) -> JSONResponse:
        return answer(doc, 0, result={"data": [order_doc(o) for o in venue.orders.values() if o.is_open]})

    async def balance(doc: dict, p: dict) -> JSONResponse:
        positions = [{"instrument_name": asset, "quantity": str(qty), "market_value": "0", "reserved_qty": "0"}
                     for asset, qty in venue.balances.items()]
        return answer(doc, 0, result={"data": [{"total_available_balance": "0", "position_balances": positions}]})

    handlers = {
        "private/create-order": create, "private/get-order-detail": detail, "private/get-trades": trades,
        "private/cancel-order": cancel, "private/amend-order": amend, "private/get-open-orders": open_orders,
        "private/user-balance": balance,
    }
    return Starlette(routes=[Route("/private/{name}", call, methods=["POST"])])
