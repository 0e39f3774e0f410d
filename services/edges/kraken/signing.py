"""Kraken auth. Spot REST: API-Sign = b64(HMAC-SHA512(b64decode(secret), path + SHA256(nonce + postdata))).

Futures WS challenge: b64(HMAC-SHA512(b64decode(secret), SHA256(challenge))). The secret is the
base64 text Kraken issues; nonces must increase per key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def _hmac512_b64(secret_b64: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(base64.b64decode(secret_b64), message, hashlib.sha512).digest()).decode()


def api_sign(secret_b64: str, uri_path: str, nonce: str, postdata: str) -> str:
    inner = hashlib.sha256((nonce + postdata).encode()).digest()
    return _hmac512_b64(secret_b64, uri_path.encode() + inner)


def futures_challenge_sign(secret_b64: str, challenge: str) -> str:
    return _hmac512_b64(secret_b64, hashlib.sha256(challenge.encode()).digest())


def headers(api_key: str, secret_b64: str, uri_path: str, nonce: str, postdata: str) -> dict[str, str]:
    return {
        "API-Key": api_key,
        "API-Sign": api_sign(secret_b64, uri_path, nonce, postdata),
        "Content-Type": "application/x-www-form-urlencoded",
    }
