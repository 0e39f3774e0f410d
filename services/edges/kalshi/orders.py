"""Kalshi order entry (Trade API v2, RSA-PSS signed headers): create, native amend, cancel,
lookups, fills, balance, positions, and the batched create (at most 20 orders).

Credentials: `api_key` is the API key id, `api_secret` its RSA private key (PEM). The REST base
URL ends in `/trade-api/v2`; request paths here are relative to it, and the signature covers the
full path from `/trade-api/v2` without the query string, as Kalshi checks it.

Symbols are `<TICKER>:YES` / `<TICKER>:NO`: a child buys or sells that leg (`side` yes|no,
`action` buy|sell) at its own leg's price (`yes_price_dollars` / `no_price_dollars`). Quantities
are contracts (whole; the venue's `count`), prices dollars in (0, 1). A market child becomes an
IOC limit at the leg's worst price (0.99 to buy, 0.01 to sell): a binary contract cannot trade
beyond it, so the collar bounds the cost exactly. `client_order_id` is our UUID unchanged, so
a resend is refused as a duplicate and then followed.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.budget import Cost
from services.edges.kalshi import signing
from services.edges.kalshi.adapter import NO, YES, to_venue_symbol
from services.edges.numbers import px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Outcome, Rejected
from services.edges.timefmt import rfc3339_ns
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

API_PREFIX = "/trade-api/v2"  # signed as part of every path
ORDERS_PATH = "/portfolio/orders"
BATCH_PATH = "/portfolio/orders/batched"
FILLS_PATH = "/portfolio/fills"
BALANCE_PATH = "/portfolio/balance"
POSITIONS_PATH = "/portfolio/positions"
MAX_BATCH = 20  # orders per batched create
DUPLICATE_ORDER = "order_already_exists"  # [verify] the code of a reused client_order_id (HTTP 409)
NOT_FOUND = "not_found"
OPEN_STATUSES = frozenset({"resting", "pending"})
_TIF = {"gtc": "good_till_canceled", "ioc": "immediate_or_cancel", "fok": "fill_or_kill"}
_ONE_1E9 = 10**9
_COLLAR = {"buy": 99 * 10**7, "sell": 10**7}  # 0.99 / 0.01: the leg's worst price
_JSON = {"Content-Type": "application/json"}


def leg(symbol: str) -> tuple[str, str]:
    """`KX-1:YES` -> (`KX-1`, "yes")."""
    return to_venue_symbol(symbol), "yes" if symbol.endswith(YES) else "no"


def leg_symbol(ticker: str, side: str) -> str:
    return ticker + (YES if side == "yes" else NO)


def price_dollars(px_1e9: int) -> str:
    """Kalshi's fixed-point dollar string: 4 dp (finer ticks exist on some markets, up to 6)."""
    if not 0 < px_1e9 < _ONE_1E9 or px_1e9 % 1000:
        raise UnsupportedOrder(f"kalshi: price {wire_decimal(px_1e9, 9)} is not a dollar price in (0, 1) at 1e-6")
    text = wire_decimal(px_1e9, 9)
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(4, '0')}"


def contracts(qty: int) -> int:
    if qty % 10**8:
        raise UnsupportedOrder(f"kalshi: {wire_decimal(qty, 8)} is not a whole number of contracts")
    return qty // 10**8


def request_cost(request: SignedRequest) -> Cost:
    """Kalshi budgets reads and writes apart; each order of a batch is one write [verify]."""
    if request.method == "GET":
        return Cost(1, 0)
    if request.path == BATCH_PATH:
        return Cost(0, max(request.body.count('"ticker"'), 1))
    return Cost(0, 1)


class KalshiOrders(VenueOrders):
    venue = "kalshi"

    def client_id(self, client_order_id: str) -> str:
        return str(uuid.UUID(hex_client_id(client_order_id)))

    # --- signing ------------------------------------------------------------------------------
    def _signed(self, method: str, path: str, creds: Credentials, now_ms: int, *, query: dict[str, str] | None = None,
                body: dict[str, Any] | None = None) -> SignedRequest:
        headers = signing.headers(creds.api_key, creds.api_secret, str(now_ms), method, API_PREFIX + path)
        text = ""
        if body is not None:
            text = json.dumps(body, separators=(",", ":"))
            headers.update(_JSON)
        return SignedRequest(method, path, urlencode(query or {}), text, headers)

    # --- create -------------------------------------------------------------------------------
    def order_body(self, child: ChildAllocated) -> dict[str, Any]:
        ticker, side = leg(child.symbol)
        action = "buy" if child.side == "buy" else "sell"
        if child.order_type == "market" or child.limit_px_1e9 is None:
            px, tif = _COLLAR[action], "ioc"
        else:
            px, tif = child.limit_px_1e9, child.tif
        if tif not in _TIF:
            raise UnsupportedOrder(f"kalshi: no {tif} time in force (use an expiration instead)")
        body: dict[str, Any] = {
            "ticker": ticker, "client_order_id": self.client_id(child.client_order_id), "side": side,
            "action": action, "count": contracts(child.qty_1e8), "type": "limit",
            f"{side}_price_dollars": price_dollars(px), "time_in_force": _TIF[tif],
        }
        if child.post_only:
            body["post_only"] = True
        return body

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("POST", ORDERS_PATH, creds, now_ms, body=self.order_body(child))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []  # the venue cannot say: looked up by the transport
        doc = json_body(reply)
        if reply.status not in (200, 201) or not isinstance(doc, dict) or not isinstance(doc.get("order"), dict):
            return [self._rejected(child, reply, doc, now_ns)]
        return self._order_outcomes(child, doc["order"], now_ns)

    def _order_outcomes(self, child: ChildAllocated, order: dict[str, Any], now_ns: int) -> list[Outcome]:
        """Acked, and the end of an order that did not rest (fills are read from /fills)."""
        oid = str(order["order_id"])
        outcomes: list[Outcome] = [Acked(child.client_order_id, oid, now_ns)]
        state = _state(child, order)
        if not state.is_open and state.filled_qty_1e8 < child.qty_1e8 and state.filled_qty_1e8 == 0:
            outcomes.append(Cancelled(child.client_order_id, oid, 0, child.qty_1e8, state.reason, now_ns))
        return outcomes

    # --- batched create (<= 20; every item is checked before any is placed) --------------------
    def batch_new_orders(self, children: list[ChildAllocated], creds: Credentials, now_ms: int) -> SignedRequest:
        if not 0 < len(children) <= MAX_BATCH:
            raise UnsupportedOrder(f"kalshi: a batch holds 1 to {MAX_BATCH} orders, not {len(children)}")
        orders = [self.order_body(child) for child in children]  # one unsupported child refuses the batch
        return self._signed("POST", BATCH_PATH, creds, now_ms, body={"orders": orders})

    def parse_batch_new_orders(self, children: list[ChildAllocated], reply: VenueReply,
                               now_ns: int) -> list[list[Outcome]]:
        """One list of outcomes per child, in order; an empty list: unknown (look it up)."""
        doc = json_body(reply)
        items = doc.get("orders") if isinstance(doc, dict) else None
        if reply.status >= 500:
            return [[] for _ in children]
        if reply.status not in (200, 201) or not isinstance(items, list) or len(items) != len(children):
            refused = self._rejected(children[0], reply, doc, now_ns)
            return [[Rejected(c.client_order_id, refused.code, refused.message, now_ns)] for c in children]
        results: list[list[Outcome]] = []
        for child, item in zip(children, items, strict=True):
            if isinstance(item, dict) and isinstance(item.get("order"), dict):
                results.append(self._order_outcomes(child, item["order"], now_ns))
            else:
                error = item.get("error") if isinstance(item, dict) else None
                error = error if isinstance(error, dict) else {}
                results.append([Rejected(child.client_order_id, str(error.get("code", "batch_error")),
                                         str(error.get("message", "")), now_ns)])
        return results

    # --- native amend -------------------------------------------------------------------------
    def amend_request(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                      creds: Credentials, now_ms: int) -> SignedRequest:
        """`new_qty_1e8` is the new total (filled included), as Kalshi's `count` is."""
        ticker, side = leg(child.symbol)
        coid = self.client_id(child.client_order_id)
        body = {
            "ticker": ticker, "side": side, "action": "buy" if child.side == "buy" else "sell",
            "client_order_id": coid, "updated_client_order_id": coid,  # the same id: lookups keep working
            f"{side}_price_dollars": price_dollars(new_px_1e9), "count": contracts(new_qty_1e8),
        }
        return self._signed("POST", f"{ORDERS_PATH}/{venue_order_id}/amend", creds, now_ms, body=body)

    def parse_amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                    reply: VenueReply, now_ns: int) -> Amended | Rejected:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("order"), dict):
            return self._rejected(child, reply, doc, now_ns)
        order = doc["order"]
        _, side = leg(child.symbol)
        total = count_1e8(order, "fill_count") + count_1e8(order, "remaining_count")
        return Amended(child.client_order_id, str(order["order_id"]), total,
                       px_1e9(order[f"{side}_price_dollars"]), "native_atomic", None, now_ns)

    # --- lookups ------------------------------------------------------------------------------
    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_ORDER

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == NOT_FOUND

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        # Orders are listed by market; ours is found by its client_order_id among them.
        return self._signed("GET", ORDERS_PATH, creds, now_ms,
                            query={"ticker": leg(child.symbol)[0], "limit": "1000"})

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("orders"), list):
            return self._rejected(child, reply, doc, now_ns)
        coid = self.client_id(child.client_order_id)
        found = [o for o in doc["orders"] if o.get("client_order_id") == coid]
        if not found:
            return Rejected(child.client_order_id, NOT_FOUND, "kalshi lists no order with this client_order_id", now_ns)
        return _state(child, found[0])

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", ORDERS_PATH, creds, now_ms, query={"status": "resting", "limit": "1000"})

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = json_body(reply)
        if not isinstance(doc, dict) or not isinstance(doc.get("orders"), list):
            raise ValueError("kalshi: orders reply without orders")
        return [str(o["client_order_id"]) for o in doc["orders"] if o.get("status") in OPEN_STATUSES]

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", FILLS_PATH, creds, now_ms, query={"order_id": venue_order_id, "limit": "1000"})

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("fills"), list):
            return []
        return [fill_outcome(child.client_order_id, f, now_ns) for f in doc["fills"]
                if str(f.get("order_id")) == venue_order_id]

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("DELETE", f"{ORDERS_PATH}/{venue_order_id}", creds, now_ms)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = json_body(reply)
        if reply.status == 200 and isinstance(doc, dict) and isinstance(doc.get("order"), dict):
            return None
        return self._rejected(child, reply, doc, now_ns)

    # --- account ------------------------------------------------------------------------------
    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", BALANCE_PATH, creds, now_ms)

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        """The cash balance in USD (Kalshi answers integer cents)."""
        doc = json_body(reply)
        if not isinstance(doc, dict) or not isinstance(doc.get("balance"), int):
            raise ValueError("kalshi: balance reply without a balance")
        return {"USD": Decimal(doc["balance"]) / 100}

    def positions_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._signed("GET", POSITIONS_PATH, creds, now_ms, query={"count_filter": "position", "limit": "1000"})

    def parse_positions(self, reply: VenueReply) -> dict[str, Decimal]:
        """Contracts held per leg symbol, the ledger's asset for them (Kalshi: `position` > 0 is
        YES, < 0 is NO)."""
        doc = json_body(reply)
        rows = doc.get("market_positions") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise ValueError("kalshi: positions reply without market_positions")
        held: dict[str, Decimal] = {}
        for row in rows:
            qty = Decimal(str(row["position_fp"])) if "position_fp" in row else Decimal(int(row["position"]))
            if qty:
                held[leg_symbol(row["ticker"], "yes" if qty > 0 else "no")] = abs(qty)
        return held

    def _rejected(self, child: ChildAllocated, reply: VenueReply, doc: object, now_ns: int) -> Rejected:
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict) and "code" in error:
            return Rejected(child.client_order_id, str(error["code"]), str(error.get("message", "")), now_ns)
        return self.unexpected_reply(child, reply, now_ns)


def count_1e8(order: dict[str, Any], name: str) -> int:
    """A count as qty_1e8: the fixed-point `<name>_fp` when sent, else the integer field."""
    if order.get(f"{name}_fp") is not None:
        return qty_1e8(str(order[f"{name}_fp"]))
    return int(order.get(name) or 0) * 10**8


def _state(child: ChildAllocated, order: dict[str, Any]) -> OrderState:
    status = str(order.get("status", ""))
    is_open = status in OPEN_STATUSES
    reason = "ioc_remainder" if status == "canceled" and (child.tif in ("ioc", "fok") or child.order_type == "market") \
        else status
    return OrderState(str(order["order_id"]), is_open, count_1e8(order, "fill_count"), reason)


def fill_outcome(client_order_id: str, fill: dict[str, Any], now_ns: int) -> Filled:
    """A Kalshi fill (REST `/portfolio/fills` row or the `fill` channel's msg) as `Filled` on the
    leg it bought or sold: the price is that leg's (`no` = 1 - yes), the fee is `fee_cost` USD.
    Both carry `trade_id`, the fill id here, so a fill seen on both paths is recorded once."""
    side = str(fill["side"])
    yes_px = px_1e9(str(fill["yes_price_dollars"]))
    px = yes_px if side == "yes" else _ONE_1E9 - yes_px
    qty = qty_1e8(str(fill["count_fp"])) if fill.get("count_fp") is not None else int(fill["count"]) * 10**8
    ticker = str(fill.get("ticker") or fill.get("market_ticker"))
    symbol = leg_symbol(ticker, side)
    if fill.get("ts_ms") is not None:
        ts = int(fill["ts_ms"]) * 1_000_000
    elif fill.get("created_time"):
        ts = rfc3339_ns(str(fill["created_time"]))
    else:
        ts = now_ns
    return Filled(
        client_order_id=client_order_id, venue_order_id=str(fill["order_id"]),
        fill_id=str(fill["trade_id"]), symbol=symbol,
        side="buy" if fill["action"] == "buy" else "sell", qty_1e8=qty, px_1e9=px,
        **venue_fee(Decimal(str(fill.get("fee_cost") or "0")), "USD", symbol, px),
        liquidity="taker" if fill.get("is_taker") else "maker", ts_ns=ts,
    )
