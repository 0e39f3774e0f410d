"""Bitget v2 spot order entry (REST, ACCESS-SIGN + passphrase): place, lookup, fills, cancel.

`clientOid` is our UUID client order id (canonical text), so a resend carries the same id.
A place reply only acknowledges; fills are read from `/api/v2/spot/trade/fills` by trade id.
Spot market *buys* are sized in the quote coin at Bitget, which the router does not plan in,
so they are refused here (send a limit IOC instead). Spot has no native amend (only the
venue's cancel-replace endpoint): `amend_mode = "cancel_replace"`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.bitget import signing
from services.edges.bitget.adapter import to_venue_symbol
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, AmendMode, Filled, Outcome, Rejected
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

PLACE_PATH = "/api/v2/spot/trade/place-order"
INFO_PATH = "/api/v2/spot/trade/orderInfo"
FILLS_PATH = "/api/v2/spot/trade/fills"
CANCEL_PATH = "/api/v2/spot/trade/cancel-order"
OPEN_PATH = "/api/v2/spot/trade/unfilled-orders"
ASSETS_PATH = "/api/v2/spot/account/assets"
OK = "00000"
UNKNOWN_ORDERS = frozenset({"40109", "43001"})  # [verify] "order does not exist" codes
DUPLICATE_CLIENT_ID = "43118"  # [verify] a clientOid the account already used
OPEN_STATUSES = frozenset({"init", "new", "live", "partially_filled"})
_FORCE = {"gtc": "gtc", "day": "gtc", "ioc": "ioc", "fok": "fok"}


class BitgetSpotOrders(VenueOrders):
    venue = "bitget"
    amend_mode: AmendMode = "cancel_replace"

    def client_id(self, client_order_id: str) -> str:
        return uuid_client_id(client_order_id)

    def _symbol(self, child: ChildAllocated) -> str:
        if child.symbol.endswith("-PERP"):
            raise UnsupportedOrder(f"bitget: {child.symbol} is a futures contract; only spot is supported")
        return to_venue_symbol(child.symbol)

    def _request(self, method: str, path: str, creds: Credentials, now_ms: int, *, query: str = "",
                 body: str = "") -> SignedRequest:
        if not creds.passphrase:
            raise UnsupportedOrder("bitget: the stored credentials have no passphrase")
        headers = signing.headers(creds.api_key, creds.api_secret, creds.passphrase, str(now_ms), method, path,
                                  query, body)
        return SignedRequest(method, path, query=query, body=body, headers=headers)

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        if child.order_type == "market" and child.side == "buy":
            raise UnsupportedOrder("bitget: a spot market buy is sized in the quote coin; send a limit IOC")
        order: dict[str, str] = {"symbol": self._symbol(child), "side": child.side, "orderType": child.order_type}
        if child.order_type == "limit":
            if child.limit_px_1e9 is None:
                raise UnsupportedOrder("bitget: a limit order needs a price")
            order["force"] = _FORCE[child.tif]
            order["price"] = wire_decimal(child.limit_px_1e9, 9)
        order["size"] = wire_decimal(child.qty_1e8, 8)
        order["clientOid"] = self.client_id(child.client_order_id)
        return self._request("POST", PLACE_PATH, creds, now_ms, body=_compact(order))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        doc = self._ok(child, reply, now_ns)
        if isinstance(doc, Rejected):
            return [doc]
        data = doc.get("data") or {}
        if not isinstance(data, dict) or not data.get("orderId"):
            return [self.unexpected_reply(child, reply, now_ns)]
        return [Acked(child.client_order_id, str(data["orderId"]), now_ns)]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_CLIENT_ID or "duplicate" in rejected.message.lower()

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code in UNKNOWN_ORDERS

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        query = urlencode({"clientOid": self.client_id(child.client_order_id)})
        return self._request("GET", INFO_PATH, creds, now_ms, query=query)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = self._ok(child, reply, now_ns)
        if isinstance(doc, Rejected):
            return doc
        rows = doc.get("data") or []
        if not isinstance(rows, list) or not rows:
            return Rejected(child.client_order_id, "43001", "order does not exist", now_ns)
        order = rows[0]
        status = str(order.get("status", ""))
        is_open = status in OPEN_STATUSES
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "ioc_remainder" if not is_open and ioc else status
        return OrderState(str(order["orderId"]), is_open, qty_1e8(order.get("baseVolume") or "0"), reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        query = urlencode({"symbol": self._symbol(child), "orderId": venue_order_id})
        return self._request("GET", FILLS_PATH, creds, now_ms, query=query)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or doc.get("code") != OK:
            return []
        outcomes: list[Outcome] = []
        for f in doc.get("data") or []:
            px = px_1e9(f["priceAvg"])
            fee = f.get("feeDetail") or {}
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=str(f["orderId"]), fill_id=str(f["tradeId"]),
                symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(f["size"]), px_1e9=px,
                # Bitget reports the charged fee as a negative total; ours is positive when paid.
                **venue_fee(abs(Decimal(fee.get("totalFee") or "0")), str(fee.get("feeCoin") or ""), child.symbol, px),
                liquidity="maker" if f.get("tradeScope") == "maker" else "taker",
                ts_ns=ms_to_ns(f["cTime"]) if f.get("cTime") else now_ns,
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        body = _compact({"symbol": self._symbol(child), "orderId": venue_order_id})
        return self._request("POST", CANCEL_PATH, creds, now_ms, body=body)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = self._ok(child, reply, now_ns)
        return doc if isinstance(doc, Rejected) else None

    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("GET", ASSETS_PATH, creds, now_ms)

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        doc = json_body(reply)
        if not isinstance(doc, dict) or doc.get("code") != OK or not isinstance(doc.get("data"), list):
            raise ValueError("bitget: assets reply without data")
        totals = {row["coin"]: sum((Decimal(row.get(k) or "0") for k in ("available", "frozen", "locked")), Decimal(0))
                  for row in doc["data"]}
        return {coin: qty for coin, qty in totals.items() if qty}

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("GET", OPEN_PATH, creds, now_ms)

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = json_body(reply)
        if not isinstance(doc, dict) or doc.get("code") != OK or not isinstance(doc.get("data"), list):
            raise ValueError("bitget: unfilled-orders reply without data")
        return [str(row.get("clientOid") or row["orderId"]) for row in doc["data"]]

    def _ok(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> dict | Rejected:
        doc = json_body(reply)
        if not isinstance(doc, dict) or "code" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["code"] != OK:
            return Rejected(child.client_order_id, str(doc["code"]), str(doc.get("msg", "")), now_ns)
        return doc


def _compact(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))
