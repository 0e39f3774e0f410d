"""Polymarket CLOB signing (eth-account for EIP-712; HMAC for L2).

* Orders: EIP-712 in the "Polymarket CTF Exchange" domain of the exchange contract that settles
  the market (CTF or NegRisk). CLOB V2 (current): version "2", `timestamp` (ms) replaces the
  nonce, `metadata`/`builder` bytes32, fees unsigned. V1 (legacy): version "1", with `taker`,
  `expiration`, `nonce`, `feeRateBps`. side BUY=0/SELL=1; signatureType EOA=0, POLY_PROXY=1,
  POLY_GNOSIS_SAFE=2 (the maker is then the proxy/safe wallet, the signer the EOA). The
  signature is r||s||v hex with v in {27, 28}.
* L1 auth (API key creation/derivation): EIP-712 `ClobAuth{address, timestamp, nonce, message}`
  in the "ClobAuthDomain" domain (no contract).
* L2 auth (trading): POLY_SIGNATURE = urlsafe_b64(HMAC-SHA256(urlsafe_b64decode(secret),
  timestamp + METHOD + path + body)), over the exact body bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import keccak

EOA, POLY_PROXY, POLY_GNOSIS_SAFE = 0, 1, 2
SIGNATURE_TYPES = (EOA, POLY_PROXY, POLY_GNOSIS_SAFE)
POLYGON = 137
# CLOB V2 exchange contracts on Polygon (venues.md section 11).
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
ZERO_BYTES32 = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"

_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ORDER_V2_FIELDS = [
    ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"),
    ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("side", "uint8"), ("signatureType", "uint8"),
    ("timestamp", "uint256"), ("metadata", "bytes32"), ("builder", "bytes32"),
]
ORDER_V1_FIELDS = [
    ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("taker", "address"), ("tokenId", "uint256"),
    ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("expiration", "uint256"), ("nonce", "uint256"),
    ("feeRateBps", "uint256"), ("side", "uint8"), ("signatureType", "uint8"),
]


def exchange_address(neg_risk: bool) -> str:
    return NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2


def order_typed_data(order: dict[str, Any], *, chain_id: int, exchange: str, version: Literal["1", "2"] = "2"
                     ) -> dict[str, Any]:
    fields = ORDER_V2_FIELDS if version == "2" else ORDER_V1_FIELDS
    message: dict[str, Any] = {}
    for name, kind in fields:
        value = order[name]
        if kind.startswith("uint"):
            value = int(value)
        elif kind == "bytes32":
            value = bytes.fromhex(str(value).removeprefix("0x"))
        message[name] = value
    return {
        "domain": {"name": "Polymarket CTF Exchange", "version": version, "chainId": chain_id,
                   "verifyingContract": exchange},
        "types": {"EIP712Domain": _DOMAIN, "Order": [{"name": n, "type": t} for n, t in fields]},
        "primaryType": "Order",
        "message": message,
    }


def digest(typed: dict[str, Any]) -> bytes:
    """The 32-byte EIP-712 hash that is signed (0x1901 || domainSeparator || structHash)."""
    signable: SignableMessage = encode_typed_data(full_message=typed)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign_typed(private_key: str, typed: dict[str, Any]) -> str:
    signed = Account.sign_message(encode_typed_data(full_message=typed), private_key)
    return "0x" + bytes(signed.signature).hex()


def recover_typed(typed: dict[str, Any], signature: str) -> str:
    """The address that signed `typed` (what the exchange checks against the order's signer)."""
    return str(Account.recover_message(encode_typed_data(full_message=typed), signature=signature))


def sign_order(private_key: str, order: dict[str, Any], *, chain_id: int = POLYGON, neg_risk: bool = False,
               exchange: str | None = None, version: Literal["1", "2"] = "2") -> str:
    typed = order_typed_data(order, chain_id=chain_id, exchange=exchange or exchange_address(neg_risk), version=version)
    return sign_typed(private_key, typed)


def clob_auth_typed_data(address: str, timestamp: str, nonce: int, chain_id: int = POLYGON) -> dict[str, Any]:
    return {
        "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
        "types": {
            "EIP712Domain": _DOMAIN[:3],
            "ClobAuth": [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                         {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}],
        },
        "primaryType": "ClobAuth",
        "message": {"address": address, "timestamp": timestamp, "nonce": nonce, "message": CLOB_AUTH_MESSAGE},
    }


def l1_headers(private_key: str, timestamp_s: int, nonce: int = 0, chain_id: int = POLYGON) -> dict[str, str]:
    """Headers of `POST /auth/api-key` / `GET /auth/derive-api-key` (the wallet proves itself)."""
    address = Account.from_key(private_key).address
    signature = sign_typed(private_key, clob_auth_typed_data(address, str(timestamp_s), nonce, chain_id))
    return {"POLY_ADDRESS": address, "POLY_SIGNATURE": signature, "POLY_TIMESTAMP": str(timestamp_s),
            "POLY_NONCE": str(nonce)}


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str = "") -> str:
    key = base64.urlsafe_b64decode(secret)
    mac = hmac.new(key, f"{timestamp}{method}{path}{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()


def l2_headers(address: str, api_key: str, secret: str, passphrase: str, timestamp_s: int, method: str, path: str,
               body: str = "") -> dict[str, str]:
    return {
        "POLY_ADDRESS": address, "POLY_SIGNATURE": hmac_signature(secret, str(timestamp_s), method, path, body),
        "POLY_TIMESTAMP": str(timestamp_s), "POLY_API_KEY": api_key, "POLY_PASSPHRASE": passphrase,
    }


# Decimals of (price, size, amount) per tick size (py-clob-client ROUNDING_CONFIG).
ROUNDING = {
    "0.1": (1, 2, 3), "0.01": (2, 2, 4), "0.001": (3, 2, 5), "0.0001": (4, 2, 6),
}


def _round_down(x: Decimal, places: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), ROUND_DOWN)


def _round_up(x: Decimal, places: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-places), ROUND_UP)


def _decimals(x: Decimal) -> int:
    exponent = x.normalize().as_tuple().exponent
    return max(-exponent, 0) if isinstance(exponent, int) else 0


def limit_amounts(side: Literal["BUY", "SELL"], size: Decimal, price: Decimal, tick_size: str) -> tuple[int, int]:
    """(makerAmount, takerAmount) in 6-dp units of a limit order, as the venue's client builds
    them: BUY pays USDC (maker) for shares (taker), SELL mirrors."""
    price_dp, size_dp, amount_dp = ROUNDING[tick_size]
    price = price.quantize(Decimal(1).scaleb(-price_dp), ROUND_HALF_EVEN)
    shares = _round_down(size, size_dp)
    cash = shares * price
    if _decimals(cash) > amount_dp:
        cash = _round_up(cash, amount_dp + 4)
        if _decimals(cash) > amount_dp:
            cash = _round_down(cash, amount_dp)
    maker, taker = (cash, shares) if side == "BUY" else (shares, cash)
    return int(maker * 10**6), int(taker * 10**6)
