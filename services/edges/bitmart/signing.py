"""BitMart auth: hex(HMAC-SHA256(secret, timestamp + "#" + memo + "#" + body)).

`body` is the exact JSON text of a POST, or the query string of a GET (empty when none);
`timestamp` is milliseconds. The memo is chosen when the key is made (our `passphrase`). The
spot WebSocket login signs the fixed text `bitmart.WebSocket`.
"""

from __future__ import annotations

import hashlib
import hmac

KEY_HEADER = "X-BM-KEY"
SIGN_HEADER = "X-BM-SIGN"
TIMESTAMP_HEADER = "X-BM-TIMESTAMP"
WS_LOGIN_BODY = "bitmart.WebSocket"


def prehash(timestamp: str, memo: str, body: str = "") -> str:
    return f"{timestamp}#{memo}#{body}"


def sign(secret: str, timestamp: str, memo: str, body: str = "") -> str:
    return hmac.new(secret.encode(), prehash(timestamp, memo, body).encode(), hashlib.sha256).hexdigest()


def ws_login_sign(secret: str, timestamp: str, memo: str) -> str:
    return sign(secret, timestamp, memo, WS_LOGIN_BODY)


def headers(api_key: str, secret: str, memo: str, timestamp: str, body: str = "") -> dict[str, str]:
    return {
        KEY_HEADER: api_key,
        SIGN_HEADER: sign(secret, timestamp, memo, body),
        TIMESTAMP_HEADER: timestamp,
        "Content-Type": "application/json",
    }
