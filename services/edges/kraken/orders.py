"""Kraken spot order entry (REST /0/private, API-Sign): AddOrder, lookups, trades, cancel, amend.

Bodies are form-encoded and signed over path + SHA256(nonce + body). The nonce must increase
for each key, so it is microseconds of the wall clock, bumped past the last one this object
issued (two requests in one millisecond). `cl_ord_id` is our UUID client order id (Kraken
takes UUIDs as they are); Kraken checks it unique among *open* orders only, so a lookup asks
the open orders first and then the closed ones (`order_status_fallback`). Fills come from
TradesHistory since the child's allocation, filtered by the order's txid. A refused nonce
means the request was not executed: it is treated as an unknown answer (looked up, retried).
Native amend: AmendOrder (`native_atomic`). FOK is not offered on Kraken spot REST here.
"""

from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.kraken import signing
from services.edges.numbers import px_1e9, qty_1e8, wire_decimal
from services.edges.sandbox.orders import Acked, Amended, AmendMode, Filled, Outcome, Rejected
from services.edges.transport import (
    uuid_client_id,
    OrderState,
    SignedRequest,
    UnsupportedOrder,
    VenueOrders,
    VenueReply,
    venue_fee,
)
from services.vault import Credentials

ADD_PATH = "/0/private/AddOrder"
AMEND_PATH = "/0/private/AmendOrder"
CANCEL_PATH = "/0/private/CancelOrder"
OPEN_PATH = "/0/private/OpenOrders"
CLOSED_PATH = "/0/private/ClosedOrders"
TRADES_PATH = "/0/private/TradesHistory"
BALANCE_PATH = "/0/private/Balance"
UNKNOWN_ORDER = "EOrder:Unknown order"
INVALID_NONCE = "EAPI:Invalid nonce"
OPEN_STATUSES = frozenset({"pending", "open"})
LOOKBACK_S = 300  # list closed orders and trades from a little before the allocation
_REST_BASE = {"BTC": "XBT", "DOGE": "XDG"}  # Kraken's REST names for a few assets
# Kraken's classic asset codes in Balance (newer assets are listed under their own name).
ASSET_NAMES = {"XXBT": "BTC", "XBT": "BTC", "XXDG": "DOGE", "XDG": "DOGE", "XETH": "ETH", "XLTC": "LTC",
           "XXRP": "XRP", "XXLM": "XLM", "XXMR": "XMR", "XETC": "ETC", "XZEC": "ZEC", "XMLN": "MLN",
           "XREP": "REP", "ZUSD": "USD", "ZEUR": "EUR", "ZGBP": "GBP", "ZCAD": "CAD", "ZJPY": "JPY",
           "ZAUD": "AUD"}


def asset_name(kraken_asset: str) -> str:
    return ASSET_NAMES.get(kraken_asset, kraken_asset)


def rest_pair(symbol: str) -> str:
    """`BTC-USD` -> `XBTUSD` (the pair's altname)."""
    parts = symbol.split("-")
    if len(parts) != 2 or not all(parts):
        raise UnsupportedOrder(f"kraken: {symbol!r} is not a spot symbol like BTC-USD")
    return _REST_BASE.get(parts[0], parts[0]) + parts[1]


def _doc(reply: VenueReply) -> dict | None:
    """The reply's JSON object, numbers kept exact (Kraken sends times as JSON numbers)."""
    try:
        doc = json.loads(reply.body, parse_float=Decimal)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("error"), list) else None


class KrakenSpotOrders(VenueOrders):
    venue = "kraken"
    amend_mode: AmendMode = "native_atomic"

    def __init__(self) -> None:
        self._last_nonce = 0

    def client_id(self, client_order_id: str) -> str:
        return uuid_client_id(client_order_id)

    def _nonce(self, now_ms: int) -> str:
        self._last_nonce = max(now_ms * 1000, self._last_nonce + 1)
        return str(self._last_nonce)

    def _request(self, path: str, params: list[tuple[str, str]], creds: Credentials, now_ms: int) -> SignedRequest:
        nonce = self._nonce(now_ms)
        body = urlencode([("nonce", nonce), *params])
        return SignedRequest("POST", path, body=body,
                             headers=signing.headers(creds.api_key, creds.api_secret, path, nonce, body))

    def _pair(self, child: ChildAllocated) -> str:
        if child.symbol.endswith("-PERP"):
            raise UnsupportedOrder(f"kraken: {child.symbol} is a futures contract; only spot is supported")
        return rest_pair(child.symbol)

    # --- new order --------------------------------------------------------------------------
    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        params = [("ordertype", "market" if child.order_type == "market" else "limit"), ("type", child.side),
                  ("volume", wire_decimal(child.qty_1e8, 8)), ("pair", self._pair(child))]
        if child.order_type == "limit":
            if child.limit_px_1e9 is None:
                raise UnsupportedOrder("kraken: a limit order needs a price")
            if child.tif == "fok":
                raise UnsupportedOrder("kraken: fill-or-kill is not offered on spot")
            params += [("price", wire_decimal(child.limit_px_1e9, 9)),
                       ("timeinforce", "IOC" if child.tif == "ioc" else "GTC")]
        params.append(("cl_ord_id", self.client_id(child.client_order_id)))
        return self._request(ADD_PATH, params, creds, now_ms)

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []  # unknown: the order may or may not exist
        doc = _doc(reply)
        if doc is None:
            return [self.unexpected_reply(child, reply, now_ns)]
        if doc["error"]:
            if doc["error"][0] == INVALID_NONCE:
                return []  # not executed; the lookup finds nothing and the executor tries again
            return [self._rejected(child, doc, now_ns)]
        txids = (doc.get("result") or {}).get("txid") or []
        if not txids:
            return [self.unexpected_reply(child, reply, now_ns)]
        return [Acked(child.client_order_id, str(txids[0]), now_ns)]  # fills: TradesHistory

    def is_duplicate(self, rejected: Rejected) -> bool:
        return "duplicate" in rejected.code.lower()  # [verify] Kraken's word for a reused open cl_ord_id

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    # --- lookups ----------------------------------------------------------------------------
    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(OPEN_PATH, [("cl_ord_id", self.client_id(child.client_order_id))], creds, now_ms)

    def order_status_fallback(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        start = str(child.ts_ns // 1_000_000_000 - LOOKBACK_S)
        return self._request(CLOSED_PATH, [("cl_ord_id", self.client_id(child.client_order_id)), ("start", start)],
                             creds, now_ms)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = _doc(reply)
        if doc is None:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["error"]:
            return self._rejected(child, doc, now_ns)
        result = doc.get("result") or {}
        orders = result.get("open") or result.get("closed") or {}
        ours = self.client_id(child.client_order_id)
        for txid, order in orders.items():
            if order.get("cl_ord_id") in (None, ours):  # the venue filtered by cl_ord_id already
                return self.order_state(child, str(txid), order)
        return Rejected(child.client_order_id, UNKNOWN_ORDER, "no order with this cl_ord_id", now_ns)

    def order_state(self, child: ChildAllocated, txid: str, order: dict) -> OrderState:
        status = str(order.get("status", ""))
        is_open = status in OPEN_STATUSES
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "ioc_remainder" if not is_open and ioc else status
        return OrderState(txid, is_open, qty_1e8(str(order.get("vol_exec") or "0")), reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(TRADES_PATH, [("start", str(child.ts_ns // 1_000_000_000 - LOOKBACK_S))], creds, now_ms)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = _doc(reply)
        if doc is None or doc["error"]:
            return []
        trades = (doc.get("result") or {}).get("trades") or {}
        return [self.fill(child, str(tid), t) for tid, t in trades.items() if t.get("ordertxid") == venue_order_id]

    def fill(self, child: ChildAllocated, trade_id: str, t: dict) -> Filled:
        """A TradesHistory row; the fee is in the quote currency (Kraken's default `fciq`)."""
        px = px_1e9(str(t["price"]))
        return Filled(
            client_order_id=child.client_order_id, venue_order_id=str(t["ordertxid"]), fill_id=trade_id,
            symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(str(t["vol"])), px_1e9=px,
            **venue_fee(Decimal(str(t.get("fee") or "0")), child.symbol.split("-")[1], child.symbol, px),
            liquidity="maker" if t.get("maker") else "taker",
            ts_ns=int(Decimal(str(t["time"])) * 1_000_000_000),
        )

    # --- cancel and amend -------------------------------------------------------------------
    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(CANCEL_PATH, [("txid", venue_order_id)], creds, now_ms)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = _doc(reply)
        if doc is None:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["error"]:
            return self._rejected(child, doc, now_ns)
        return None if (doc.get("result") or {}).get("count") else Rejected(
            child.client_order_id, UNKNOWN_ORDER, "nothing was cancelled", now_ns)

    def amend_request(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                      creds: Credentials, now_ms: int) -> SignedRequest:
        """Native amend of an open order: new total quantity and limit price (keeps the txid)."""
        params = [("txid", venue_order_id), ("order_qty", wire_decimal(new_qty_1e8, 8)),
                  ("limit_price", wire_decimal(new_px_1e9, 9))]
        return self._request(AMEND_PATH, params, creds, now_ms)

    def parse_amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                    reply: VenueReply, now_ns: int) -> Amended | Rejected:
        doc = _doc(reply)
        if doc is None:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["error"] or not (doc.get("result") or {}).get("amend_id"):
            return self._rejected(child, doc, now_ns)
        return Amended(child.client_order_id, venue_order_id, new_qty_1e8, new_px_1e9, self.amend_mode, None, now_ns)

    # --- reconciliation ---------------------------------------------------------------------
    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(BALANCE_PATH, [], creds, now_ms)

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        doc = _doc(reply)
        if doc is None or doc["error"] or not isinstance(doc.get("result"), dict):
            raise ValueError("kraken: Balance reply without a result")
        totals: dict[str, Decimal] = {}
        for code, qty in doc["result"].items():
            if "." in code:
                continue  # earn/staking sub-balances (XBT.F, ETH2.S): not tradable spot funds
            totals[asset_name(code)] = totals.get(asset_name(code), Decimal(0)) + Decimal(str(qty))
        return {asset: qty for asset, qty in totals.items() if qty}

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._request(OPEN_PATH, [], creds, now_ms)

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        doc = _doc(reply)
        if doc is None or doc["error"]:
            raise ValueError("kraken: OpenOrders reply without a result")
        orders = (doc.get("result") or {}).get("open") or {}
        return [str(o.get("cl_ord_id") or txid) for txid, o in orders.items()]

    def _rejected(self, child: ChildAllocated, doc: dict, now_ns: int) -> Rejected:
        """Kraken's refusals are `error: ["EOrder:Insufficient funds", ...]`: category:message."""
        first = str(doc["error"][0]) if doc.get("error") else "EGeneral:Unknown"
        return Rejected(child.client_order_id, first, "; ".join(str(e) for e in doc["error"]), now_ns)
