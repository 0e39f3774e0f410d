"""Crypto.com Exchange v1 order entry (JSON-RPC over REST, HMAC `sig` in the body).

Every call is `POST {base}/{method}` with `{"id", "method", "api_key", "params", "nonce", "sig"}`.
`client_oid` is our UUID client order id (36 characters, the venue's maximum), so a resend
carries the same id. A create reply only acknowledges; the order is read back with
`private/get-order-detail` by client_oid and its fills with `private/get-trades` (filtered by
order id). Native amend: `private/amend-order` (`native_atomic`).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from events.routing import ChildAllocated
from services.edges.cryptocom import signing
from services.edges.cryptocom.adapter import to_venue_symbol
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Amended, AmendMode, Filled, Outcome, Rejected
from services.edges.transport import (
    uuid_client_id,
    OrderState,
    SignedRequest,
    UnsupportedOrder,
    VenueOrders,
    VenueReply,
    json_body,
    venue_fee,
)
from services.vault import Credentials

CREATE = "private/create-order"
DETAIL = "private/get-order-detail"
TRADES = "private/get-trades"
CANCEL = "private/cancel-order"
AMEND = "private/amend-order"
OPEN = "private/get-open-orders"
BALANCE = "private/user-balance"
DUPLICATE_CLIENT_ID = "204"  # DUPLICATE_CLORDID
UNKNOWN_ORDERS = frozenset({"212", "5"})  # [verify] INVALID_ORDERID / NOT_FOUND
OPEN_STATUSES = frozenset({"NEW", "PENDING", "ACTIVE"})
_TIF = {"gtc": "GOOD_TILL_CANCEL", "day": "GOOD_TILL_CANCEL", "ioc": "IMMEDIATE_OR_CANCEL",
        "fok": "FILL_OR_KILL"}
LOOKBACK_MS = 300_000


class CryptocomOrders(VenueOrders):
    venue = "cryptocom"
    amend_mode: AmendMode = "native_atomic"

    def __init__(self) -> None:
        self._ids = 0

    def client_id(self, client_order_id: str) -> str:
        return uuid_client_id(client_order_id)

    def _instrument(self, child: ChildAllocated) -> str:
        if child.symbol.endswith("-PERP"):
            raise UnsupportedOrder(f"cryptocom: {child.symbol} is a perp; only spot is supported")
        return to_venue_symbol(child.symbol)

    def _call(self, method: str, params: dict[str, Any], creds: Credentials, now_ms: int) -> SignedRequest:
        self._ids += 1
        body = signing.signed_request(creds.api_secret, method, self._ids, creds.api_key, params, now_ms)
        return SignedRequest("POST", f"/{method}", body=json.dumps(body, separators=(",", ":")),
                             headers={"Content-Type": "application/json"})

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        params: dict[str, Any] = {"instrument_name": self._instrument(child), "side": child.side.upper(),
                                  "type": child.order_type.upper(), "quantity": wire_decimal(child.qty_1e8, 8)}
        if child.order_type == "limit":
            if child.limit_px_1e9 is None:
                raise UnsupportedOrder("cryptocom: a limit order needs a price")
            params["price"] = wire_decimal(child.limit_px_1e9, 9)
            params["time_in_force"] = _TIF[child.tif]
        params["client_oid"] = self.client_id(child.client_order_id)
        return self._call(CREATE, params, creds, now_ms)

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        doc = self._result(child, reply, now_ns)
        if isinstance(doc, Rejected):
            return [doc]
        if not doc.get("order_id"):
            return [self.unexpected_reply(child, reply, now_ns)]
        return [Acked(child.client_order_id, str(doc["order_id"]), now_ns)]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_CLIENT_ID

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code in UNKNOWN_ORDERS

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._call(DETAIL, {"client_oid": self.client_id(child.client_order_id)}, creds, now_ms)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = self._result(child, reply, now_ns)
        if isinstance(doc, Rejected):
            return doc
        status = str(doc.get("status", ""))
        is_open = status in OPEN_STATUSES
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "ioc_remainder" if not is_open and ioc else status.lower()
        return OrderState(str(doc["order_id"]), is_open, qty_1e8(doc.get("cumulative_quantity") or "0"), reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        params = {"instrument_name": self._instrument(child), "start_time": child.ts_ns // 1_000_000 - LOOKBACK_MS,
                  "end_time": now_ms + 1, "limit": 100}
        return self._call(TRADES, params, creds, now_ms)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or doc.get("code") != 0:
            return []
        outcomes: list[Outcome] = []
        for t in (doc.get("result") or {}).get("data") or []:
            if str(t.get("order_id")) != venue_order_id:
                continue
            px = px_1e9(t["traded_price"])
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=venue_order_id, fill_id=str(t["trade_id"]),
                symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(t["traded_quantity"]), px_1e9=px,
                # Fees come negative (charged); ours is positive when paid.
                **venue_fee(-Decimal(t.get("fees") or "0"), _asset(str(t.get("fee_instrument_name") or "")),
                            child.symbol, px),
                liquidity="maker" if t.get("liquidity_indicator") == "MAKER" else "taker",  # [verify] field
                ts_ns=ms_to_ns(t["create_time"]) if t.get("create_time") else now_ns,
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._call(CANCEL, {"order_id": venue_order_id}, creds, now_ms)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = self._result(child, reply, now_ns)
        return doc if isinstance(doc, Rejected) else None

    def amend_request(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                      creds: Credentials, now_ms: int) -> SignedRequest:
        params = {"order_id": venue_order_id, "new_price": wire_decimal(new_px_1e9, 9),
                  "new_quantity": wire_decimal(new_qty_1e8, 8)}
        return self._call(AMEND, params, creds, now_ms)

    def parse_amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                    reply: VenueReply, now_ns: int) -> Amended | Rejected:
        doc = self._result(child, reply, now_ns)
        if isinstance(doc, Rejected):
            return doc
        return Amended(child.client_order_id, venue_order_id, new_qty_1e8, new_px_1e9, self.amend_mode, None, now_ns)

    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._call(BALANCE, {}, creds, now_ms)

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        doc = json_body(reply)
        rows = ((doc.get("result") or {}).get("data") if isinstance(doc, dict) else None) or []
        if not isinstance(doc, dict) or doc.get("code") != 0:
            raise ValueError("cryptocom: user-balance reply without a result")
        totals: dict[str, Decimal] = {}
        for account in rows:
            for pos in account.get("position_balances") or []:
                name = str(pos["instrument_name"])
                totals[name] = totals.get(name, Decimal(0)) + Decimal(pos["quantity"])
        return {asset: qty for asset, qty in totals.items() if qty}

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._call(OPEN, {}, creds, now_ms)

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = json_body(reply)
        if not isinstance(doc, dict) or doc.get("code") != 0:
            raise ValueError("cryptocom: get-open-orders reply without a result")
        return [str(o.get("client_oid") or o["order_id"]) for o in (doc.get("result") or {}).get("data") or []]

    def _result(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> dict | Rejected:
        doc = json_body(reply)
        if not isinstance(doc, dict) or "code" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["code"] != 0:
            return Rejected(child.client_order_id, str(doc["code"]), str(doc.get("message", "")), now_ns)
        result = doc.get("result")
        return result if isinstance(result, dict) else {}


def _asset(fee_instrument: str) -> str:
    return fee_instrument.split("_")[0] if "_" in fee_instrument else fee_instrument
