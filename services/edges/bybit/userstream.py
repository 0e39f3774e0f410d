"""Bybit v5 private WebSocket: auth, then the `order` and `execution` topics for our orders.

wss://stream.bybit.com/v5/private. Auth: {"op": "auth", "args": [apiKey, expires (ms),
hex(HMAC-SHA256(secret, "GET/realtime" + expires))]}, answered {"op": "auth", "success": true};
then {"op": "subscribe", "args": ["order", "execution"]}. Keepalive: {"op": "ping"}.

`order` item -> Acked (orderId); the end once `orderStatus` is final: Cancelled /
PartiallyFilledCanceled / Deactivated -> Cancelled(cumExecQty, qty - cumExecQty) (an IOC/FOK/
market's is its remainder); Rejected with nothing executed -> Rejected(rejectReason), with
something executed -> Cancelled("rejected") (its fills stand). Fills come only from
`execution` (execType Trade): fill id = execId, the id /v5/execution/list carries; execQty,
execPrice, execFee in feeCurrency (absent: a spot buy pays in the base coin, else the quote),
isMaker, execTime. `execution.fast` carries no fee: not subscribed, skipped.
"""

from __future__ import annotations

import json
from decimal import Decimal

from events.routing import ChildAllocated
from services.edges.bybit import signing
from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8
from services.edges.privstream import ChildLookup, VenuePrivateStream, frame_json
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected
from services.edges.transport import venue_fee
from services.vault import Credentials

DEFAULT_WS_ROOT = "wss://stream.bybit.com"
PRIVATE_PATH = "/v5/private"
AUTH_VALID_MS = 10_000
CANCELLED = frozenset({"Cancelled", "PartiallyFilledCanceled", "Deactivated"})


class BybitUserStream(VenuePrivateStream):
    venue = "bybit"
    keepalive_s = 20.0  # Bybit's recommended ping interval

    def url(self, base: str, token: str) -> str:
        return f"{(base or DEFAULT_WS_ROOT).rstrip('/')}{PRIVATE_PATH}"

    def login_frames(self, creds: Credentials, now_ms: int) -> list[str]:
        expires = str(now_ms + AUTH_VALID_MS)
        return [json.dumps({"op": "auth", "args": [creds.api_key, expires,
                                                   signing.ws_auth_sign(creds.api_secret, expires)]})]

    def login_reply(self, raw: str | bytes) -> bool | None:
        doc = frame_json(raw)
        if isinstance(doc, dict) and doc.get("op") == "auth":
            return bool(doc.get("success"))
        return None

    def subscribe_frames(self) -> list[str]:
        return [json.dumps({"op": "subscribe", "args": ["order", "execution"]})]

    def ping_frame(self) -> str:
        return json.dumps({"op": "ping"})

    def parse(self, raw: str | bytes, child_of: ChildLookup, now_ns: int) -> list[Outcome]:
        doc = frame_json(raw)
        if not isinstance(doc, dict):
            return []
        topic = doc.get("topic")
        if topic not in ("order", "execution"):
            return []  # execution.fast (no fee), wallet, position, op replies
        outcomes: list[Outcome] = []
        for item in doc.get("data") or []:
            child = child_of(str(item.get("orderLinkId", "")))
            if child is None:
                continue
            if topic == "order":
                outcomes += _order(child, item, now_ns)
            elif item.get("execType", "Trade") == "Trade":
                outcomes += _execution(child, item, now_ns)
        return outcomes


def _order(child: ChildAllocated, item: dict, now_ns: int) -> list[Outcome]:
    coid, order_id = child.client_order_id, str(item["orderId"])
    ts = ms_to_ns(item["updatedTime"]) if item.get("updatedTime") else now_ns
    status = str(item.get("orderStatus", ""))
    filled = qty_1e8(item.get("cumExecQty") or "0")
    if status == "Rejected" and not filled:
        return [Rejected(coid, str(item.get("rejectReason") or "Rejected"), "rejected by bybit (private stream)", ts)]
    outcomes: list[Outcome] = [Acked(coid, order_id, ts)]
    if status in CANCELLED or status == "Rejected":
        size = qty_1e8(item.get("qty") or "0") or child.qty_1e8
        ioc = child.order_type == "market" or child.tif in ("ioc", "fok")
        reason = "rejected" if status == "Rejected" else "ioc_remainder" if ioc else status.lower()
        outcomes.append(Cancelled(coid, order_id, filled, max(size - filled, 0), reason, ts))
    return outcomes


def _execution(child: ChildAllocated, item: dict, now_ns: int) -> list[Outcome]:
    coid, order_id = child.client_order_id, str(item["orderId"])
    ts = ms_to_ns(item["execTime"]) if item.get("execTime") else now_ns
    px = px_1e9(item["execPrice"])
    base, _, quote = child.symbol.partition("-")
    spot = item.get("category", "spot") == "spot"
    fee_asset = str(item.get("feeCurrency") or (base if spot and child.side == "buy" else quote.split("-")[0]))
    return [Acked(coid, order_id, ts), Filled(
        client_order_id=coid, venue_order_id=order_id, fill_id=str(item["execId"]), symbol=child.symbol,
        side=child.side, qty_1e8=qty_1e8(item["execQty"]), px_1e9=px,
        **venue_fee(Decimal(item.get("execFee") or "0"), fee_asset, child.symbol, px),
        liquidity="maker" if item.get("isMaker") else "taker", ts_ns=ts,
    )]
