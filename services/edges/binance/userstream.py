"""Binance spot user-data stream: listenKey, then `executionReport`s for our orders.

POST /api/v3/userDataStream (API key header, no signature) answers a listenKey; the stream is
<ws root>/ws/<listenKey>; PUT with the key keeps it alive (Binance expires it after 60 minutes
without one; we send one every 30). Frames come bare (`{"e": ...}`), combined-stream wrapped
(`{"stream", "data"}`) or WebSocket-API wrapped (`{"subscriptionId", "event"}`).

executionReport -> outcomes, by execution type `x` and order status `X`:
  NEW                 -> Acked (venue order id `i`)
  TRADE               -> Acked + Filled (fill id = trade id `t`, the id myTrades and the FULL
                         order reply carry, so REST and stream fills dedup; qty `l`, price `L`,
                         fee `n` in `N`, maker `m`)
  CANCELED / EXPIRED  -> Acked + Cancelled(filled `z`, remaining `q - z`) once `X` is final
                         (`X` PENDING_CANCEL: the end comes later)
  REJECTED            -> Rejected(code = reason `r`)
Account frames (outboundAccountPosition, balanceUpdate) and listStatus give nothing here:
balances are read back by reconciliation.
"""

from __future__ import annotations

from typing import Any

from services.edges.binance import signing
from services.edges.binance.orders import OPEN_STATUSES, BinanceOrders, _end_reason
from services.edges.numbers import ms_to_ns, qty_1e8
from services.edges.privstream import ChildLookup, VenuePrivateStream, frame_json
from services.edges.sandbox.orders import Acked, Cancelled, Outcome, Rejected
from services.edges.transport import SignedRequest, VenueReply, json_body
from services.vault import Credentials

USER_STREAM_PATH = "/api/v3/userDataStream"
DEFAULT_WS_ROOT = "wss://stream.binance.com:9443"


class BinanceSpotUserStream(VenuePrivateStream):
    venue = "binance"
    keepalive_s = 30 * 60.0

    def __init__(self) -> None:
        self.orders = BinanceOrders()  # the same fill/fee rules as the REST replies

    def open_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return SignedRequest("POST", USER_STREAM_PATH, headers={signing.API_KEY_HEADER: creds.api_key})

    def parse_open(self, reply: VenueReply) -> str:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not doc.get("listenKey"):
            raise ValueError(f"binance: userDataStream answered HTTP {reply.status}")
        return str(doc["listenKey"])

    def keepalive_request(self, creds: Credentials, token: str, now_ms: int) -> SignedRequest:
        return SignedRequest("PUT", USER_STREAM_PATH, query=f"listenKey={token}",
                             headers={signing.API_KEY_HEADER: creds.api_key})

    def url(self, base: str, token: str) -> str:
        return f"{(base or DEFAULT_WS_ROOT).rstrip('/')}/ws/{token}"

    def is_expired(self, raw: str | bytes) -> bool:
        doc = _unwrap(frame_json(raw))
        return isinstance(doc, dict) and doc.get("e") in ("listenKeyExpired", "eventStreamTerminated")

    def parse(self, raw: str | bytes, child_of: ChildLookup, now_ns: int) -> list[Outcome]:
        doc = _unwrap(frame_json(raw))
        if not isinstance(doc, dict) or doc.get("e") != "executionReport":
            return []
        child = child_of(str(doc.get("c", "")))
        if child is None:
            # A cancel reports the cancelled order's own id in `C` (`c` is the cancel request's).
            child = child_of(str(doc.get("C") or ""))
        if child is None:
            return []
        coid = child.client_order_id
        order_id = str(doc["i"])
        ts = ms_to_ns(doc.get("T") or doc.get("E"))
        kind, status = str(doc.get("x", "")), str(doc.get("X", ""))
        if kind == "REJECTED":
            return [Rejected(coid, str(doc.get("r", "REJECTED")), "rejected by binance (user stream)", ts)]
        outcomes: list[Outcome] = [Acked(coid, order_id, ts)]
        if kind == "TRADE":
            outcomes.append(self.orders._fill(
                child, order_id, str(doc["t"]), str(doc["L"]), str(doc["l"]), str(doc.get("n") or "0"),
                str(doc.get("N") or ""), "maker" if doc.get("m") else "taker", ts,
            ))
        if status and status not in OPEN_STATUSES and status != "FILLED":
            filled = qty_1e8(str(doc.get("z", "0")))
            ordered = qty_1e8(str(doc.get("q", "0"))) or child.qty_1e8
            outcomes.append(Cancelled(coid, order_id, filled, max(ordered - filled, 0), _end_reason(child, status), ts))
        return outcomes


def _unwrap(doc: Any) -> Any:
    if isinstance(doc, dict):
        if isinstance(doc.get("data"), dict):
            return doc["data"]
        if isinstance(doc.get("event"), dict):
            return doc["event"]
    return doc

