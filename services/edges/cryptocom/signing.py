"""Crypto.com Exchange v1 auth: hex(HMAC-SHA256(secret, method + id + api_key + paramString + nonce)).

paramString concatenates `key + value` over the params sorted by key, recursing into nested
objects and lists (None is `null`), up to the venue's nesting depth of 3.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

_MAX_DEPTH = 3


def param_string(value: Any, depth: int = 0) -> str:
    if value is None:
        return "null"
    if depth >= _MAX_DEPTH:
        return str(value)
    if isinstance(value, dict):
        return "".join(key + param_string(value[key], depth + 1) for key in sorted(value))
    if isinstance(value, list):
        return "".join(param_string(item, depth + 1) for item in value)
    return str(value)


def sign(secret: str, method: str, request_id: int, api_key: str, params: dict[str, Any], nonce: int) -> str:
    message = f"{method}{request_id}{api_key}{param_string(params)}{nonce}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_request(secret: str, method: str, request_id: int, api_key: str, params: dict[str, Any],
                   nonce: int) -> dict[str, Any]:
    """The JSON-RPC body with `api_key` and `sig` filled in."""
    return {
        "id": request_id,
        "method": method,
        "api_key": api_key,
        "params": params,
        "nonce": nonce,
        "sig": sign(secret, method, request_id, api_key, params, nonce),
    }
