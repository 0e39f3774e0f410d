"""Polymarket CLOB order entry: EIP-712 signed orders (CLOB V2) posted with L2 (HMAC) auth;
cancel, batches of up to 15, order lookups, trades, the collateral balance; L1 API key derivation.

Credentials: `api_key`/`api_secret`/`passphrase` are the CLOB API credentials (L2); when they
are empty (the stored shape is the wallet alone) they are derived once per wallet with an L1
signature (`GET /auth/derive-api-key`, else `POST /auth/api-key`) and kept in memory only.
`extra_json` holds the wallet: `signer_private_key` (or `private_key`: the EOA that signs
orders), `signature_type` 0 EOA | 1 POLY_PROXY | 2 POLY_GNOSIS_SAFE, `proxy_address` (or
`funder`: the proxy/safe wallet that holds the funds, the order's maker when the type is not
EOA; given without a type it means POLY_PROXY), `neg_risk_tokens` (token ids settled by the
NegRisk exchange), `chain_id` (default 137), `api_key_nonce` (default 0).

Symbols are token ids (one per outcome); quantities are shares, prices USDC per share. The
venue has no client order id: an order is named by its EIP-712 hash. Salt and timestamp derive
from our client order id and the allocation, so the same child always signs the same order,
its hash (the venue's order id) is known before it is sent, and a resend is refused as a
duplicate. The venue has no amend (cancel and replace). A market child is a FAK (IOC) limit at
the worst price of a binary share (0.99 to buy, 0.01 to sell).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any, Literal

from eth_account import Account

from events.routing import ChildAllocated
from services.edges.budget import Cost
from services.edges.numbers import px_1e9, qty_1e8, unscale
from services.edges.polymarket import signing
from services.edges.sandbox.orders import Acked, Filled, Outcome, Rejected
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
from services.errors import VenueError
from services.vault import Credentials

ORDER_PATH = "/order"
ORDERS_PATH = "/orders"  # batch post / batch cancel
ORDER_LOOKUP_PATH = "/data/order/"
OPEN_ORDERS_PATH = "/data/orders"
TRADES_PATH = "/data/trades"
BALANCE_PATH = "/balance-allowance"
API_KEY_PATH = "/auth/api-key"
DERIVE_KEY_PATH = "/auth/derive-api-key"
DATA_API_URL = "https://data-api.polymarket.com"
CASH = "USD"  # the ledger's cash asset on prediction markets (split_symbol); the venue's is USDC
MAX_BATCH = 15  # orders per POST /orders
ORDER_ERROR = "order_error"
NOT_FOUND = "not_found"
FILL_STATUSES = frozenset({"MATCHED", "MINED", "CONFIRMED"})  # RETRYING/FAILED: not (yet) a fill
_ORDER_TYPE = {"gtc": "GTC", "ioc": "FAK", "fok": "FOK"}
_COLLAR = {"buy": 99 * 10**7, "sell": 10**7}
_ONE_1E9 = 10**9
_JSON = {"Content-Type": "application/json"}
_SALT_BITS = 53  # the salt travels as a JSON number: keep it exact in a double


def tick_of(px_1e9: int) -> str:
    """The coarsest tick that holds the price exactly (the venue refuses a price off its tick;
    rounding it here would change the order silently)."""
    for tick, step in (("0.01", 10**7), ("0.001", 10**6), ("0.0001", 10**5)):
        if px_1e9 % step == 0:
            return tick
    raise UnsupportedOrder(f"polymarket: price {unscale(px_1e9, 9)} is finer than the finest tick (0.0001)")


def request_cost(request: SignedRequest) -> Cost:
    """Every request counts against the CLOB's general limit; a post counts its orders."""
    if request.method == "POST" and request.path == ORDER_PATH:
        return Cost(1, 1)
    if request.method == "POST" and request.path == ORDERS_PATH:
        return Cost(1, max(request.body.count('"orderType"'), 1))
    return Cost(1, 0)


class PolymarketOrders(VenueOrders):
    venue = "polymarket"

    def __init__(self) -> None:
        self._derived: dict[str, tuple[str, str, str]] = {}  # wallet address -> L2 (key, secret, passphrase)
        self._create: set[str] = set()  # wallets with no key to derive: the next request creates one

    def client_id(self, client_order_id: str) -> str:
        """The order's salt (what makes our order, and so its hash, ours): a hash of our id."""
        digest = hashlib.sha256(hex_client_id(client_order_id).encode()).digest()
        return str(int.from_bytes(digest, "big") >> (256 - _SALT_BITS))

    # --- wallet -------------------------------------------------------------------------------
    @staticmethod
    def _wallet(creds: Credentials) -> dict[str, Any]:
        options = creds.extra_json if isinstance(creds.extra_json, dict) else {}
        key = options.get("signer_private_key") or options.get("private_key")
        if not key:
            raise UnsupportedOrder("polymarket: the credentials hold no signer_private_key to sign orders")
        funder = options.get("proxy_address") or options.get("funder")
        kind = int(options.get("signature_type", signing.POLY_PROXY if funder else signing.EOA))
        if kind not in signing.SIGNATURE_TYPES:
            raise UnsupportedOrder(f"polymarket: signature_type {kind} is not EOA(0), POLY_PROXY(1) or GNOSIS_SAFE(2)")
        signer = Account.from_key(key).address
        maker = funder if kind != signing.EOA else signer
        if not maker:
            raise UnsupportedOrder("polymarket: a proxy or safe signature type needs the proxy_address wallet")
        return {"key": key, "signer": signer, "maker": str(maker), "type": kind, "nonce": int(options.get("api_key_nonce", 0)),
                "neg_risk": set(options.get("neg_risk_tokens", ())), "chain_id": int(options.get("chain_id", 137))}

    def _l2_keys(self, creds: Credentials, signer: str) -> tuple[str, str, str]:
        if creds.api_key and creds.api_secret:
            return creds.api_key, creds.api_secret, creds.passphrase or ""
        if signer not in self._derived:
            raise VenueError("polymarket: the wallet's API key is not derived yet")
        return self._derived[signer]

    def credentials_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        if creds.api_key and creds.api_secret:
            return None
        wallet = self._wallet(creds)
        if wallet["signer"] in self._derived:
            return None
        return self.derive_api_key_request(wallet["key"], now_ms, wallet["nonce"], wallet["chain_id"],
                                           create=wallet["signer"] in self._create)

    def load_credentials(self, creds: Credentials, reply: VenueReply) -> None:
        signer = self._wallet(creds)["signer"]
        try:
            self._derived[signer] = self.parse_api_key(reply)
        except ValueError:
            # Derive found no key (or create found one): try the other next time.
            self._create.symmetric_difference_update({signer})
            raise VenueError(f"polymarket: API key request answered HTTP {reply.status}; trying again") from None

    def _l2(self, method: str, path: str, creds: Credentials, now_ms: int, body: Any = None,
            query: str = "") -> SignedRequest:
        text = "" if body is None else json.dumps(body, separators=(",", ":"))
        address = self._wallet(creds)["signer"]
        api_key, secret, passphrase = self._l2_keys(creds, address)
        headers = signing.l2_headers(address, api_key, secret, passphrase, now_ms // 1000, method, path, text)
        if text:
            headers.update(_JSON)
        return SignedRequest(method, path, query, text, headers)

    # --- the signed order ---------------------------------------------------------------------
    def signed_order(self, child: ChildAllocated, creds: Credentials) -> tuple[dict[str, Any], str]:
        """(the order as the venue takes it, its order hash)."""
        wallet = self._wallet(creds)
        action: Literal["BUY", "SELL"] = "BUY" if child.side == "buy" else "SELL"
        px = child.limit_px_1e9 if child.order_type == "limit" and child.limit_px_1e9 is not None else _COLLAR[child.side]
        if not 0 < px < _ONE_1E9:
            raise UnsupportedOrder(f"polymarket: price {unscale(px, 9)} is not in (0, 1)")
        if child.qty_1e8 % 10**6:
            raise UnsupportedOrder("polymarket: sizes have at most 2 decimals")
        maker_amount, taker_amount = signing.limit_amounts(action, unscale(child.qty_1e8, 8), unscale(px, 9), tick_of(px))
        fields = {
            "salt": int(self.client_id(child.client_order_id)), "maker": wallet["maker"], "signer": wallet["signer"],
            "tokenId": child.symbol, "makerAmount": maker_amount, "takerAmount": taker_amount,
            "side": 0 if action == "BUY" else 1, "signatureType": wallet["type"],
            "timestamp": child.ts_ns // 1_000_000, "metadata": signing.ZERO_BYTES32, "builder": signing.ZERO_BYTES32,
        }
        typed = signing.order_typed_data(fields, chain_id=wallet["chain_id"],
                                         exchange=signing.exchange_address(child.symbol in wallet["neg_risk"]))
        return wire_order(fields, signing.sign_typed(wallet["key"], typed)), "0x" + signing.digest(typed).hex()

    def order_hash(self, child: ChildAllocated, creds: Credentials) -> str:
        return self.signed_order(child, creds)[1]

    def _post_body(self, child: ChildAllocated, creds: Credentials) -> dict[str, Any]:
        tif = "ioc" if child.order_type == "market" else child.tif
        if tif not in _ORDER_TYPE:
            raise UnsupportedOrder(f"polymarket: no {tif} order type (GTD needs an expiration)")
        owner = self._l2_keys(creds, self._wallet(creds)["signer"])[0]
        body: dict[str, Any] = {"order": self.signed_order(child, creds)[0], "owner": owner,
                                "orderType": _ORDER_TYPE[tif]}
        if child.post_only:
            body["postOnly"] = True
        return body

    # --- post ---------------------------------------------------------------------------------
    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._l2("POST", ORDER_PATH, creds, now_ms, self._post_body(child, creds))

    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if reply.status >= 500:
            return []
        return self._post_outcomes(child, json_body(reply), reply, now_ns)

    def _post_outcomes(self, child: ChildAllocated, doc: Any, reply: VenueReply, now_ns: int) -> list[Outcome]:
        if not isinstance(doc, dict) or "success" not in doc and "errorMsg" not in doc and "error" not in doc:
            return [self.unexpected_reply(child, reply, now_ns)]
        if not doc.get("success") or not doc.get("orderID"):
            message = str(doc.get("errorMsg") or doc.get("error") or "refused")
            if "fok" in message.lower() or "fak" in message.lower():  # killed: nothing traded
                return [Rejected(child.client_order_id, "killed", message, now_ns)]
            return [Rejected(child.client_order_id, ORDER_ERROR, message, now_ns)]
        return [Acked(child.client_order_id, str(doc["orderID"]), now_ns)]  # fills: /data/trades, the user channel

    def batch_new_orders(self, children: list[ChildAllocated], creds: Credentials, now_ms: int) -> SignedRequest:
        if not 0 < len(children) <= MAX_BATCH:
            raise UnsupportedOrder(f"polymarket: a batch holds 1 to {MAX_BATCH} orders, not {len(children)}")
        return self._l2("POST", ORDERS_PATH, creds, now_ms, [self._post_body(c, creds) for c in children])

    def parse_batch_new_orders(self, children: list[ChildAllocated], reply: VenueReply,
                               now_ns: int) -> list[list[Outcome]]:
        doc = json_body(reply)
        if reply.status >= 500:
            return [[] for _ in children]
        if not isinstance(doc, list) or len(doc) != len(children):
            refused = self._post_outcomes(children[0], doc, reply, now_ns)[0]
            message = refused.message if isinstance(refused, Rejected) else "batch refused"
            return [[Rejected(c.client_order_id, ORDER_ERROR, message, now_ns)] for c in children]
        return [self._post_outcomes(c, item, reply, now_ns) for c, item in zip(children, doc, strict=True)]

    # --- lookups ------------------------------------------------------------------------------
    def is_duplicate(self, rejected: Rejected) -> bool:
        return rejected.code == ORDER_ERROR and "duplicate" in rejected.message.lower()

    def is_unknown_order(self, rejected: Rejected) -> bool:
        return rejected.code == NOT_FOUND

    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        path = ORDER_LOOKUP_PATH + self.order_hash(child, creds)
        return self._l2("GET", path, creds, now_ms)

    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected:
        doc = json_body(reply)
        if reply.status == 404 or (reply.status == 200 and not doc):
            return Rejected(child.client_order_id, NOT_FOUND, "polymarket has no order with this hash", now_ns)
        if reply.status != 200 or not isinstance(doc, dict) or "status" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        status = str(doc["status"]).upper()
        is_open = status == "LIVE"
        filled = qty_1e8(str(doc.get("size_matched") or "0"))
        killed = child.tif in ("ioc", "fok") or child.order_type == "market"
        reason = "ioc_remainder" if killed else status.lower()
        return OrderState(str(doc["id"]), is_open, filled, reason)

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._l2("GET", OPEN_ORDERS_PATH, creds, now_ms)

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        """The venue's order ids (hashes) of the open orders (the venue keeps no client id)."""
        doc = json_body(reply)
        rows = doc.get("data") if isinstance(doc, dict) else doc
        if not isinstance(rows, list):
            raise ValueError("polymarket: open orders reply without data")
        return [str(row["id"]) for row in rows]

    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        # The signed path excludes the query string (as the venue's client signs it).
        return self._l2("GET", TRADES_PATH, creds, now_ms, query=f"maker_address={self._wallet(creds)['maker']}")

    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]:
        doc = json_body(reply)
        rows = doc.get("data") if isinstance(doc, dict) else doc
        if reply.status != 200 or not isinstance(rows, list):
            return []
        return [f for row in rows for f in trade_fills(row, {venue_order_id: child.client_order_id}, now_ns)]

    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest:
        return self._l2("DELETE", ORDER_PATH, creds, now_ms, {"orderID": venue_order_id})

    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        doc = json_body(reply)
        if not isinstance(doc, dict) or "canceled" not in doc:
            return self.unexpected_reply(child, reply, now_ns)
        if doc["canceled"]:
            return None
        reasons = doc.get("not_canceled") or {}
        return Rejected(child.client_order_id, "not_canceled", "; ".join(str(v) for v in reasons.values()), now_ns)

    def batch_cancel(self, venue_order_ids: list[str], creds: Credentials, now_ms: int) -> SignedRequest:
        return self._l2("DELETE", ORDERS_PATH, creds, now_ms, list(venue_order_ids))

    @staticmethod
    def parse_batch_cancel(reply: VenueReply) -> tuple[list[str], dict[str, str]]:
        """(cancelled order ids, {order id: why not})."""
        doc = json_body(reply)
        if not isinstance(doc, dict) or not isinstance(doc.get("canceled"), list):
            raise ValueError("polymarket: cancel reply without canceled")
        return [str(i) for i in doc["canceled"]], {str(k): str(v) for k, v in (doc.get("not_canceled") or {}).items()}

    # --- account ------------------------------------------------------------------------------
    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        kind = self._wallet(creds)["type"]
        return self._l2("GET", BALANCE_PATH, creds, now_ms, query=f"asset_type=COLLATERAL&signature_type={kind}")

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        """The USDC collateral (6-dp integer units at the wire), under the ledger's name for a
        prediction market's cash: USD (contracts are quoted and settled in it)."""
        doc = json_body(reply)
        if not isinstance(doc, dict) or "balance" not in doc:
            raise ValueError("polymarket: balance reply without a balance")
        return {CASH: unscale(int(doc["balance"]), 6)}

    def positions_request(self, creds: Credentials, now_ms: int) -> SignedRequest:
        """The wallet's outcome tokens, from the public Data API (the CLOB lists none): an
        absolute URL, unsigned. `extra_json.data_api_url` points it elsewhere (a local server)."""
        options = creds.extra_json if isinstance(creds.extra_json, dict) else {}
        base = str(options.get("data_api_url") or DATA_API_URL).rstrip("/")
        return SignedRequest("GET", f"{base}/positions", f"user={self._wallet(creds)['maker']}&sizeThreshold=0")

    def parse_positions(self, reply: VenueReply) -> dict[str, Decimal]:
        """Shares held per token id (the ledger's asset for them)."""
        doc = json_body(reply)
        if not isinstance(doc, list):
            raise ValueError("polymarket: positions reply is not a list")
        return {str(row["asset"]): Decimal(str(row["size"])) for row in doc if Decimal(str(row["size"]))}

    @staticmethod
    def derive_api_key_request(private_key: str, now_ms: int, nonce: int = 0, chain_id: int = 137,
                               *, create: bool = False) -> SignedRequest:
        """L1: `GET /auth/derive-api-key` (the key this wallet and nonce already have) or
        `POST /auth/api-key` (a new one); the answer is `{apiKey, secret, passphrase}`."""
        headers = signing.l1_headers(private_key, now_ms // 1000, nonce, chain_id)
        return SignedRequest("POST" if create else "GET", API_KEY_PATH if create else DERIVE_KEY_PATH, headers=headers)

    @staticmethod
    def parse_api_key(reply: VenueReply) -> tuple[str, str, str]:
        doc = json_body(reply)
        if reply.status != 200 or not isinstance(doc, dict) or not {"apiKey", "secret", "passphrase"} <= set(doc):
            raise ValueError(f"polymarket: API key request answered HTTP {reply.status}")
        return str(doc["apiKey"]), str(doc["secret"]), str(doc["passphrase"])


def wire_order(fields: dict[str, Any], signature: str) -> dict[str, Any]:
    """A signed V2 order in the venue's JSON shape (amounts and ids as strings, side as a word)."""
    return {
        "salt": int(fields["salt"]), "maker": str(fields["maker"]).lower(), "signer": str(fields["signer"]).lower(),
        "tokenId": str(fields["tokenId"]), "makerAmount": str(fields["makerAmount"]),
        "takerAmount": str(fields["takerAmount"]), "side": "BUY" if int(fields["side"]) == 0 else "SELL",
        "signatureType": int(fields["signatureType"]), "expiration": str(fields.get("expiration", 0)),
        "timestamp": str(fields["timestamp"]), "metadata": fields["metadata"], "builder": fields["builder"],
        "signature": signature,
    }


def _fee(rate_bps: object, price: Decimal, size: Decimal) -> Decimal:
    """The CTF exchange fee on a fill: rate x min(p, 1 - p) x size, in USDC [verify rounding]."""
    return Decimal(str(rate_bps or 0)) / 10_000 * min(price, 1 - price) * size


def trade_fills(trade: dict[str, Any], ours: dict[str, str], now_ns: int) -> list[Filled]:
    """Our fills in one trade (REST `/data/trades` row or the user channel's `trade` event):
    as the taker (`taker_order_id`) at the trade's size and price, or as one of its makers at
    the matched amount and the maker's price. `ours` maps venue order ids to our client ids. The
    trade id is the fill id (a trade fills one order of ours at most once per side)."""
    if str(trade.get("status", "")).upper() not in FILL_STATUSES:
        return []
    ts = _trade_ts(trade, now_ns)
    fills: list[Filled] = []
    taker_oid = str(trade.get("taker_order_id", ""))
    if taker_oid in ours:
        price, size = Decimal(str(trade["price"])), Decimal(str(trade["size"]))
        symbol, px = str(trade["asset_id"]), px_1e9(str(trade["price"]))
        fills.append(Filled(
            client_order_id=ours[taker_oid], venue_order_id=taker_oid, fill_id=str(trade["id"]), symbol=symbol,
            side="buy" if str(trade["side"]).upper() == "BUY" else "sell", qty_1e8=qty_1e8(str(trade["size"])), px_1e9=px,
            **venue_fee(_fee(trade.get("fee_rate_bps"), price, size), CASH, symbol, px), liquidity="taker", ts_ns=ts,
        ))
    for maker in trade.get("maker_orders") or []:
        oid = str(maker.get("order_id", ""))
        if oid not in ours:
            continue
        price, size = Decimal(str(maker["price"])), Decimal(str(maker["matched_amount"]))
        symbol, px = str(maker["asset_id"]), px_1e9(str(maker["price"]))
        fills.append(Filled(
            client_order_id=ours[oid], venue_order_id=oid, fill_id=f"{trade['id']}:{oid}", symbol=symbol,
            side=_maker_side(trade, maker), qty_1e8=qty_1e8(str(maker["matched_amount"])), px_1e9=px,
            **venue_fee(_fee(maker.get("fee_rate_bps"), price, size), CASH, symbol, px), liquidity="maker", ts_ns=ts,
        ))
    return fills


def _maker_side(trade: dict[str, Any], maker: dict[str, Any]) -> Literal["buy", "sell"]:
    """The maker's own side when sent; else opposite the taker's on the same token, the same on
    the complementary token (a YES buy matched with a NO buy mints both)."""
    if maker.get("side"):
        return "buy" if str(maker["side"]).upper() == "BUY" else "sell"
    taker_buys = str(trade["side"]).upper() == "BUY"
    same_token = str(maker.get("asset_id")) == str(trade.get("asset_id"))
    return "buy" if taker_buys != same_token else "sell"


def _trade_ts(trade: dict[str, Any], now_ns: int) -> int:
    """`match_time` (epoch seconds or RFC 3339), else the event's `timestamp` (ms)."""
    text = str(trade.get("match_time") or "")
    if text.isdigit():
        return int(text) * 10**9
    if text:
        return rfc3339_ns(text)
    stamp = str(trade.get("timestamp") or "")
    return int(stamp) * 1_000_000 if stamp.isdigit() else now_ns

