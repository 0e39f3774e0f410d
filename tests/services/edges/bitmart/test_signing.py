"""BitMart request signing (services/edges/bitmart/signing.py) against the docs' two examples,
whose digests were recomputed with openssl (payloads/SOURCE.md)."""

from __future__ import annotations

import hashlib
import hmac

from services.edges.bitmart import signing
from tests.services.edges.bitmart.recorded import payload_json

REST, WS_LOGIN = payload_json("signing_vectors.json")


def test_rest_signature_matches_the_docs_example() -> None:
    v = REST
    assert signing.prehash(v["timestamp"], v["memo"], v["body"]) == f'1589793796145#test001#{v["body"]}'
    assert signing.sign(v["secret"], v["timestamp"], v["memo"], v["body"]) == v["sign"]
    # a changed memo, timestamp or body byte changes the signature
    assert signing.sign(v["secret"], v["timestamp"], "test002", v["body"]) != v["sign"]
    assert signing.sign(v["secret"], "1589793796146", v["memo"], v["body"]) != v["sign"]
    assert signing.sign(v["secret"], v["timestamp"], v["memo"], v["body"].replace("8600", "8601")) != v["sign"]


def test_ws_login_signature_matches_the_docs_example() -> None:
    v = WS_LOGIN
    assert signing.ws_login_sign(v["secret"], v["timestamp"], v["memo"]) == v["sign"]


def test_a_get_signs_its_query_string_and_no_body_signs_the_empty_string() -> None:
    secret, ts, memo = REST["secret"], "1700000000000", "memo"
    expected = hmac.new(secret.encode(), b"1700000000000#memo#symbol=BTC_USDT", hashlib.sha256).hexdigest()
    assert signing.sign(secret, ts, memo, "symbol=BTC_USDT") == expected
    assert signing.prehash(ts, memo) == "1700000000000#memo#"


def test_headers_carry_key_sign_and_timestamp_but_never_the_secret_or_memo() -> None:
    v = REST
    headers = signing.headers("my-key", v["secret"], v["memo"], v["timestamp"], v["body"])
    assert headers["X-BM-KEY"] == "my-key"
    assert headers["X-BM-SIGN"] == v["sign"]
    assert headers["X-BM-TIMESTAMP"] == v["timestamp"]
    assert headers["Content-Type"] == "application/json"
    assert v["secret"] not in headers.values() and v["memo"] not in headers.values()
