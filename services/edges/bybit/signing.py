"""Bybit v5 auth: hex(HMAC-SHA256(secret, timestamp + apiKey + recvWindow + payload)).

`payload` is the query string for GET and the raw JSON body for POST, byte for byte as sent.
"""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_RECV_WINDOW = "5000"


def sign(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    message = f"{timestamp}{api_key}{recv_window}{payload}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def ws_auth_sign(secret: str, expires_ms: str) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires_ms}".encode(), hashlib.sha256).hexdigest()


def headers(api_key: str, secret: str, timestamp: str, payload: str,
            recv_window: str = DEFAULT_RECV_WINDOW) -> dict[str, str]:
    return {
        "X-BAPI-API-KEY": api_key,
        "X-BAPI-TIMESTAMP": timestamp,
        "X-BAPI-RECV-WINDOW": recv_window,
        "X-BAPI-SIGN": sign(secret, timestamp, api_key, recv_window, payload),
        "Content-Type": "application/json",
    }
