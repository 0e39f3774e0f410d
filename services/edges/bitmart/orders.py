"""BitMart spot order entry (REST): submit, lookup by client id, trades, cancel.

`client_order_id` must be at most 32 letters and digits, so our UUID client order id goes as its
32 hex digits (deterministic: a resend carries the same id and BitMart refuses it, 50042).
Every request is a signed POST whose JSON body is what the signature covers; the memo (kept as
the credentials' passphrase) is part of the signed text. A submit reply only acknowledges;
executions are read from `/spot/v4/query/order-trades`. Spot v2 orders have no fill-or-kill, and
a market buy is sized in the quote asset (`notional`), so a buy is sent as an IOC at the child's
limit price instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal

from events.routing import ChildAllocated
from services.edges.bitmart import signing
from services.edges.bitmart.adapter import to_venue_symbol
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Filled, Outcome, Rejected
from services.edges.transport import (
    OrderState,
    SignedRequest,
    UnsupportedOrder,
    VenueOrders,
    VenueReply,
    hex_client_id,
    json_body,
    venue_fee,
)
from services.vault import Credentials

SUBMIT_PATH = "/spot/v2/submit_order"
ORDER_PATH = "/spot/v4/query/client-order"
TRADES_PATH = "/spot/v4/query/order-trades"
CANCEL_PATH = "/spot/v3/cancel_order"
OK = 1000
DUPLICATE_CLIENT_ID = "50042"  # "clientOrderId is duplicate"
UNKNOWN_ORDER = "50005"  # "Order Id not found"
RECV_WINDOW_MS = 5000
OPEN_STATES = frozenset({"new", "partially_filled"})
_TYPE = {"gtc": "limit", "day": "limit", "ioc": "ioc"}


class BitmartSpotOrders(VenueOrders):
    venue = "bitmart"

    def client_id(self, client_order_id: str) -> str:
        return hex_client_id(client_order_id)

    def _request(self, path: str, creds: Credentials, now_ms: int, doc: Mapping[str, object]) -> SignedRequest:
        if not creds.passphrase:
            raise UnsupportedOrder("bitmart: the stored credentials have no memo (passphrase)")
        body = json.dumps(doc, separators=(",", ":"))
        headers = signing.headers(creds.api_key, creds.api_secret, creds.passphrase, str(now_ms), body)
        return SignedRequest("POST", path, body=body, headers=headers)

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        order: dict[str, str] = {
            "symbol": to_venue_symbol(child.symbol),
            "side": child.side,
            "type": self._order_type(child),
            "client_order_id": self.client_id(child.client_order_id),
            "size": wire_decimal(child.qty_1e8, 8),
        }
        if order["type"] != "market" and child.limit_px_1e9 is not None:
            order["price"] = wire_decimal(child.limit_px_1e9, 9)
        return self._request(SUBMIT_PATH, creds, now_ms, order)

    def _order_type(self, child: ChildAllocated) -> str:
        if child.order_type == "market":
            if child.side == "sell":
                return "market"
            if child.limit_px_1e9 is None:
                raise UnsupportedOrder("bitmart: a market buy is sized in quote (notional); it needs a limit price")
            return "ioc"
        if child.tif == "fok":
            raise UnsupportedOrder("bitmart: spot orders have no fill-or-kill")
        if child.limit_px_1e9 is None:
            raise UnsupportedOrder("bitmart: a limit order needs a price")
        return _TYPE[child.tif]

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        data = self._data(child, reply, now_ns)
        if isinstance(data, Rejected):
            return [data]
        if not isinstance(data, dict) or not data.get("order_id"):
            return [self.unexpected_reply(child, reply, now_ns)]
        return [Acked(child.client_order_id, str(data["order_id"]), now_ns)]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_CLIENT_ID

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        doc = {"clientOrderId": self.client_id(child.client_order_id), "recvWindow": RECV_WINDOW_MS}
        return self._request(ORDER_PATH, creds, now_ms, doc)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        data = self._data(child, reply, now_ns)
        if isinstance(data, Rejected):
            return data
        if not isinstance(data, dict) or not data.get("orderId"):
            return Rejected(child.client_order_id, UNKNOWN_ORDER, "bitmart has no such order", now_ns)
        state = str(data.get("state", ""))
        ended_early = state in ("canceled", "partially_canceled") and _is_ioc(child)
        return OrderState(str(data["orderId"]), state in OPEN_STATES, qty_1e8(data.get("filledSize") or "0"),
                          "ioc_remainder" if ended_early else state)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(TRADES_PATH, creds, now_ms, {"orderId": venue_order_id, "recvWindow": RECV_WINDOW_MS})

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        data = self._data(child, reply, now_ns)
        if not isinstance(data, list):
            return []
        outcomes: list[Outcome] = []
        for t in data:
            px = px_1e9(t["price"])
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=str(t["orderId"]), fill_id=str(t["tradeId"]),
                symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(t["size"]), px_1e9=px,
                **venue_fee(Decimal(t.get("fee") or "0"), t.get("feeCoinName", ""), child.symbol, px),
                liquidity="maker" if t.get("tradeRole") == "maker" else "taker",
                ts_ns=ms_to_ns(t["createTime"]) if t.get("createTime") else now_ns,
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(CANCEL_PATH, creds, now_ms, {"symbol": to_venue_symbol(child.symbol),
                                                          "order_id": venue_order_id})

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        data = self._data(child, reply, now_ns)
        if isinstance(data, Rejected):
            return data
        if not isinstance(data, dict) or data.get("result") is not True:
            return Rejected(child.client_order_id, "cancel_refused", "bitmart did not cancel the order", now_ns)
        return None

    def _data(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> object:
        """The reply's `data`, or the venue's refusal (any code but 1000)."""
        doc = json_body(reply)
        if not isinstance(doc, dict) or "code" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["code"] != OK:
            return Rejected(child.client_order_id, str(doc["code"]), str(doc.get("message", "")), now_ns)
        return doc.get("data")


def _is_ioc(child: ChildAllocated) -> bool:
    return child.order_type == "market" or child.tif == "ioc"
