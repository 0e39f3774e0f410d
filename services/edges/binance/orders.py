"""Binance order entry (REST, SIGNED): new order, lookup, trades, cancel; spot on /api/v3 and
USD-M perps (a `-PERP` child, e.g. BTC-USDT-PERP -> BTCUSDT) on /fapi/v1, same signing.

Requests carry `newClientOrderId` = our client order id (a UUID fits Binance's 36-character
`[.A-Z:/a-z0-9_-]` rule unchanged), so a resend is refused as a duplicate rather than placed.
New orders ask for the FULL reply: immediate fills come back with their trade ids, which are
the same ids `myTrades` lists later, so fills dedup across both paths. USD-M has no FULL
reply: a new perp order only acknowledges, and its fills and end are read from `userTrades` and
the order lookup (one path, so an IOC's remainder is never closed before its fills are read).
USD-M lives on its own host (fapi.binance.com): perp requests carry it in `SignedRequest.host`.
"""

from __future__ import annotations

import re
from decimal import Decimal

from events.routing import ChildAllocated
from services.edges.binance import signing
from services.edges.binance.adapter import BinanceSpot, BinanceUsdm
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected
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

RECV_WINDOW_MS = "5000"
ORDER_PATH = "/api/v3/order"
TRADES_PATH = "/api/v3/myTrades"
ACCOUNT_PATH = "/api/v3/account"
OPEN_ORDERS_PATH = "/api/v3/openOrders"
USDM_ORDER_PATH = "/fapi/v1/order"
USDM_TRADES_PATH = "/fapi/v1/userTrades"
TIME_PATH = "/api/v3/time"
OUTSIDE_RECV_WINDOW = "-1021"  # "Timestamp for this request is outside of the recvWindow."
UNKNOWN_ORDER = "-2013"  # "Order does not exist."
DUPLICATE_ORDER = "-2010"  # "Duplicate order sent." (new order rejected; also other -2010 texts)
USDM_DUPLICATE_ORDER = "-4116"  # USD-M: "ClientOrderId is duplicated."
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED", "PENDING_NEW", "PENDING_CANCEL"})
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_TIF = {"gtc": "GTC", "ioc": "IOC", "fok": "FOK", "day": "GTC"}  # no DAY on a 24/7 venue


class BinanceOrders(VenueOrders):
    venue = "binance"

    def __init__(self, usdm_host: str = "") -> None:
        """`usdm_host`: where the USD-M API is (a base URL); "" = the same host as spot (a local
        server speaking both)."""
        self.symbols = BinanceSpot()
        self.perps = BinanceUsdm()
        self.usdm_host = usdm_host

    def _market(self, child: ChildAllocated) -> tuple[str, str, str]:
        """(venue symbol, order path, trades path) of the child's market: spot or USD-M."""
        if child.symbol.endswith("-PERP"):
            return self.perps.to_venue(child.symbol), USDM_ORDER_PATH, USDM_TRADES_PATH
        return self.symbols.to_venue(child.symbol), ORDER_PATH, TRADES_PATH

    def time_request(self) -> SignedRequest:
        return SignedRequest("GET", TIME_PATH)

    def parse_time(self, reply: VenueReply) -> int:
        doc = json_body(reply)
        if not isinstance(doc, dict) or not isinstance(doc.get("serverTime"), int):
            raise ValueError("binance: time reply without serverTime")
        return int(doc["serverTime"])

    def is_clock_refusal(self, rejected: Rejected) -> bool:
        return rejected.code == OUTSIDE_RECV_WINDOW

    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", ACCOUNT_PATH, [("omitZeroBalances", "true")], creds, now_ms)

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        doc = json_body(reply)
        rows = doc.get("balances") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError("binance: account reply without balances")
        return {row["asset"]: Decimal(row["free"]) + Decimal(row["locked"]) for row in rows}

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", OPEN_ORDERS_PATH, [], creds, now_ms)

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = json_body(reply)
        if not isinstance(doc, list):
            raise ValueError("binance: openOrders reply is not a list")
        return [str(row["clientOrderId"]) for row in doc]

    def client_id(self, client_order_id: str) -> str:
        return client_order_id if _CLIENT_ID.fullmatch(client_order_id) else hex_client_id(client_order_id)

    def _signed(self, method: str, path: str, params: list[tuple[str, str]], creds: Credentials,
                now_ms: int) -> SignedRequest:
        params = [*params, ("recvWindow", RECV_WINDOW_MS), ("timestamp", str(now_ms))]
        signed = signing.signed_query(creds.api_secret, params)
        headers = {signing.API_KEY_HEADER: creds.api_key}
        host = self.usdm_host if path.startswith("/fapi/") else ""
        if method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return SignedRequest(method, path, body=signed, headers=headers, host=host)
        return SignedRequest(method, path, query=signed, headers=headers, host=host)

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        symbol, order_path, _ = self._market(child)
        params = [
            ("symbol", symbol),
            ("side", child.side.upper()),
            ("type", child.order_type.upper()),
        ]
        if child.order_type == "limit":
            params.append(("timeInForce", _TIF[child.tif]))
        params.append(("quantity", wire_decimal(child.qty_1e8, 8)))
        if child.order_type == "limit" and child.limit_px_1e9 is not None:
            params.append(("price", wire_decimal(child.limit_px_1e9, 9)))
        # USD-M has no FULL reply (no fills in it): RESULT, and fills come from userTrades.
        reply_type = "RESULT" if order_path == USDM_ORDER_PATH else "FULL"
        params += [("newClientOrderId", self.client_id(child.client_order_id)), ("newOrderRespType", reply_type)]
        return self._signed("POST", order_path, params, creds, now_ms)

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status >= 500:
            return []  # unknown: the order may or may not exist
        if reply.status != 200 or not isinstance(doc, dict) or "orderId" not in doc:
            return [self._rejected(child, reply, doc, now_ns)]
        venue_order_id = str(doc["orderId"])
        ts = ms_to_ns(doc.get("transactTime", doc.get("updateTime", now_ns // 1_000_000)))
        outcomes: list[Outcome] = [Acked(child.client_order_id, venue_order_id, ts)]
        if "fills" not in doc:  # USD-M: fills and the end are read back (userTrades, lookup)
            return outcomes
        for fill in doc.get("fills", []):
            outcomes.append(self._fill(child, venue_order_id, str(fill["tradeId"]), fill["price"], fill["qty"],
                                       fill["commission"], fill["commissionAsset"], "taker", ts))
        filled = qty_1e8(doc.get("executedQty", "0"))
        if doc.get("status") not in OPEN_STATUSES and filled < child.qty_1e8:
            outcomes.append(Cancelled(child.client_order_id, venue_order_id, filled, child.qty_1e8 - filled,
                                      _end_reason(child, doc.get("status", "")), ts))
        return outcomes

    def is_duplicate(self, rejected: Rejected) -> bool:
        return (rejected.code in (DUPLICATE_ORDER, USDM_DUPLICATE_ORDER)
                and "duplicate" in rejected.message.lower())

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        symbol, order_path, _ = self._market(child)
        params = [("symbol", symbol), ("origClientOrderId", self.client_id(child.client_order_id))]
        return self._signed("GET", order_path, params, creds, now_ms)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or "orderId" not in doc:
            return self._rejected(child, reply, doc, now_ns)
        status = str(doc.get("status", ""))
        return OrderState(str(doc["orderId"]), status in OPEN_STATUSES, qty_1e8(doc.get("executedQty", "0")),
                          _end_reason(child, status))

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        symbol, _, trades_path = self._market(child)
        return self._signed("GET", trades_path, [("symbol", symbol), ("orderId", venue_order_id)], creds, now_ms)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, list):
            return []
        return [
            self._fill(child, str(t["orderId"]), str(t["id"]), t["price"], t["qty"], t["commission"],
                       t["commissionAsset"], "maker" if t.get("isMaker", t.get("maker")) else "taker",
                       ms_to_ns(t["time"]))
            for t in doc
        ]

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        symbol, order_path, _ = self._market(child)
        params = [("symbol", symbol), ("origClientOrderId", self.client_id(child.client_order_id))]
        return self._signed("DELETE", order_path, params, creds, now_ms)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = json_body(reply)
        if reply.status == 200 and isinstance(doc, dict) and "orderId" in doc:
            return None
        return self._rejected(child, reply, doc, now_ns)

    def _fill(self, child: ChildAllocated, venue_order_id: str, trade_id: str, price: str, qty: str,
              commission: str, commission_asset: str, liquidity: str, ts_ns: int) -> Filled:
        px = px_1e9(price)
        return Filled(
            client_order_id=child.client_order_id, venue_order_id=venue_order_id, fill_id=trade_id,
            symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(qty), px_1e9=px,
            **venue_fee(Decimal(commission), commission_asset, child.symbol, px),
            liquidity="maker" if liquidity == "maker" else "taker", ts_ns=ts_ns,
        )

    def _rejected(self, child: ChildAllocated, reply: VenueReply, doc: object, now_ns: int) -> Rejected:
        if isinstance(doc, dict) and "code" in doc:
            return Rejected(child.client_order_id, str(doc["code"]), str(doc.get("msg", "")), now_ns)
        return self.unexpected_reply(child, reply, now_ns)


BinanceSpotOrders = BinanceOrders  # the name before USD-M entry


def _end_reason(child: ChildAllocated, status: str) -> str:
    if status in ("EXPIRED", "EXPIRED_IN_MATCH") and (child.order_type == "market" or child.tif in ("ioc", "fok")):
        return "ioc_remainder"
    return status.lower()
