"""Coinbase Advanced Trade order entry (REST, CDP JWT): create, lookup, fills, cancel, edit.

Every request carries a fresh ES256 JWT whose `uri` claim names method, host and path (no
query), so the JWT is built per request. `client_order_id` is our UUID client order id as
Coinbase's canonical UUID text: a resend carries the same id. Coinbase looks orders up by its
own order id only, so the order of a client id is found in the product's order list (newest
first, from the child's allocation time on). Sizes go as `base_size` (never quote-sized).
Native amend: `orders/edit` (limit GTC only: price and size), reported as `native_atomic`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.coinbase import signing
from services.edges.coinbase.adapter import CoinbaseAdapter
from services.edges.numbers import px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Amended, AmendMode, Filled, Outcome, Rejected
from services.edges.timefmt import rfc3339_ns
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

HOST = "api.coinbase.com"  # the `uri` claim names the venue's host, whatever URL carries it
ORDERS_PATH = "/api/v3/brokerage/orders"
LIST_PATH = "/api/v3/brokerage/orders/historical/batch"
FILLS_PATH = "/api/v3/brokerage/orders/historical/fills"
CANCEL_PATH = "/api/v3/brokerage/orders/batch_cancel"
EDIT_PATH = "/api/v3/brokerage/orders/edit"
ACCOUNTS_PATH = "/api/v3/brokerage/accounts"
NOT_FOUND = "NOT_FOUND"  # our code for a client id absent from the venue's order list
DUPLICATE = "DUPLICATE_CLIENT_ORDER_ID"  # [verify] the error word for a reused client_order_id
OPEN_STATUSES = frozenset({"OPEN", "PENDING", "QUEUED", "CANCEL_QUEUED"})
LOOKBACK = timedelta(minutes=5)  # list orders from a little before the allocation (clock skew)


class CoinbaseOrders(VenueOrders):
    venue = "coinbase"
    amend_mode: AmendMode = "native_atomic"

    def __init__(self, host: str = HOST) -> None:
        self.host = host
        self.symbols = CoinbaseAdapter()

    def client_id(self, client_order_id: str) -> str:
        return uuid_client_id(client_order_id)

    def _product(self, child: ChildAllocated) -> str:
        if child.symbol.endswith("-PERP"):
            raise UnsupportedOrder(f"coinbase: {child.symbol} is an INTX perp; only spot is supported")
        return self.symbols.to_venue(child.symbol)

    def _request(self, method: str, path: str, creds: Credentials, now_ms: int, *, query: str = "",
                 body: str = "") -> SignedRequest:
        token = signing.build_jwt(creds.api_key, creds.api_secret, now_ms // 1000,
                                  signing.request_uri(method, self.host, path))
        headers = {"Authorization": f"Bearer {token}"}
        if body:
            headers["Content-Type"] = "application/json"
        return SignedRequest(method, path, query=query, body=body, headers=headers)

    # --- new order --------------------------------------------------------------------------
    def order_configuration(self, child: ChildAllocated) -> dict[str, dict[str, object]]:
        size = wire_decimal(child.qty_1e8, 8)
        if child.order_type == "market":
            return {"market_market_ioc": {"base_size": size}}
        if child.limit_px_1e9 is None:
            raise UnsupportedOrder("coinbase: a limit order needs a price")
        price = wire_decimal(child.limit_px_1e9, 9)
        if child.tif == "ioc":
            return {"sor_limit_ioc": {"base_size": size, "limit_price": price}}
        if child.tif == "fok":
            return {"limit_limit_fok": {"base_size": size, "limit_price": price}}
        return {"limit_limit_gtc": {"base_size": size, "limit_price": price, "post_only": False}}  # gtc, day

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        body = {
            "client_order_id": self.client_id(child.client_order_id),
            "product_id": self._product(child),
            "side": child.side.upper(),
            "order_configuration": self.order_configuration(child),
        }
        return self._request("POST", ORDERS_PATH, creds, now_ms, body=_compact(body))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []  # unknown: the order may or may not exist
        doc = json_body(reply)
        if not isinstance(doc, dict):
            return [self.unexpected_reply(child, reply, now_ns)]
        if doc.get("success") is True and isinstance(doc.get("success_response"), dict):
            # The create reply only acknowledges; fills are read from the fills endpoint.
            return [Acked(child.client_order_id, str(doc["success_response"]["order_id"]), now_ns)]
        return [self._rejected(child, reply, doc, now_ns)]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE or "duplicate" in rejected.message.lower()

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == NOT_FOUND

    # --- lookups ----------------------------------------------------------------------------
    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        since = datetime.fromtimestamp(child.ts_ns // 1_000_000_000, UTC) - LOOKBACK
        query = urlencode({"product_ids": self._product(child), "start_date": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "limit": "250"})
        return self._request("GET", LIST_PATH, creds, now_ms, query=query)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("orders"), list):
            return self._rejected(child, reply, doc, now_ns)
        ours = self.client_id(child.client_order_id)
        found = next((o for o in doc["orders"] if o.get("client_order_id") == ours), None)
        if found is None:
            return Rejected(child.client_order_id, NOT_FOUND, "no order with this client_order_id", now_ns)
        return self.order_state(child, found)

    def order_state(self, child: ChildAllocated, order: dict) -> OrderState:
        status = str(order.get("status", ""))
        is_open = status in OPEN_STATUSES
        filled = qty_1e8(order.get("filled_size") or "0")
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "ioc_remainder" if not is_open and ioc and status in ("CANCELLED", "EXPIRED", "FILLED") else status.lower()
        return OrderState(str(order["order_id"]), is_open, filled, reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        query = urlencode({"order_ids": venue_order_id, "limit": "250"})
        return self._request("GET", FILLS_PATH, creds, now_ms, query=query)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("fills"), list):
            return []
        return [self.fill(child, f, now_ns) for f in doc["fills"] if str(f.get("order_id")) == venue_order_id]

    def fill(self, child: ChildAllocated, f: dict, now_ns: int) -> Filled:
        """One row of the fills endpoint. The commission is in the quote currency."""
        price = Decimal(f["price"])
        size = Decimal(f["size"])
        if f.get("size_in_quote"):
            size = size / price
        px = px_1e9(price)
        quote = str(f.get("product_id") or self._product(child)).split("-")[1]
        return Filled(
            client_order_id=child.client_order_id, venue_order_id=str(f["order_id"]), fill_id=str(f["trade_id"]),
            symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(size), px_1e9=px,
            **venue_fee(Decimal(f.get("commission") or "0"), quote, child.symbol, px),
            liquidity="maker" if f.get("liquidity_indicator") == "MAKER" else "taker",
            ts_ns=rfc3339_ns(f.get("trade_time") or "") or now_ns,
        )

    # --- cancel and edit --------------------------------------------------------------------
    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("POST", CANCEL_PATH, creds, now_ms, body=_compact({"order_ids": [venue_order_id]}))

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = json_body(reply)
        results = doc.get("results") if isinstance(doc, dict) else None
        if reply.status != 200 or not isinstance(results, list) or not results:
            return self._rejected(child, reply, doc, now_ns)
        if results[0].get("success") is True:
            return None
        reason = str(results[0].get("failure_reason", "UNKNOWN_CANCEL_FAILURE_REASON"))
        return Rejected(child.client_order_id, reason, "cancel refused", now_ns)

    def amend_request(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                      creds: Credentials, now_ms: int) -> SignedRequest:
        """Native edit of a resting limit GTC order: the new price and total size (filled included)."""
        body = {"order_id": venue_order_id, "price": wire_decimal(new_px_1e9, 9), "size": wire_decimal(new_qty_1e8, 8)}
        return self._request("POST", EDIT_PATH, creds, now_ms, body=_compact(body))

    def parse_amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                    reply: VenueReply, now_ns: int) -> Amended | Rejected:
        doc = json_body(reply)
        if reply.status == 200 and isinstance(doc, dict) and doc.get("success") is True:
            return Amended(child.client_order_id, venue_order_id, new_qty_1e8, new_px_1e9, self.amend_mode, None, now_ns)
        errors = doc.get("errors") if isinstance(doc, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return Rejected(child.client_order_id, str(errors[0].get("edit_failure_reason", "EDIT_FAILED")),
                            "edit refused", now_ns)
        return self._rejected(child, reply, doc, now_ns)

    # --- reconciliation ---------------------------------------------------------------------
    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("GET", ACCOUNTS_PATH, creds, now_ms, query="limit=250")

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        doc = json_body(reply)
        rows = doc.get("accounts") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError("coinbase: accounts reply without accounts")
        totals: dict[str, Decimal] = {}
        for row in rows:  # total = available + on hold for open orders
            held = Decimal((row.get("hold") or {}).get("value") or "0")
            totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(
                row["available_balance"]["value"]) + held
        return {asset: qty for asset, qty in totals.items() if qty}

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request("GET", LIST_PATH, creds, now_ms, query=urlencode({"order_status": "OPEN", "limit": "250"}))

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = json_body(reply)
        rows = doc.get("orders") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError("coinbase: orders reply without orders")
        return [str(row["client_order_id"]) for row in rows if row.get("status") in OPEN_STATUSES]

    def _rejected(self, child: ChildAllocated, reply: VenueReply, doc: object, now_ns: int) -> Rejected:
        """Create refusals: `error_response{error, message}`; gateway refusals: `{error, message}`."""
        if isinstance(doc, dict):
            err = doc.get("error_response") if isinstance(doc.get("error_response"), dict) else doc
            if isinstance(err, dict) and err.get("error"):
                message = str(err.get("message") or err.get("error_details") or "")
                return Rejected(child.client_order_id, str(err["error"]), message, now_ns)
            if doc.get("failure_reason"):
                return Rejected(child.client_order_id, str(doc["failure_reason"]), "order refused", now_ns)
        return self.unexpected_reply(child, reply, now_ns)


def _compact(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))
