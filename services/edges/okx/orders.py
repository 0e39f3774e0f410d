"""OKX v5 order entry (REST): place, lookup, fills, cancel; spot and USDT/USDC swaps (a `-PERP`
child: `BTC-USDT-SWAP`, cross margin).

`clOrdId` must be at most 32 alphanumerics, so our UUID client order id goes as its 32 hex
digits (deterministic: a resend carries the same id and OKX refuses it as a duplicate).
A place reply only acknowledges; fills are read from `/api/v5/trade/fills` by trade id.
Swap sizes are contracts: `sz = qty / ctVal` (ctVal in the base coin, from the venue's public
instrument list, read once), refused unless a whole number of lots; sizes read back (`accFillSz`,
`fillSz`) are contracts too and become base quantities again (`qty = sz * ctVal`). Prices are per
base coin on both spot and linear swaps.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from events.routing import ChildAllocated
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8, unscale, wire_decimal
from services.edges.okx import signing
from services.edges.okx.adapter import to_venue_symbol
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

INSTRUMENTS_PATH = "/api/v5/public/instruments"
TIME_PATH = "/api/v5/public/time"
TIMESTAMP_EXPIRED = "50102"  # "Timestamp request expired"
PLACE_PATH = "/api/v5/trade/order"
ORDER_PATH = "/api/v5/trade/order"
FILLS_PATH = "/api/v5/trade/fills"
CANCEL_PATH = "/api/v5/trade/cancel-order"
DUPLICATE_CLIENT_ID = "51016"  # "Duplicated clOrdId"
UNKNOWN_ORDER = "51603"  # "Order does not exist"
OPEN_STATES = frozenset({"live", "partially_filled"})
_ORD_TYPE = {"gtc": "limit", "day": "limit", "ioc": "ioc", "fok": "fok"}


@dataclass(frozen=True, slots=True)
class Contract:
    """A linear swap's contract: `ct_val` base coins per contract; sizes are whole `lot`s."""

    ct_val: Decimal
    lot: Decimal


def to_contracts(qty_1e8: int, contract: Contract) -> str:
    """A base quantity as OKX's `sz` in contracts; refused unless a whole number of lots."""
    contracts = unscale(qty_1e8, 8) / contract.ct_val
    if contracts <= 0 or contracts % contract.lot:
        raise UnsupportedOrder(f"okx: {unscale(qty_1e8, 8)} is not a whole number of {contract.lot}-contract lots "
                               f"of {contract.ct_val} each")
    return format(contracts.normalize(), "f")


def from_contracts(sz: str, contract: Contract) -> int:
    """OKX's size in contracts as a base quantity (qty_1e8, exact)."""
    return qty_1e8(Decimal(sz) * contract.ct_val)


def parse_swap_instruments(doc: object) -> dict[str, Contract]:
    """instId -> Contract of the linear swaps in a `/api/v5/public/instruments?instType=SWAP` reply
    (inverse swaps are sized in USD per contract and are left out)."""
    if not isinstance(doc, dict) or doc.get("code") != "0" or not isinstance(doc.get("data"), list):
        raise ValueError("okx: instruments reply without data")
    return {i["instId"]: Contract(Decimal(i["ctVal"]), Decimal(i["lotSz"]))
            for i in doc["data"] if i.get("ctType") == "linear" and i.get("ctVal")}


class OkxOrders(VenueOrders):
    venue = "okx"

    def __init__(self) -> None:
        self.contracts: dict[str, Contract] | None = None  # linear swaps, once read

    def reference_request(self) -> SignedRequest | None:
        if self.contracts is not None:
            return None
        return SignedRequest("GET", INSTRUMENTS_PATH, query=urlencode({"instType": "SWAP"}))

    def load_reference(self, reply: VenueReply) -> None:
        try:
            self.contracts = parse_swap_instruments(json_body(reply))
        except (KeyError, ValueError, ArithmeticError) as exc:  # transient: retried, not "no such swap"
            raise VenueError(f"okx: swap instruments answered {reply.status} without a usable list") from exc

    def time_request(self) -> SignedRequest:
        return SignedRequest("GET", TIME_PATH)

    def parse_time(self, reply: VenueReply) -> int:
        doc = json_body(reply)
        if not isinstance(doc, dict) or doc.get("code") != "0" or not doc.get("data"):
            raise ValueError("okx: time reply without data")
        return int(doc["data"][0]["ts"])

    def is_clock_refusal(self, rejected: Rejected) -> bool:
        return rejected.code == TIMESTAMP_EXPIRED

    def client_id(self, client_order_id: str) -> str:
        return hex_client_id(client_order_id)

    def _inst_id(self, child: ChildAllocated) -> str:
        return to_venue_symbol(child.symbol)

    def _contract(self, child: ChildAllocated) -> Contract | None:
        """The swap's contract; None for spot."""
        if not child.symbol.endswith("-PERP"):
            return None
        inst_id = self._inst_id(child)
        if self.contracts is None or inst_id not in self.contracts:
            raise UnsupportedOrder(f"okx: {inst_id} is sized in contracts and its contract value is not known")
        return self.contracts[inst_id]

    def _size(self, child: ChildAllocated, sz: str) -> int:
        contract = self._contract(child)
        return qty_1e8(sz) if contract is None else from_contracts(sz, contract)

    def _request(self, method: str, path: str, creds: Credentials, now_ms: int, *, query: str = "",
                 body: str = "") -> SignedRequest:
        if not creds.passphrase:
            raise UnsupportedOrder("okx: the stored credentials have no passphrase")
        target = f"{path}?{query}" if query else path
        headers = signing.headers(creds.api_key, creds.api_secret, creds.passphrase, signing.rest_timestamp(now_ms),
                                  method, target, body)
        return SignedRequest(method, path, query=query, body=body, headers=headers)

    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        contract = self._contract(child)
        order = {
            "instId": self._inst_id(child),
            "tdMode": "cash" if contract is None else "cross",
            "side": child.side,
            "ordType": "market" if child.order_type == "market" else _ORD_TYPE[child.tif],
            "sz": wire_decimal(child.qty_1e8, 8) if contract is None else to_contracts(child.qty_1e8, contract),
            "clOrdId": self.client_id(child.client_order_id),
        }
        if child.order_type == "market" and contract is None:
            order["tgtCcy"] = "base_ccy"  # spot market buys are sized in quote unless told
        elif child.limit_px_1e9 is not None:
            order["px"] = wire_decimal(child.limit_px_1e9, 9)
        return self._request("POST", PLACE_PATH, creds, now_ms, body=_compact(order))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        item = self._item(child, reply, now_ns)
        if isinstance(item, Rejected):
            return [item]
        ts = ms_to_ns(item["ts"]) if item.get("ts") else now_ns
        return [Acked(child.client_order_id, str(item["ordId"]), ts)]

    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == DUPLICATE_CLIENT_ID

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == UNKNOWN_ORDER

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        query = urlencode({"instId": self._inst_id(child), "clOrdId": self.client_id(child.client_order_id)})
        return self._request("GET", ORDER_PATH, creds, now_ms, query=query)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        item = self._item(child, reply, now_ns)
        if isinstance(item, Rejected):
            return item
        state = str(item.get("state", ""))
        reason = "ioc_remainder" if state == "canceled" and _is_ioc(child) else state
        return OrderState(str(item["ordId"]), state in OPEN_STATES, self._size(child, item.get("accFillSz") or "0"),
                          reason)

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        inst_type = "SPOT" if self._contract(child) is None else "SWAP"
        query = urlencode({"instType": inst_type, "instId": self._inst_id(child), "ordId": venue_order_id})
        return self._request("GET", FILLS_PATH, creds, now_ms, query=query)

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or doc.get("code") != "0":
            return []
        outcomes: list[Outcome] = []
        for f in doc.get("data", []):
            px = px_1e9(f["fillPx"])
            outcomes.append(Filled(
                client_order_id=child.client_order_id, venue_order_id=str(f["ordId"]), fill_id=str(f["tradeId"]),
                symbol=child.symbol, side=child.side, qty_1e8=self._size(child, f["fillSz"]), px_1e9=px,
                # OKX reports a charged fee as negative; ours is positive when paid.
                **venue_fee(-Decimal(f.get("fee") or "0"), f.get("feeCcy", ""), child.symbol, px),
                liquidity="maker" if f.get("execType") == "M" else "taker",
                ts_ns=ms_to_ns(f["ts"]) if f.get("ts") else now_ns,
            ))
        return outcomes

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        body = _compact({"instId": self._inst_id(child), "ordId": venue_order_id})
        return self._request("POST", CANCEL_PATH, creds, now_ms, body=body)

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        item = self._item(child, reply, now_ns)
        return item if isinstance(item, Rejected) else None

    def _item(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> dict | Rejected:
        """The single `data` item of a reply, or the venue's refusal (per-item sCode first)."""
        doc = json_body(reply)
        if not isinstance(doc, dict) or "code" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        data = doc.get("data") or []
        item = data[0] if data and isinstance(data[0], dict) else {}
        if item.get("sCode") not in (None, "0"):
            return Rejected(child.client_order_id, str(item["sCode"]), str(item.get("sMsg", "")), now_ns)
        if doc["code"] != "0" or not item:
            return Rejected(child.client_order_id, str(doc["code"]), str(doc.get("msg", "")), now_ns)
        return item


OkxSpotOrders = OkxOrders  # the name before swap entry


def _compact(doc: dict) -> str:
    return json.dumps(doc, separators=(",", ":"))


def _is_ioc(child: ChildAllocated) -> bool:
    return child.order_type == "market" or child.tif in ("ioc", "fok")
