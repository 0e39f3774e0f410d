"""Bybit v5 order entry (REST): create, lookup, executions, cancel; spot (`category=spot`) and
USDT/USDC perps (a `-PERP` child: `category=linear`, BTC-USDT-PERP -> BTCUSDT, BTC-USDC-PERP -> BTCPERP).

`orderLinkId` (at most 36 of letters, digits, `-`, `_`) is our UUID client order id as is.
A create reply only acknowledges; executions are read from `/v5/execution/list` by execId.
Spot market buys are sized in the quote coin unless `marketUnit` says base; linear sizes are
always in the base coin (no `marketUnit`).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.bybit import signing
from services.edges.bybit.adapter import perp_to_venue, spot_to_venue
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Filled, Outcome, Rejected
from services.edges.transport import (
    OrderState,
    SignedRequest,
    VenueOrders,
    VenueReply,
    hex_client_id,
    json_body,
    venue_fee,
)
from services.vault import Credentials

TIME_PATH = "/v5/market/time"
TIMESTAMP_OUTSIDE_WINDOW = "10002"  # "invalid request, please check your server timestamp or recv_window param"
CREATE_PATH = "/v5/order/create"
ORDER_PATH = "/v5/order/realtime"
EXECUTIONS_PATH = "/v5/execution/list"
CANCEL_PATH = "/v5/order/cancel"
DUPLICATE_LINK_ID = "110072"  # "OrderLinkedID is duplicate"
UNKNOWN_ORDER = "order_not_found"  # our code: the lookup listed no such order
OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered", "Created"})
_LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_TIF = {"gtc": "GTC", "day": "GTC", "ioc": "IOC", "fok": "FOK"}


def _market(child: ChildAllocated) -> tuple[str, str]:
    """(category, venue symbol) of the child's market."""
    if child.symbol.endswith("-PERP"):
        return "linear", perp_to_venue(child.symbol)
    return "spot", spot_to_venue(child.symbol)


class BybitOrders(VenueOrders):
    venue = "bybit"

    def time_request(self) -> SignedRequest:
        return SignedRequest("GET", TIME_PATH)

    def parse_time(self, reply: VenueReply) -> int:
        doc = json_body(reply)
        result = doc.get("result") if isinstance(doc, dict) else None
        if not isinstance(result, dict) or "timeNano" not in result:
            raise ValueError("bybit: time reply without timeNano")
        return int(result["timeNano"]) // 1_000_000

    def is_clock_refusal(self, rejected: Rejected) -> bool:
        return rejected.code == TIMESTAMP_OUTSIDE_WINDOW

    def client_id(self, client_order_id: str) -> str:
        return client_order_id if _LINK_ID.fullmatch(client_order_id) else hex_client_id(client_order_id)

    def _request(self, method: str, path: str, creds: Credentials, now_ms: int, *, query: str = "",
                 body: str = "") -> SignedRequest:
        headers = signing.headers(creds.api_key, creds.api_secret, str(now_ms), query if method == "GET" else body)
        return SignedRequest(method, path, query=query, body=body, headers=headers)

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        category, symbol = _market(child)
        order = {
            "category": category,
            "symbol": symbol,
            "side": child.side.capitalize(),
            "orderType": child.order_type.capitalize(),
            "qty": wire_decimal(child.qty_1e8, 8),
        }
        if child.order_type == "market":
            if category == "spot":
                order["marketUnit"] = "baseCoin"
        else:
            order["timeInForce"] = _TIF[child.tif]
            if child.limit_px_1e9 is not None:
                order["price"] = wire_decimal(child.limit_px_1e9, 9)
        order["orderLinkId"] = self.client_id(child.client_order_id)
        return self._request("POST", CREATE_PATH, creds, now_ms, body=json.dumps(order, separators=(",", ":")))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        result = self._result(child, reply, now_ns)
        if isinstance(result, Rejected):
            return [result]
        doc = json_body(reply)
        return [Acked(child.client_order_id, str(result["orderId"]), ms_to_ns(doc.get("time") or now_ns // 10**6))]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_LINK_ID

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        category, symbol = _market(child)
        params = {"category": category, "orderLinkId": self.client_id(child.client_order_id)}
        query = urlencode(params if category == "spot" else {**params, "symbol": symbol})
        return self._request("GET", ORDER_PATH, creds, now_ms, query=query)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        result = self._result(child, reply, now_ns)
        if isinstance(result, Rejected):
            return result
        orders = result.get("list") or []
        if not orders:
            return Rejected(child.client_order_id, UNKNOWN_ORDER, "bybit lists no such order", now_ns)
        order = orders[0]
        status = str(order.get("orderStatus", ""))
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "ioc_remainder" if ioc and status in ("Cancelled", "PartiallyFilledCanceled") else status.lower()
        return OrderState(str(order["orderId"]), status in OPEN_STATUSES, qty_1e8(order.get("cumExecQty") or "0"),
                          reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("GET", EXECUTIONS_PATH, creds, now_ms,
                             query=urlencode({"category": _market(child)[0], "orderId": venue_order_id}))

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        result = self._result(child, reply, now_ns)
        if isinstance(result, Rejected):
            return []
        outcomes: list[Outcome] = []
        for e in result.get("list") or []:
            px = px_1e9(e["execPrice"])
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=str(e["orderId"]), fill_id=str(e["execId"]),
                symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(e["execQty"]), px_1e9=px,
                **venue_fee(Decimal(e.get("execFee") or "0"), e.get("feeCurrency", ""), child.symbol, px),
                liquidity="maker" if e.get("isMaker") else "taker",
                ts_ns=ms_to_ns(e["execTime"]) if e.get("execTime") else now_ns,
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        category, symbol = _market(child)
        body = json.dumps({"category": category, "symbol": symbol, "orderId": venue_order_id}, separators=(",", ":"))
        return self._request("POST", CANCEL_PATH, creds, now_ms, body=body)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        result = self._result(child, reply, now_ns)
        return result if isinstance(result, Rejected) else None

    def _result(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> dict | Rejected:
        doc = json_body(reply)
        if not isinstance(doc, dict) or "retCode" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["retCode"] != 0:
            return Rejected(child.client_order_id, str(doc["retCode"]), str(doc.get("retMsg", "")), now_ns)
        return doc.get("result") or {}


BybitSpotOrders = BybitOrders  # the name before linear entry
