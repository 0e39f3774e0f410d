"""Bitget v2 auth: base64(HMAC-SHA256(secret, timestamp_ms + METHOD + requestPath[?query] + body))."""

from __future__ import annotations

import base64
import hashlib
import hmac


def prehash(timestamp: str, method: str, request_path: str, query: str = "", body: str = "") -> str:
    return f"{timestamp}{method.upper()}{request_path}{'?' + query if query else ''}{body}"


def sign(secret: str, timestamp: str, method: str, request_path: str, query: str = "", body: str = "") -> str:
    message = prehash(timestamp, method, request_path, query, body)
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def ws_login_sign(secret: str, unix_seconds: str) -> str:
    return sign(secret, unix_seconds, "GET", "/user/verify")


def headers(api_key: str, secret: str, passphrase: str, timestamp: str, method: str, request_path: str,
            query: str = "", body: str = "") -> dict[str, str]:
    return {
        "ACCESS-KEY": api_key,
        "ACCESS-SIGN": sign(secret, timestamp, method, request_path, query, body),
        "ACCESS-TIMESTAMP": timestamp,
        "ACCESS-PASSPHRASE": passphrase,
        "Content-Type": "application/json",
        "locale": "en-US",
    }
