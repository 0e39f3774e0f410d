"""Hyperliquid perp order entry: signed L1 actions on /exchange, lookups on /info.

Credentials: `api_key` is the account address (info queries name it), `api_secret` the private
key that signs (the account's, or an approved API wallet's); `extra_json` may set `"testnet":
true` (source "b") and `"vault_address"`. The cloid is our client order id's 16 bytes in hex.
Asset ids are indexes in `meta.universe`, read once (with each coin's `szDecimals`).
A market order is what Hyperliquid itself makes of one: an IOC limit at a collar, the mid (read
from `allMids` right before the order) moved by at most `max_slippage_ppm` against us, rounded
toward the mid to the venue's price rules (5 significant figures, at most 6 - szDecimals
decimals; whole prices always allowed), so it never pays more than the collar.
"""

from __future__ import annotations

import hashlib
import json
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from events.routing import ChildAllocated
from services.edges.hyperliquid import signing
from services.edges.hyperliquid.adapter import HyperliquidAdapter
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
from services.errors import VenueError
from services.vault import Credentials

EXCHANGE_PATH = "/exchange"
INFO_PATH = "/info"
EXCHANGE_ERROR = "err"  # the reply's own `status` when the whole request was refused
ORDER_ERROR = "order_error"  # a per-order error status (Hyperliquid has no codes, only text)
UNKNOWN_ORDER = "unknownOid"
_TIF = {"gtc": "Gtc", "day": "Gtc", "ioc": "Ioc"}
MAX_SLIPPAGE_PPM = 50_000  # 5 %: the Hyperliquid SDK's default for its market orders
SIG_FIGS = 5
PERP_MAX_DECIMALS = 6  # a perp price has at most 6 - szDecimals decimals


def collar_price(mid: Decimal, is_buy: bool, max_slippage_ppm: int, sz_decimals: int) -> Decimal:
    """The IOC limit price of a market order: `mid` moved `max_slippage_ppm` against us, then
    rounded toward the mid to 5 significant figures (whole prices always allowed) and at most
    6 - szDecimals decimals. Rounding toward the mid keeps the price within the collar."""
    if mid <= 0:
        raise ValueError(f"hyperliquid: no usable mid ({mid})")
    ppm = Decimal(1_000_000 + (max_slippage_ppm if is_buy else -max_slippage_ppm))
    raw = mid * ppm / Decimal(1_000_000)
    toward_mid = ROUND_DOWN if is_buy else ROUND_UP
    sig_quantum = Decimal(1).scaleb(min(0, raw.adjusted() - SIG_FIGS + 1))  # never finer than 5 figures
    px = raw.quantize(sig_quantum, toward_mid)
    dec_quantum = Decimal(1).scaleb(-max(0, PERP_MAX_DECIMALS - sz_decimals))
    if px.as_tuple().exponent < dec_quantum.as_tuple().exponent:  # type: ignore[operator]
        px = px.quantize(dec_quantum, toward_mid)
    if px <= 0:
        raise ValueError(f"hyperliquid: the collar of mid {mid} rounds to nothing")
    return px
_JSON = {"Content-Type": "application/json"}


class HyperliquidOrders(VenueOrders):
    venue = "hyperliquid"

    def __init__(self, max_slippage_ppm: int = MAX_SLIPPAGE_PPM) -> None:
        self.symbols = HyperliquidAdapter()
        self.assets: dict[str, int] | None = None  # coin -> asset id, from meta
        self.sz_decimals: dict[str, int] = {}  # coin -> szDecimals, from meta
        self.mids: dict[str, Decimal] = {}  # coin -> mid, from the allMids read before a market order
        self.max_slippage_ppm = max_slippage_ppm

    def quote_request(self, child: ChildAllocated) -> SignedRequest | None:
        return _info({"type": "allMids"}) if child.order_type == "market" else None

    def load_quote(self, child: ChildAllocated, reply: VenueReply) -> None:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict):
            raise VenueError(f"hyperliquid: allMids answered {reply.status} without mids")  # transient: retried
        coin = self.symbols.to_venue(child.symbol)
        if coin in doc:
            self.mids[coin] = Decimal(str(doc[coin]))

    def reference_request(self) -> SignedRequest | None:
        return None if self.assets is not None else _info({"type": "meta"})

    def load_reference(self, reply: VenueReply) -> None:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("universe"), list):
            # Transient (a 5xx, a proxy's page): the child is retried, not rejected as "no such perp".
            raise VenueError(f"hyperliquid: meta request answered {reply.status} without a universe")
        self.assets = {coin["name"]: index for index, coin in enumerate(doc["universe"])}
        self.sz_decimals = {coin["name"]: int(coin.get("szDecimals") or 0) for coin in doc["universe"]}

    def client_id(self, client_order_id: str) -> str:
        return "0x" + hex_client_id(client_order_id)

    def _asset(self, child: ChildAllocated) -> int:
        coin = self.symbols.to_venue(child.symbol)
        if self.assets is None or coin not in self.assets:
            raise UnsupportedOrder(f"hyperliquid: no perp {coin} in the venue's meta")
        return self.assets[coin]

    def _action(self, action: dict[str, Any], creds: Credentials, now_ms: int) -> SignedRequest:
        options = creds.extra_json if isinstance(creds.extra_json, dict) else {}
        vault = options.get("vault_address")
        signature = signing.sign_l1_action(creds.api_secret, action, vault, now_ms, None,
                                           is_mainnet=not options.get("testnet", False))
        body = {"action": action, "nonce": now_ms, "signature": signature, "vaultAddress": vault}
        return SignedRequest("POST", EXCHANGE_PATH, body=json.dumps(body, separators=(",", ":")), headers=dict(_JSON))

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        asset = self._asset(child)
        if child.order_type == "market":
            price, tif = self._collar(child), "Ioc"
        elif child.limit_px_1e9 is None:
            raise UnsupportedOrder("hyperliquid: a limit child without a limit price")
        elif child.tif not in _TIF:
            raise UnsupportedOrder(f"hyperliquid: no {child.tif} time in force")
        else:
            price, tif = wire_decimal(child.limit_px_1e9, 9), _TIF[child.tif]
        # Key order is hashed: a, b, p, s, r, t, c; then type, orders, grouping.
        order = {
            "a": asset,
            "b": child.side == "buy",
            "p": price,
            "s": wire_decimal(child.qty_1e8, 8),
            "r": False,
            "t": {"limit": {"tif": tif}},
            "c": self.client_id(child.client_order_id),
        }
        return self._action({"type": "order", "orders": [order], "grouping": "na"}, creds, now_ms)

    def _collar(self, child: ChildAllocated) -> str:
        coin = self.symbols.to_venue(child.symbol)
        if coin not in self.mids:
            raise UnsupportedOrder(f"hyperliquid: no mid for {coin} to collar a market order at")
        px = collar_price(self.mids[coin], child.side == "buy", self.max_slippage_ppm, self.sz_decimals.get(coin, 0))
        return format(px.normalize(), "f")

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        status = self._first_status(child, reply, now_ns)
        if isinstance(status, Rejected):
            return [status]
        placed = status.get("resting") or status.get("filled")
        if not isinstance(placed, dict) or "oid" not in placed:
            return [Rejected(child.client_order_id, ORDER_ERROR, str(status.get("error", status)), now_ns)]
        return [Acked(child.client_order_id, str(placed["oid"]), now_ns)]  # fills are read from userFills

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == ORDER_ERROR and "duplicate" in rejected.message.lower()

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        return _info({"type": "orderStatus", "user": creds.api_key, "oid": self.client_id(child.client_order_id)})

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = json_body(reply)
        if not isinstance(doc, dict) or doc.get("status") not in ("order", UNKNOWN_ORDER):
            return self.unexpected_reply(child, reply, now_ns)
        if doc["status"] == UNKNOWN_ORDER:
            return Rejected(child.client_order_id, UNKNOWN_ORDER, "hyperliquid has no order with this cloid", now_ns)
        entry = doc["order"]
        order, status = entry["order"], str(entry["status"])
        filled = qty_1e8(order["origSz"]) - qty_1e8(order["sz"])
        reason = "ioc_remainder" if status == "canceled" and child.tif == "ioc" else status
        return OrderState(str(order["oid"]), status == "open", filled, reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return _info({"type": "userFills", "user": creds.api_key})

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, list):
            return []
        outcomes: list[Outcome] = []
        for f in doc:
            if str(f.get("oid")) != venue_order_id:
                continue
            px = px_1e9(f["px"])
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=venue_order_id, fill_id=_fill_id(f),
                symbol=child.symbol, side=child.side, qty_1e8=qty_1e8(f["sz"]), px_1e9=px,
                **venue_fee(Decimal(f.get("fee") or "0"), f.get("feeToken", "USDC"), child.symbol, px),
                liquidity="taker" if f.get("crossed") else "maker", ts_ns=ms_to_ns(f["time"]),
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        action = {"type": "cancel", "cancels": [{"a": self._asset(child), "o": int(venue_order_id)}]}
        return self._action(action, creds, now_ms)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        status = self._first_status(child, reply, now_ns)
        if isinstance(status, Rejected):
            return status
        return None if status == "success" else Rejected(child.client_order_id, ORDER_ERROR,
                                                          str(status.get("error", status)), now_ns)

    def _first_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Any:
        doc = json_body(reply)
        if not isinstance(doc, dict) or "status" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["status"] != "ok":
            return Rejected(child.client_order_id, EXCHANGE_ERROR, str(doc.get("response", "")), now_ns)
        statuses = ((doc.get("response") or {}).get("data") or {}).get("statuses") or []
        if not statuses:
            return Rejected(child.client_order_id, ORDER_ERROR, "hyperliquid returned no status", now_ns)
        status = statuses[0]
        if isinstance(status, dict) and "error" in status:
            return Rejected(child.client_order_id, ORDER_ERROR, str(status["error"]), now_ns)
        return status


def _info(request: dict[str, Any]) -> SignedRequest:
    return SignedRequest("POST", INFO_PATH, body=json.dumps(request, separators=(",", ":")), headers=dict(_JSON))


def _fill_id(fill: dict[str, Any]) -> str:
    # `tid` is the trade id; fills recorded before it existed are told apart by their content.
    if fill.get("tid") is not None:
        return str(fill["tid"])
    key = "|".join(str(fill.get(k, "")) for k in ("hash", "oid", "px", "sz", "time", "startPosition"))
    return hashlib.sha256(key.encode()).hexdigest()[:32]
