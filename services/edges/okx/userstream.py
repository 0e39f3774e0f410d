"""OKX v5 private WebSocket: login, then the `orders` channel for our spot orders.

wss://ws.okx.com:8443/ws/v5/private. Login: {"op": "login", "args": [{apiKey, passphrase,
timestamp (unix seconds), sign = base64(HMAC-SHA256(secret, timestamp + "GET" +
"/users/self/verify"))}]}; OKX answers {"event": "login", "code": "0"} and only then takes
{"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}. Keepalive: "ping".

One `orders` push item -> outcomes, by `state` and the fill fields:
  any state            -> Acked (ordId)
  tradeId + fillSz > 0 -> Filled (fill id = tradeId, the id /api/v5/trade/fills lists; fillSz,
                          fillPx, fee (negative = charged) in feeCcy, execType M = maker, fillTime)
  canceled / mmp_canceled -> Cancelled(accFillSz, sz - accFillSz); an IOC/FOK/market's is its remainder
Swap items are skipped: their sizes are contracts (ctVal), and OKX order entry here is spot.
`orders-algo` items are trigger orders we do not place.
"""

from __future__ import annotations

import json
from decimal import Decimal

from services.edges.numbers import ms_to_ns, px_1e9, qty_1e8
from services.edges.okx import signing
from services.edges.okx.orders import _is_ioc
from services.edges.privstream import ChildLookup, VenuePrivateStream, frame_json
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome
from services.edges.transport import venue_fee
from services.vault import Credentials

DEFAULT_WS_ROOT = "wss://ws.okx.com:8443"
PRIVATE_PATH = "/ws/v5/private"
ENDED = frozenset({"canceled", "mmp_canceled"})
SPOT_TYPES = frozenset({"SPOT", "MARGIN"})


class OkxUserStream(VenuePrivateStream):
    venue = "okx"
    keepalive_s = 25.0  # OKX closes a connection silent for 30 s

    def url(self, base: str, token: str) -> str:
        return f"{(base or DEFAULT_WS_ROOT).rstrip('/')}{PRIVATE_PATH}"

    def login_frames(self, creds: Credentials, now_ms: int) -> list[str]:
        ts = str(now_ms // 1000)
        return [json.dumps({"op": "login", "args": [{
            "apiKey": creds.api_key, "passphrase": creds.passphrase, "timestamp": ts,
            "sign": signing.ws_login_sign(creds.api_secret, ts),
        }]})]

    def login_reply(self, raw: str | bytes) -> bool | None:
        doc = frame_json(raw)
        if not isinstance(doc, dict):
            return None
        if doc.get("event") == "login":
            return str(doc.get("code")) == "0"
        if doc.get("event") == "error" and str(doc.get("code", "")).startswith("600"):
            return False  # 60004 invalid timestamp, 60009 login failed, 60024 wrong passphrase...
        return None

    def subscribe_frames(self) -> list[str]:
        return [json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]})]

    def ping_frame(self) -> str:
        return "ping"

    def parse(self, raw: str | bytes, child_of: ChildLookup, now_ns: int) -> list[Outcome]:
        doc = frame_json(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("arg"), dict) or doc["arg"].get("channel") != "orders":
            return []
        outcomes: list[Outcome] = []
        for item in doc.get("data") or []:
            if item.get("instType") not in SPOT_TYPES:
                continue
            child = child_of(str(item.get("clOrdId", "")))
            if child is None:
                continue
            coid, order_id = child.client_order_id, str(item["ordId"])
            ts = ms_to_ns(item.get("uTime") or item.get("cTime")) if (item.get("uTime") or item.get("cTime")) else now_ns
            outcomes.append(Acked(coid, order_id, ts))
            if item.get("tradeId") and qty_1e8(item.get("fillSz") or "0") > 0:
                px = px_1e9(item["fillPx"])
                outcomes.append(Filled(
                    client_order_id=coid, venue_order_id=order_id, fill_id=str(item["tradeId"]), symbol=child.symbol,
                    side=child.side, qty_1e8=qty_1e8(item["fillSz"]), px_1e9=px,
                    # OKX reports a charged fee as negative; ours is positive when paid.
                    **venue_fee(-Decimal(item.get("fee") or "0"), str(item.get("feeCcy") or ""), child.symbol, px),
                    liquidity="maker" if item.get("execType") == "M" else "taker",
                    ts_ns=ms_to_ns(item["fillTime"]) if item.get("fillTime") else ts,
                ))
            if item.get("state") in ENDED:
                filled = qty_1e8(item.get("accFillSz") or "0")
                size = qty_1e8(item.get("sz") or "0") or child.qty_1e8
                outcomes.append(Cancelled(coid, order_id, filled, max(size - filled, 0),
                                          "ioc_remainder" if _is_ioc(child) else str(item["state"]), ts))
        return outcomes
