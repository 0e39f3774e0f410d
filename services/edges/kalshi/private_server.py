"""A local Kalshi Trade API v2 order server, checking auth as Kalshi does.

Accounts are keyed by API key id; `Account.secret` holds the key's RSA *public* key (PEM). Every
request must carry KALSHI-ACCESS-KEY/-TIMESTAMP/-SIGNATURE, the timestamp within
`max_skew_ms` of the server's clock, and an RSA-PSS signature over timestamp + METHOD + the full
path (from /trade-api/v2, no query) that verifies with that public key.

The book is held per market ticker in YES-leg terms (`venue.set_book(ticker, yes_bids,
yes_asks)`): buying NO at q is selling YES at 1 - q, as on Kalshi's single book. Cash (integer
cents at the wire) starts at `cash` and moves by each fill's leg price and fee (Kalshi's taker
fee, in whole cents; resting fills pay none here).
"""

from __future__ import annotations

import json
import time
from decimal import ROUND_CEILING, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.kalshi import signing
from services.edges.kalshi.orders import API_PREFIX, MAX_BATCH
from services.edges.live.loopback import LoopbackOrder, LoopbackTrade, LoopbackVenue

_STATUS = {"NEW": "resting", "PARTIALLY_FILLED": "resting", "FILLED": "executed"}  # else canceled
_TIF = {"good_till_canceled": "GTC", "immediate_or_cancel": "IOC", "fill_or_kill": "FOK"}
ONE = Decimal(1)


def taker_fee(count: Decimal, yes_px: Decimal) -> Decimal:
    """Kalshi's general taker fee: 0.07 x C x P x (1 - P), rounded up to the cent [verify per series]."""
    return (Decimal("0.07") * count * yes_px * (ONE - yes_px)).quantize(Decimal("0.01"), ROUND_CEILING)


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def kalshi_app(venue: LoopbackVenue, *, cash: Decimal = Decimal(0), max_skew_ms: int = 60_000) -> Starlette:
    legs: dict[int, tuple[str, str]] = {}  # order id -> (side yes|no, action buy|sell)
    taker: set[int] = set()  # trade ids of fills made when their order arrived (the rest: resting fills)

    def authenticate(request: Request) -> JSONResponse | None:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        key_id = request.headers.get("KALSHI-ACCESS-KEY", "")
        account = venue.accounts.get(key_id)
        if account is None:
            return error(401, "unauthorized", "unknown API key")
        ts = request.headers.get("KALSHI-ACCESS-TIMESTAMP", "")
        if not ts.isdigit() or abs(int(ts) - int(time.time() * 1000)) > max_skew_ms:
            return error(401, "unauthorized", "timestamp outside the allowed window")
        signature = request.headers.get("KALSHI-ACCESS-SIGNATURE", "")
        if not signing.verify(account.secret, signature, ts, request.method, request.url.path):
            return error(401, "unauthorized", "signature does not verify")
        return None

    def fee(t: LoopbackTrade) -> Decimal:
        return taker_fee(t.qty, t.price) if t.trade_id in taker else Decimal(0)  # no maker fee here

    def leg_px(order: LoopbackOrder, yes_px: Decimal) -> Decimal:
        return yes_px if legs[order.order_id][0] == "yes" else ONE - yes_px

    def order_doc(order: LoopbackOrder) -> dict[str, Any]:
        side, action = legs[order.order_id]
        yes_px = order.price if order.price is not None else Decimal(0)
        fees = sum((fee(t) for t in venue.trades if t.order_id == order.order_id), Decimal(0))
        remaining = order.qty - order.filled if order.is_open else Decimal(0)
        return {
            "order_id": str(order.order_id), "client_order_id": order.client_id, "ticker": order.symbol,
            "side": side, "action": action, "type": "limit", "status": _STATUS.get(order.status, "canceled"),
            "yes_price_dollars": f"{yes_px:.4f}", "no_price_dollars": f"{ONE - yes_px:.4f}",
            "fill_count_fp": f"{order.filled:.2f}", "remaining_count_fp": f"{remaining:.2f}",
            "initial_count_fp": f"{order.qty:.2f}", "taker_fees_dollars": f"{fees:.4f}",
            "created_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(order.ts_ms / 1000)),
        }

    def create(doc: Any) -> LoopbackOrder | JSONResponse:
        if not isinstance(doc, dict):
            return error(400, "invalid_parameters", "body must be an order object")
        try:
            side, action, count = doc["side"], doc["action"], Decimal(int(doc["count"]))
            tif = _TIF[doc.get("time_in_force", "good_till_canceled")]
            px = Decimal(doc[f"{side}_price_dollars"])
        except (KeyError, ValueError, TypeError):
            return error(400, "invalid_parameters", "ticker, side, action, count, price and time_in_force")
        if side not in ("yes", "no") or action not in ("buy", "sell") or count <= 0 or not ONE > px > 0:
            return error(400, "invalid_parameters", "side yes|no, action buy|sell, count > 0, 0 < price < 1")
        if doc.get("ticker") not in venue.books:
            return error(404, "market_not_found", "market not found")
        client_id = str(doc.get("client_order_id", ""))
        if client_id and venue.by_client_id(client_id) is not None:  # unique per account, not only among open
            return error(409, "order_already_exists", "an order with this client_order_id already exists")
        # One book in YES terms: buy YES / sell NO lift YES asks; sell YES / buy NO hit YES bids.
        yes_side = "BUY" if (side == "yes") == (action == "buy") else "SELL"
        yes_px = px if side == "yes" else ONE - px
        if doc.get("post_only"):
            levels = venue.books[doc["ticker"]]["asks" if yes_side == "BUY" else "bids"]
            if levels and (levels[0][0] <= yes_px if yes_side == "BUY" else levels[0][0] >= yes_px):
                return error(400, "post_only_cross", "post only order would cross")
        before = len(venue.trades)
        order = venue.place(client_id, doc["ticker"], yes_side, count, yes_px, tif)
        taker.update(t.trade_id for t in venue.trades[before:])
        legs[order.order_id] = (side, action)
        return order

    async def new_order(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        placed = create(json.loads(await request.body() or b"null"))
        if isinstance(placed, JSONResponse):
            return placed
        if venue.lose_reply():
            return error(503, "service_unavailable", "gateway timeout")
        if venue.hold_reply():
            await venue.release.wait()  # the client times out meanwhile
        return JSONResponse({"order": order_doc(placed)}, status_code=201)

    async def batch(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        doc = json.loads(await request.body() or b"null")
        items = doc.get("orders") if isinstance(doc, dict) else None
        if not isinstance(items, list) or not 0 < len(items) <= MAX_BATCH:
            return error(400, "invalid_parameters", f"orders: 1 to {MAX_BATCH} orders")
        results: list[dict[str, Any]] = []
        for item in items:
            placed = create(item)
            if isinstance(placed, JSONResponse):
                results.append({"order": None, "error": json.loads(bytes(placed.body))["error"]})
            else:
                results.append({"order": order_doc(placed), "error": None})
        return JSONResponse({"orders": results}, status_code=201)

    async def list_orders(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        ticker, status = request.query_params.get("ticker"), request.query_params.get("status")
        docs = [order_doc(o) for o in venue.orders.values() if o.order_id in legs and ticker in (None, o.symbol)]
        for doc in docs:
            venue.touched.append(doc["client_order_id"])
        return JSONResponse({"orders": [d for d in docs if status in (None, d["status"])], "cursor": ""})

    def known(request: Request) -> LoopbackOrder | None:
        raw = request.path_params["order_id"]
        order = venue.by_order_id(int(raw)) if raw.isdigit() else None
        return order if order is not None and order.order_id in legs else None

    async def amend(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        order = known(request)
        if order is None:
            return error(404, "not_found", "order not found")
        doc = json.loads(await request.body() or b"null")
        side, _ = legs[order.order_id]
        try:
            count, px = Decimal(int(doc["count"])), Decimal(doc[f"{side}_price_dollars"])
        except (KeyError, ValueError, TypeError):
            return error(400, "invalid_parameters", "count and the leg's price")
        if not order.is_open:
            return error(400, "order_not_resting", "only a resting order can be amended")
        if count <= order.filled or not ONE > px > 0:
            return error(400, "invalid_parameters", "count must exceed the filled count; 0 < price < 1")
        old = order_doc(order)
        order.qty, order.price = count, px if side == "yes" else ONE - px
        if doc.get("updated_client_order_id"):
            order.client_id = str(doc["updated_client_order_id"])
        return JSONResponse({"old_order": old, "order": order_doc(order)})

    async def cancel(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        order = known(request)
        if order is None:
            return error(404, "not_found", "order not found")
        if not order.is_open:
            return error(400, "order_not_resting", "order is not resting")
        reduced = order.qty - order.filled
        order.status = "CANCELED"
        return JSONResponse({"order": order_doc(order), "reduced_by_fp": f"{reduced:.2f}"})

    def fill_doc(trade_index: int) -> dict[str, Any]:
        t = venue.trades[trade_index]
        order = venue.orders[t.order_id]
        side, action = legs[order.order_id]
        return {
            "fill_id": f"f{t.trade_id}", "trade_id": str(t.trade_id), "order_id": str(order.order_id),
            "client_order_id": order.client_id, "ticker": order.symbol, "side": side, "action": action,
            "count_fp": f"{t.qty:.2f}", "yes_price_dollars": f"{t.price:.4f}", "no_price_dollars": f"{ONE - t.price:.4f}",
            "is_taker": t.trade_id in taker, "fee_cost": f"{fee(t):.6f}", "ts_ms": t.ts_ms,
            "created_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t.ts_ms / 1000)),
        }

    async def fills(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        oid = request.query_params.get("order_id")
        rows = [fill_doc(i) for i, t in enumerate(venue.trades) if t.order_id in legs and oid in (None, str(t.order_id))]
        if venue.duplicate_fills:
            rows = [row for row in rows for _ in (0, 1)]
        return JSONResponse({"fills": rows, "cursor": ""})

    def cash_now() -> Decimal:
        total = cash
        for t in venue.trades:
            if t.order_id in legs:
                order = venue.orders[t.order_id]
                sign = -1 if legs[order.order_id][1] == "buy" else 1
                total += sign * leg_px(order, t.price) * t.qty - fee(t)
        return total

    async def balance(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        cents = int((cash_now() * 100).to_integral_value())
        return JSONResponse({"balance": cents, "portfolio_value": cents, "updated_ts": int(time.time())})

    async def positions(request: Request) -> JSONResponse:
        refused = authenticate(request)
        if refused is not None:
            return refused
        held: dict[str, Decimal] = {}
        for t in venue.trades:
            if t.order_id in legs:
                order = venue.orders[t.order_id]
                held[order.symbol] = held.get(order.symbol, Decimal(0)) + (t.qty if order.side == "BUY" else -t.qty)
        rows = [{"ticker": ticker, "position": int(qty), "position_fp": f"{qty:.2f}"}
                for ticker, qty in held.items() if qty]
        return JSONResponse({"market_positions": rows, "event_positions": [], "cursor": ""})

    p = API_PREFIX
    return Starlette(routes=[
        Route(f"{p}/portfolio/orders", new_order, methods=["POST"]),
        Route(f"{p}/portfolio/orders", list_orders, methods=["GET"]),
        Route(f"{p}/portfolio/orders/batched", batch, methods=["POST"]),
        Route(f"{p}/portfolio/orders/{{order_id}}/amend", amend, methods=["POST"]),
        Route(f"{p}/portfolio/orders/{{order_id}}", cancel, methods=["DELETE"]),
        Route(f"{p}/portfolio/fills", fills, methods=["GET"]),
        Route(f"{p}/portfolio/balance", balance, methods=["GET"]),
        Route(f"{p}/portfolio/positions", positions, methods=["GET"]),
    ])

