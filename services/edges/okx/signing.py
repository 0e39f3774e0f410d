"""OKX v5 REST/WS auth: base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body)).

REST timestamps are ISO 8601 with milliseconds in UTC; the WS login signs unix seconds with
`GET/users/self/verify`. The passphrase is sent as chosen when the key was made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime

KEY_HEADER = "OK-ACCESS-KEY"
SIGN_HEADER = "OK-ACCESS-SIGN"
TIMESTAMP_HEADER = "OK-ACCESS-TIMESTAMP"
PASSPHRASE_HEADER = "OK-ACCESS-PASSPHRASE"


def prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    """`request_path` includes `?query` for GETs; `body` is the exact JSON text sent."""
    return f"{timestamp}{method.upper()}{request_path}{body}"


def sign(secret: str, timestamp: str, method: str, request_path: str, body: str = "") -> str:
    digest = hmac.new(secret.encode(), prehash(timestamp, method, request_path, body).encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def rest_timestamp(unix_ms: int) -> str:
    """`2020-12-08T09:08:57.715Z` for the given wall-clock milliseconds."""
    moment = datetime.fromtimestamp(unix_ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{unix_ms % 1000:03d}Z"


def ws_login_sign(secret: str, unix_seconds: str) -> str:
    return sign(secret, unix_seconds, "GET", "/users/self/verify")


def headers(api_key: str, secret: str, passphrase: str, timestamp: str, method: str, request_path: str,
            body: str = "") -> dict[str, str]:
    return {
        KEY_HEADER: api_key,
        SIGN_HEADER: sign(secret, timestamp, method, request_path, body),
        TIMESTAMP_HEADER: timestamp,
        PASSPHRASE_HEADER: passphrase,
        "Content-Type": "application/json",
    }
