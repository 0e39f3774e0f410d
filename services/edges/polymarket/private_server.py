"""A local Polymarket CLOB order server, checking auth as the CLOB does.

* L1 (`POST /auth/api-key`, `GET /auth/derive-api-key`): the ClobAuth EIP-712 signature must
  recover to POLY_ADDRESS, with a fresh POLY_TIMESTAMP; the answer is the wallet's API key for
  that nonce (created once, derived after).
* L2 (every trading call): POLY_API_KEY known, POLY_PASSPHRASE its passphrase, POLY_ADDRESS its
  wallet, POLY_TIMESTAMP within `max_skew_s`, POLY_SIGNATURE the HMAC of timestamp + METHOD +
  path + the exact body bytes.
* Orders: the EIP-712 order signature (V2 domain, the CTF or NegRisk exchange by token) must
  recover to the order's `signer`, which must be the API key's wallet; an EOA order's maker is
  its signer; `owner` is the API key. An order hash seen before is refused as a duplicate.

Books are keyed by token id (`venue.set_book(token, bids, asks)`); fills move the USDC cash
(6-dp units at the wire) from `cash`. Markets here are fee-free (fee_rate_bps 0), as most are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.edges.live.loopback import Account, LoopbackOrder, LoopbackVenue
from services.edges.polymarket import signing
from services.edges.polymarket.orders import MAX_BATCH

_STATUS = {"NEW": "LIVE", "PARTIALLY_FILLED": "LIVE", "FILLED": "MATCHED"}  # else CANCELED
_TIF = {"GTC": "GTC", "GTD": "GTC", "FAK": "IOC", "FOK": "FOK"}
FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_UNMATCHED = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."


@dataclass
class Wallets:
    """API keys per wallet address, as the CLOB keeps them: `keys[(address, nonce)]` = api key."""

    address_of: dict[str, str] = field(default_factory=dict)  # api key -> wallet address (lower case)
    keys: dict[tuple[str, int], str] = field(default_factory=dict)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def polymarket_app(venue: LoopbackVenue, wallets: Wallets, *, cash: Decimal = Decimal(0), max_skew_s: int = 60,
                   neg_risk_tokens: frozenset[str] = frozenset(), chain_id: int = signing.POLYGON) -> Starlette:
    """`venue.accounts` maps API keys to `Account(secret, passphrase)`; `wallets` their addresses."""
    meta: dict[int, dict[str, Any]] = {}  # order id -> the signed order's wire fields
    by_hash: dict[str, int] = {}
    taker: set[int] = set()  # trade ids made when their order arrived

    def fresh(ts: str) -> bool:
        return ts.isdigit() and abs(int(ts) - int(time.time())) <= max_skew_s

    async def l2(request: Request) -> tuple[str, bytes] | JSONResponse:
        """(the api key, the body) of a request whose L2 headers verify."""
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        api_key = h.get("POLY_API_KEY", "")
        account = venue.accounts.get(api_key)
        if account is None or not hmac.compare_digest(h.get("POLY_PASSPHRASE", ""), account.passphrase):
            return _error(401, "Unauthorized/Invalid api key")
        if h.get("POLY_ADDRESS", "").lower() != wallets.address_of.get(api_key):
            return _error(401, "Unauthorized/Invalid api key")
        ts = h.get("POLY_TIMESTAMP", "")
        if not fresh(ts):
            return _error(401, "Unauthorized/Invalid timestamp")
        body = await request.body()
        mac = hmac.new(base64.urlsafe_b64decode(account.secret), ts.encode() + request.method.encode()
                       + request.url.path.encode() + body, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.urlsafe_b64encode(mac).decode(), h.get("POLY_SIGNATURE", "")):
            return _error(401, "Unauthorized/Invalid signature")
        return api_key, body

    # --- L1: API keys ---------------------------------------------------------------------------
    async def api_key(request: Request) -> JSONResponse:
        venue.requests_seen.append(f"{request.method} {request.url.path}")
        h = request.headers
        address, ts, nonce = h.get("POLY_ADDRESS", ""), h.get("POLY_TIMESTAMP", ""), h.get("POLY_NONCE", "0")
        if not fresh(ts) or not nonce.isdigit():
            return _error(401, "Invalid L1 Request headers")
        typed = signing.clob_auth_typed_data(address, ts, int(nonce), chain_id)
        try:
            signer = signing.recover_typed(typed, h.get("POLY_SIGNATURE", ""))
        except (ValueError, TypeError):
            return _error(401, "Invalid L1 Request headers")
        if signer.lower() != address.lower():
            return _error(401, "Invalid L1 Request headers")
        slot = (address.lower(), int(nonce))
        if request.method == "GET":  # derive: only an existing key
            if slot not in wallets.keys:
                return _error(400, "Could not derive api key!")
        elif slot in wallets.keys:
            return _error(400, "Could not create api key")
        else:
            key = hashlib.sha256(f"key|{slot}".encode()).hexdigest()
            new_key = f"{key[:8]}-{key[8:12]}-{key[12:16]}-{key[16:20]}-{key[20:32]}"
            secret = base64.urlsafe_b64encode(hashlib.sha256(f"secret|{slot}".encode()).digest()).decode()
            venue.accounts[new_key] = Account(secret, hashlib.sha256(f"pass|{slot}".encode()).hexdigest())
            wallets.keys[slot] = new_key
            wallets.address_of[new_key] = slot[0]
        key_id = wallets.keys[slot]
        account = venue.accounts[key_id]
        return JSONResponse({"apiKey": key_id, "secret": account.secret, "passphrase": account.passphrase})

    # --- orders ---------------------------------------------------------------------------------
    def place(api_key: str, doc: Any) -> dict[str, Any]:
        """One post: the venue's answer object (success or errorMsg)."""
        def refused(message: str) -> dict[str, Any]:
            return {"success": False, "orderID": None, "errorMsg": message}

        if not isinstance(doc, dict) or not isinstance(doc.get("order"), dict):
            return refused("Invalid order payload")
        order, kind = doc["order"], str(doc.get("orderType", "GTC"))
        if doc.get("owner") != api_key:
            return refused("the order owner has to be the owner of the API KEY")
        if kind not in _TIF:
            return refused(f"invalid order type {kind}")
        try:
            fields = {**order, "side": 0 if order["side"] == "BUY" else 1}
            typed = signing.order_typed_data(fields, chain_id=chain_id,
                                             exchange=signing.exchange_address(str(order["tokenId"]) in neg_risk_tokens))
            signer = signing.recover_typed(typed, str(order["signature"])).lower()
            maker_amount, taker_amount = Decimal(int(order["makerAmount"])), Decimal(int(order["takerAmount"]))
        except (KeyError, ValueError, TypeError):
            return refused("invalid signature")
        if signer != str(order["signer"]).lower() or signer != wallets.address_of[api_key]:
            return refused("invalid signature")
        if int(order["signatureType"]) == signing.EOA and str(order["maker"]).lower() != signer:
            return refused("invalid signature: an EOA order's maker is its signer")
        order_hash = "0x" + signing.digest(typed).hex()
        if order_hash in by_hash:
            return refused(f"order {order_hash} is invalid. Duplicated.")
        token = str(order["tokenId"])
        if token not in venue.books:
            return refused("the orderbook does not exist")
        if not maker_amount or not taker_amount:
            return refused("invalid amounts")
        side = str(order["side"])
        shares = (taker_amount if side == "BUY" else maker_amount) / 10**6
        price = (maker_amount / taker_amount) if side == "BUY" else (taker_amount / maker_amount)
        levels = venue.books[token]["asks" if side == "BUY" else "bids"]
        crossing = [lv for lv in levels if (lv[0] <= price if side == "BUY" else lv[0] >= price)]
        if doc.get("postOnly") and crossing:
            return refused("invalid post-only order: order crosses book")
        if kind == "FAK" and not crossing:
            return refused(FAK_UNMATCHED)
        before = len(venue.trades)
        placed = venue.place(order_hash, token, side, shares, price, _TIF[kind])
        if placed.status == "EXPIRED" and not placed.filled and kind == "FOK":
            del venue.orders[placed.order_id]  # a killed FOK is no order
            return refused(FOK_KILLED)
        taker.update(t.trade_id for t in venue.trades[before:])
        meta[placed.order_id] = {**order, "orderType": kind}
        by_hash[order_hash] = placed.order_id
        status = "live" if placed.is_open else "matched"
        return {"success": True, "orderID": order_hash, "errorMsg": "", "status": status,
                "makingAmount": "", "takingAmount": ""}

    async def post_order(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        answer = place(checked[0], json.loads(checked[1] or b"null"))
        if answer["success"] and venue.lose_reply():
            return _error(503, "upstream request timeout")
        if answer["success"] and venue.hold_reply():
            await venue.release.wait()
        return JSONResponse(answer, status_code=200 if answer["success"] else 400)

    async def post_orders(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        docs = json.loads(checked[1] or b"null")
        if not isinstance(docs, list) or not 0 < len(docs) <= MAX_BATCH:
            return _error(400, f"Too many orders in payload, max allowed: {MAX_BATCH}")
        return JSONResponse([place(checked[0], doc) for doc in docs])

    def mine(api_key: str, order: LoopbackOrder) -> bool:
        return order.order_id in meta and str(meta[order.order_id]["signer"]).lower() == wallets.address_of[api_key]

    def order_doc(order: LoopbackOrder) -> dict[str, Any]:
        m = meta[order.order_id]
        return {
            "id": order.client_id, "status": _STATUS.get(order.status, "CANCELED"), "market": "0x" + "dd" * 32,
            "original_size": f"{order.qty:.4f}", "outcome": "Yes", "maker_address": str(m["maker"]).lower(),
            "owner": "", "price": f"{order.price:.4f}", "side": order.side, "size_matched": f"{order.filled:.4f}",
            "asset_id": order.symbol, "expiration": "0", "order_type": m["orderType"], "created_at": order.ts_ms // 1000,
            "associate_trades": [str(t.trade_id) for t in venue.trades if t.order_id == order.order_id],
        }

    async def get_order(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        oid = by_hash.get(request.path_params["order_hash"])
        order = venue.by_order_id(oid) if oid is not None else None
        if order is None or not mine(checked[0], order):
            return _error(404, "order not found")
        return JSONResponse(order_doc(order))

    async def open_orders(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        rows = [order_doc(o) for o in venue.orders.values() if mine(checked[0], o) and o.is_open]
        return JSONResponse({"limit": 500, "count": len(rows), "next_cursor": "LTE=", "data": rows})

    def trade_doc(index: int) -> dict[str, Any]:
        t = venue.trades[index]
        order = venue.orders[t.order_id]
        m = meta[order.order_id]
        match_time = str(t.ts_ms // 1000)
        common = {"market": "0x" + "dd" * 32, "asset_id": order.symbol, "status": "CONFIRMED", "match_time": match_time,
                  "last_update": match_time, "outcome": "Yes", "bucket_index": 0, "transaction_hash": "0x" + "ab" * 32}
        if t.trade_id in taker:
            return {**common, "id": f"trade-{t.trade_id}", "taker_order_id": order.client_id, "side": order.side,
                    "size": f"{t.qty:.4f}", "price": f"{t.price:.4f}", "fee_rate_bps": "0", "trader_side": "TAKER",
                    "maker_address": str(m["maker"]).lower(), "maker_orders": []}
        other = "SELL" if order.side == "BUY" else "BUY"
        return {**common, "id": f"trade-{t.trade_id}", "taker_order_id": "0x" + "ee" * 32, "side": other,
                "size": f"{t.qty:.4f}", "price": f"{t.price:.4f}", "fee_rate_bps": "0", "trader_side": "MAKER",
                "maker_address": "0x" + "99" * 20,
                "maker_orders": [{"order_id": order.client_id, "asset_id": order.symbol, "matched_amount": f"{t.qty:.4f}",
                                  "price": f"{t.price:.4f}", "fee_rate_bps": "0", "side": order.side,
                                  "maker_address": str(m["maker"]).lower(), "outcome": "Yes", "owner": ""}]}

    async def trades(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        rows = [trade_doc(i) for i, t in enumerate(venue.trades)
                if t.order_id in meta and mine(checked[0], venue.orders[t.order_id])]
        if venue.duplicate_fills:
            rows = [row for row in rows for _ in (0, 1)]
        return JSONResponse({"limit": 500, "count": len(rows), "next_cursor": "LTE=", "data": rows})

    def cancel_ids(api_key: str, ids: list[str]) -> dict[str, Any]:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        for order_hash in ids:
            oid = by_hash.get(order_hash)
            order = venue.by_order_id(oid) if oid is not None else None
            if order is None or not mine(api_key, order):
                not_canceled[order_hash] = "order not found"
            elif not order.is_open:
                not_canceled[order_hash] = "already canceled or matched"
            else:
                order.status = "CANCELED"
                canceled.append(order_hash)
        return {"canceled": canceled, "not_canceled": not_canceled}

    async def cancel(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        doc = json.loads(checked[1] or b"null")
        if not isinstance(doc, dict) or "orderID" not in doc:
            return _error(400, "Invalid order payload")
        return JSONResponse(cancel_ids(checked[0], [str(doc["orderID"])]))

    async def cancel_many(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        doc = json.loads(checked[1] or b"null")
        if not isinstance(doc, list):
            return _error(400, "Invalid order payload")
        return JSONResponse(cancel_ids(checked[0], [str(i) for i in doc]))

    async def balance(request: Request) -> JSONResponse:
        checked = await l2(request)
        if isinstance(checked, JSONResponse):
            return checked
        total = cash
        for t in venue.trades:
            if t.order_id in meta and mine(checked[0], venue.orders[t.order_id]):
                sign = -1 if venue.orders[t.order_id].side == "BUY" else 1
                total += sign * t.price * t.qty  # fee-free markets (most are): fee_rate_bps 0
        return JSONResponse({"balance": str(int(total * 10**6)), "allowance": str(10**15)})

    async def positions(request: Request) -> JSONResponse:
        """The Data API's `/positions?user=` (public: no auth), served here beside the CLOB (the
        venue writes sizes as JSON numbers; exact strings here, read the same way)."""
        user = request.query_params.get("user", "").lower()
        held: dict[str, Decimal] = {}
        for t in venue.trades:
            if t.order_id in meta and str(meta[t.order_id]["maker"]).lower() == user:
                order = venue.orders[t.order_id]
                held[order.symbol] = held.get(order.symbol, Decimal(0)) + (t.qty if order.side == "BUY" else -t.qty)
        return JSONResponse([{"proxyWallet": user, "asset": token, "size": str(qty), "outcome": "Yes"}
                             for token, qty in held.items() if qty])

    return Starlette(routes=[
        Route("/positions", positions, methods=["GET"]),
        Route("/auth/api-key", api_key, methods=["POST"]),
        Route("/auth/derive-api-key", api_key, methods=["GET"]),
        Route("/order", post_order, methods=["POST"]),
        Route("/order", cancel, methods=["DELETE"]),
        Route("/orders", post_orders, methods=["POST"]),
        Route("/orders", cancel_many, methods=["DELETE"]),
        Route("/data/order/{order_hash}", get_order, methods=["GET"]),
        Route("/data/orders", open_orders, methods=["GET"]),
        Route("/data/trades", trades, methods=["GET"]),
        Route("/balance-allowance", balance, methods=["GET"]),
    ])
