"""A local Coinbase Advanced Trade order API (brokerage v3), checking auth as Coinbase does.

Each request must carry `Authorization: Bearer <JWT>` signed with the key's private key: the
server verifies the ES256/EdDSA signature with the account's *public* key (`Account.secret`
holds its PEM), the key name (`kid` = `sub`, a known account), `iss` = "cdp", the `nbf`/`exp`
window and the `uri` claim against this request's method and path on `host` (the venue's
host: the server stands in for it). Refusals use Coinbase's shapes: 401 `{"error":
"UNAUTHENTICATED", ...}`, create `{"success": false, "error_response": {...}}`, cancel
`results[].failure_reason`, edit `errors[].edit_failure_reason`. Orders match against the
`LoopbackVenue` book; order ids are UUIDs (the venue's int id as a UUID).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.coinbase import signing
from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue

HOST = "api.coinbase.com"
_STATUS = {"NEW": "OPEN", "PARTIALLY_FILLED": "OPEN", "FILLED": "FILLED", "CANCELED": "CANCELLED",
           "EXPIRED": "EXPIRED"}
_CONFIG_TIF = {"market_market_ioc": "MARKET", "sor_limit_ioc": "IOC", "limit_limit_fok": "FOK",
               "limit_limit_gtc": "GTC"}


def order_uuid(order_id: int) -> str:
    return str(uuid.UUID(int=order_id))


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def coinbase_app(venue: LoopbackVenue, host: str = HOST, max_skew_s: int = 30) -> Starlette:
    """`venue.accounts`: key name -> Account(secret = the key's public key PEM)."""

    def unauthenticated(message: str) -> JSONResponse:
        return JSONResponse({"error": "UNAUTHENTICATED", "code": 16, "message": message, "details": []},
                            status_code=401)

    async def authenticate(request: Request) -> str | JSONResponse:
        """The key name of a request whose JWT verifies, else the refusal."""
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return unauthenticated("missing bearer token")
        token = auth[len("Bearer "):]
        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        except ValueError:
            return unauthenticated("malformed token")
        key_name = str(header.get("kid", ""))
        account = venue.accounts.get(key_name)
        if account is None:
            return unauthenticated("unknown api key")
        claims = signing.verify_jwt(token, account.secret)
        if claims is None:
            return unauthenticated("invalid signature")
        now = int(time.time())
        nbf, exp = claims.get("nbf"), claims.get("exp")
        if claims.get("iss") != "cdp" or claims.get("sub") != key_name:
            return unauthenticated("invalid issuer or subject")
        if not isinstance(nbf, int) or not isinstance(exp, int) or nbf > now + max_skew_s or exp <= now:
            return unauthenticated("token expired or not yet valid")
        if claims.get("uri") != signing.request_uri(request.method, host, request.url.path):
            return unauthenticated("uri claim does not match the request")
        return key_name

    def order_doc(order: LoopbackOrder) -> dict[str, object]:
        trades = [t for t in venue.trades if t.order_id == order.order_id]
        value = sum((t.price * t.qty for t in trades), Decimal(0))
        fees = sum((t.fee for t in trades), Decimal(0))
        kind = next(k for k, v in _CONFIG_TIF.items() if v == order.tif)
        config: dict[str, object] = {"base_size": str(order.qty)}
        if order.price is not None:
            config["limit_price"] = str(order.price)
        return {
            "order_id": order_uuid(order.order_id), "product_id": order.symbol, "user_id": "loopback",
            "order_configuration": {kind: config}, "side": order.side, "client_order_id": order.client_id,
            "status": _STATUS[order.status], "created_time": _iso(order.ts_ms),
            "filled_size": str(order.filled), "average_filled_price": str(value / order.filled if order.filled else 0),
            "number_of_fills": str(len(trades)), "filled_value": str(value), "total_fees": str(fees),
            "order_type": "MARKET" if order.tif == "MARKET" else "LIMIT", "product_type": "SPOT",
            "pending_cancel": False, "size_in_quote": False,
        }

    def fill_doc(order: LoopbackOrder, trade: LoopbackTrade) -> dict[str, object]:
        return {
            "entry_id": f"entry-{trade.trade_id}", "trade_id": f"trade-{trade.trade_id}",
            "order_id": order_uuid(order.order_id), "trade_time": _iso(trade.ts_ms), "trade_type": "FILL",
            "price": str(trade.price), "size": str(trade.qty), "commission": str(trade.fee),
            "product_id": order.symbol, "sequence_timestamp": _iso(trade.ts_ms),
            # `place` matches at the order's own millisecond; a later trade took it while resting.
            "liquidity_indicator": "TAKER" if trade.ts_ms == order.ts_ms else "MAKER",
            "size_in_quote": False, "user_id": "loopback", "side": order.side,
        }

    def refused(error: str, message: str) -> JSONResponse:
        return JSONResponse({"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
                             "error_response": {"error": error, "message": message, "error_details": message}})

    def lookup(order_id: str) -> LoopbackOrder | None:
        try:
            return venue.by_order_id(uuid.UUID(order_id).int)
        except ValueError:
            return None

    async def create(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        doc = json.loads(await request.body())
        client_id = str(doc.get("client_order_id", ""))
        if not client_id:
            return refused("INVALID_CLIENT_ORDER_ID", "client_order_id is required")
        if venue.by_client_id(client_id) is not None:
            return refused("DUPLICATE_CLIENT_ORDER_ID", "duplicate client_order_id")
        if doc.get("product_id") not in venue.books:
            return refused("INVALID_PRODUCT_ID", "product not found")
        side = doc.get("side")
        configs = doc.get("order_configuration") or {}
        kind = next(iter(configs), "")
        if side not in ("BUY", "SELL") or len(configs) != 1 or kind not in _CONFIG_TIF:
            return refused("UNSUPPORTED_ORDER_CONFIGURATION", "unsupported order configuration")
        config = configs[kind]
        if "base_size" not in config:
            return refused("UNSUPPORTED_ORDER_CONFIGURATION", "only base_size orders are served here")
        tif = _CONFIG_TIF[kind]
        price = None if tif == "MARKET" else Decimal(config["limit_price"])
        order = venue.place(client_id, doc["product_id"], side, Decimal(config["base_size"]), price, tif)
        if venue.lose_reply():
            return JSONResponse({"error": "INTERNAL", "code": 13, "message": "upstream timeout"}, status_code=503)
        if venue.hold_reply():
            await venue.release.wait()  # the client times out meanwhile
        return JSONResponse({"success": True, "success_response": {
            "order_id": order_uuid(order.order_id), "product_id": order.symbol, "side": side,
            "client_order_id": client_id}, "order_configuration": configs})

    async def list_orders(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        q = request.query_params
        products, statuses = q.getlist("product_ids"), q.getlist("order_status")
        since = q.get("start_date", "")
        rows = [order_doc(o) for o in sorted(venue.orders.values(), key=lambda o: -o.order_id)
                if (not products or o.symbol in products)]
        rows = [r for r in rows if (not statuses or r["status"] in statuses)
                and (not since or str(r["created_time"]) >= since)]
        return JSONResponse({"orders": rows, "sequence": "0", "has_next": False, "cursor": ""})

    async def list_fills(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        wanted = set(request.query_params.getlist("order_ids"))
        rows = []
        for trade in venue.trades:
            order = venue.orders.get(trade.order_id)
            if order is not None and order_uuid(order.order_id) in wanted:
                rows.append(fill_doc(order, trade))
                if venue.duplicate_fills:
                    rows.append(fill_doc(order, trade))
        return JSONResponse({"fills": rows, "cursor": ""})

    async def batch_cancel(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        results = []
        for order_id in json.loads(await request.body()).get("order_ids", []):
            order = lookup(str(order_id))
            if order is None:
                results.append({"success": False, "failure_reason": "UNKNOWN_CANCEL_ORDER", "order_id": order_id})
            elif not order.is_open:
                results.append({"success": False, "failure_reason": "INVALID_CANCEL_REQUEST", "order_id": order_id})
            else:
                order.status = "CANCELED"
                results.append({"success": True, "failure_reason": "UNKNOWN_CANCEL_FAILURE_REASON",
                                "order_id": order_id})
        return JSONResponse({"results": results})

    async def edit(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        doc = json.loads(await request.body())

        def failed(reason: str) -> JSONResponse:
            return JSONResponse({"success": False, "errors": [{"edit_failure_reason": reason,
                                                               "preview_failure_reason": "UNKNOWN_PREVIEW_FAILURE_REASON"}]})

        order = lookup(str(doc.get("order_id", "")))
        if order is None or not order.is_open:
            return failed("ORDER_NOT_FOUND" if order is None else "ORDER_ALREADY_COMPLETED")
        if order.tif != "GTC":
            return failed("INVALID_ORDER_TYPE")  # edit is for limit GTC orders only
        size, price = Decimal(doc["size"]), Decimal(doc["price"])
        if size <= order.filled:
            return failed("INVALID_EDITED_SIZE")
        order.qty, order.price = size, price
        return JSONResponse({"success": True, "errors": []})

    async def accounts(request: Request) -> JSONResponse:
        key = await authenticate(request)
        if isinstance(key, JSONResponse):
            return key
        rows = [{"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, asset)), "name": f"{asset} Wallet", "currency": asset,
                 "available_balance": {"value": str(qty), "currency": asset}, "default": False, "active": True,
                 "type": "CRYPTO", "ready": True, "hold": {"value": "0", "currency": asset}}
                for asset, qty in venue.balances.items()]
        return JSONResponse({"accounts": rows, "has_next": False, "cursor": "", "size": len(rows)})

    return Starlette(routes=[
        Route("/api/v3/brokerage/orders", create, methods=["POST"]),
        Route("/api/v3/brokerage/orders/historical/batch", list_orders, methods=["GET"]),
        Route("/api/v3/brokerage/orders/historical/fills", list_fills, methods=["GET"]),
        Route("/api/v3/brokerage/orders/batch_cancel", batch_cancel, methods=["POST"]),
        Route("/api/v3/brokerage/orders/edit", edit, methods=["POST"]),
        Route("/api/v3/brokerage/accounts", accounts, methods=["GET"]),
    ])
