"""The local Hyperliquid private order server (see services/edges/live/loopback.py for the shared
book, accounts and fault switches, and how tests serve it)."""

from __future__ import annotations

import json
from decimal import Decimal

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.hyperliquid import signing as signing_hl
from services.edges.live.loopback import LoopbackOrder, LoopbackVenue, UNKNOWN_OID


SZ_DECIMALS = 5  # every local coin's szDecimals (as `meta` says)


def valid_price(px: Decimal) -> bool:
    """Hyperliquid's perp price rule: a whole number, or at most 5 significant figures and at
    most 6 - szDecimals decimals."""
    if px <= 0:
        return False
    if px == px.to_integral_value():
        return True
    digits = px.normalize().as_tuple()
    return len(digits.digits) <= 5 and -int(digits.exponent) <= 6 - SZ_DECIMALS


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
        now = venue.now_ms()
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
            if not valid_price(Decimal(wire["p"])):
                statuses.append({"error": "Order has invalid price."})
                continue
            tif = {"Gtc": "GTC", "Alo": "GTC", "Ioc": "IOC"}[wire["t"]["limit"]["tif"]]
            order = venue.place(cloid, coin, "BUY" if wire["b"] else "SELL", Decimal(wire["s"]), Decimal(wire["p"]), tif)
            if venue.lose_reply():
                return JSONResponse({"error": "gateway timeout"}, status_code=503)
            if venue.hold_reply():
                await venue.release.wait()  # executed; the client times out meanwhile
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
            return JSONResponse({"universe": [{"name": coin, "szDecimals": SZ_DECIMALS, "maxLeverage": 40} for coin in coins()]})
        if kind == "allMids":
            return JSONResponse({coin: str(mid) for coin in coins() if (mid := venue.mid(coin)) is not None})
        if doc.get("user", "").lower() not in venue.accounts:
            return JSONResponse([] if kind == "userFills" else {"status": UNKNOWN_OID})
        if kind == "orderStatus":
            oid = doc.get("oid")
            order = venue.by_client_id(oid) if isinstance(oid, str) else venue.by_order_id(int(oid))
            found = {"status": UNKNOWN_OID} if order is None else {"status": "order", "order": order_doc(order)}
            return JSONResponse(found)
        if kind == "userFills":
            return JSONResponse(venue.as_listed([
                {"coin": venue.orders[t.order_id].symbol, "px": str(t.price), "sz": str(t.qty),
                 "side": "B" if venue.orders[t.order_id].side == "BUY" else "A", "time": t.ts_ms, "oid": t.order_id,
                 "tid": t.trade_id, "crossed": True, "fee": str(t.fee), "feeToken": "USDC",
                 "cloid": venue.orders[t.order_id].client_id, "hash": "0x" + "0" * 64}
                for t in venue.trades if t.order_id in venue.orders
            ]))
        return JSONResponse({"error": f"unknown info type {kind}"}, status_code=422)

    return Starlette(routes=[
        Route("/exchange", exchange, methods=["POST"]),
        Route("/info", info, methods=["POST"]),
    ])
