"""Binance SIGNED endpoints: HMAC-SHA256 of the total parameter string, lowercase hex.

totalParams is the query string followed by the urlencoded body, in send order; the signature
is appended as `&signature=` and the API key travels in `X-MBX-APIKEY`.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

API_KEY_HEADER = "X-MBX-APIKEY"


def sign(secret: str, total_params: str) -> str:
    return hmac.new(secret.encode(), total_params.encode(), hashlib.sha256).hexdigest()


def signed_query(secret: str, params: list[tuple[str, str]]) -> str:
    """`params` (in send order, values already venue strings) plus their `signature`."""
    query = urlencode(params)
    return f"{query}&signature={sign(secret, query)}"
