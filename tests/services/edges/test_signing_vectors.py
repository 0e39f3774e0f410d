"""Every published signing vector in ../shared/fixtures/signing_vectors.json for the HMAC venues
is reproduced by the venue's signing module (and a changed input changes the signature)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from services.edges.binance import signing as binance
from services.edges.bitget import signing as bitget
from services.edges.bybit import signing as bybit
from services.edges.cryptocom import signing as cryptocom
from services.edges.hyperliquid import signing as hyperliquid
from services.edges.kraken import signing as kraken
from services.edges.okx import signing as okx
from tests.shared_fixtures import FIXTURES


def _binance(i: dict[str, Any]) -> str:
    return binance.sign(i["secretKey"], i["totalParams"])


def _kraken_rest(i: dict[str, Any]) -> str:
    return kraken.api_sign(i["secret"], i["uri_path"], i["nonce"], i["postdata"])


def _kraken_futures(i: dict[str, Any]) -> str:
    return kraken.futures_challenge_sign(i["api_secret"], i["challenge"])


def _okx(i: dict[str, Any]) -> str:
    return okx.sign(i["secret"], i["timestamp"], i["method"], i["requestPath"], i["body"])


def _okx_ws(i: dict[str, Any]) -> str:
    return okx.ws_login_sign(i["secret"], i["timestamp"])


def _bybit(i: dict[str, Any]) -> str:
    return bybit.sign(i["secret"], i["timestamp"], i["api_key"], i["recv_window"], i["body"])


def _bybit_ws(i: dict[str, Any]) -> str:
    return bybit.ws_auth_sign(i["secret"], i["expires"])


def _bitget(i: dict[str, Any]) -> str:
    return bitget.sign(i["secret"], i["timestamp"], i["method"], i["requestPath"], body=i["body"])


def _cryptocom(i: dict[str, Any]) -> str:
    assert cryptocom.param_string(i["params"]) == i["paramString"]
    return cryptocom.sign(i["secret"], i["method"], i["id"], i["api_key"], i["params"], i["nonce"])


SIGNERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "binance": _binance,
    "kraken_spot_rest": _kraken_rest,
    "kraken_futures_ws": _kraken_futures,
    "okx": _okx,
    "okx_ws_login": _okx_ws,
    "bybit_v5": _bybit,
    "bybit_v5_ws_auth": _bybit_ws,
    "bitget_v2": _bitget,
    "cryptocom_v1": _cryptocom,
}


def _vectors() -> list[dict[str, Any]]:
    path = FIXTURES / "signing_vectors.json"
    if not path.exists():
        return []
    return [v for v in json.loads(path.read_text())["vectors"] if v["venue"] in SIGNERS]


VECTORS = _vectors()


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['venue']}-{i}" for i, v in enumerate(VECTORS)])
def test_vector_reproduced(vector: dict[str, Any]) -> None:
    assert SIGNERS[vector["venue"]](vector["inputs"]) == vector["expected"]


@pytest.mark.parametrize("vector", VECTORS, ids=[f"{v['venue']}-{i}" for i, v in enumerate(VECTORS)])
def test_a_changed_secret_changes_the_signature(vector: dict[str, Any]) -> None:
    inputs = dict(vector["inputs"])
    key = next(k for k in ("secretKey", "secret", "api_secret") if k in inputs)
    # Kraken secrets are base64: swap a whole 4-char group so the text stays valid base64.
    inputs[key] = "AAAA" + inputs[key][4:] if inputs[key][:4] != "AAAA" else "BBBB" + inputs[key][4:]
    assert SIGNERS[vector["venue"]](inputs) != vector["expected"]


def test_every_hmac_venue_has_a_vector() -> None:
    if not VECTORS:
        pytest.skip("shared signing vectors are not present on this machine")
    assert {v["venue"] for v in VECTORS} == set(SIGNERS)


def _hyperliquid_vectors() -> list[dict[str, Any]]:
    path = FIXTURES / "signing_vectors.json"
    if not path.exists():
        return []
    return [v for v in json.loads(path.read_text())["vectors"] if v["venue"] == "hyperliquid"]


HL_VECTORS = _hyperliquid_vectors()
HL_IDS = [f"{v['name']}-{i}" for i, v in enumerate(HL_VECTORS)]


@pytest.mark.parametrize("vector", HL_VECTORS, ids=HL_IDS)
def test_hyperliquid_vector_reproduced(vector: dict[str, Any]) -> None:
    i, expected = vector["inputs"], vector["expected"]
    if "connectionId" in expected:
        cid = hyperliquid.action_hash(i["action"], i["vault_address"], i["nonce"], i.get("expires_after"))
        assert "0x" + cid.hex() == expected["connectionId"]
    if "r" in expected:
        if vector["name"].startswith("l1_"):
            sig = hyperliquid.sign_l1_action(i["private_key"], i["action"], i["vault_address"], i["nonce"],
                                             i["expires_after"], i["is_mainnet"])
        else:
            sig = hyperliquid.sign_user_action(i["private_key"], vector["name"], i["message"])
        assert sig == {k: expected[k] for k in ("r", "s", "v")}


def test_hyperliquid_vectors_cover_l1_user_and_connection_id() -> None:
    if not HL_VECTORS:
        pytest.skip("shared signing vectors are not present on this machine")
    names = {v["name"] for v in HL_VECTORS}
    assert {"l1_order_gtc", "l1_dummy_vault", "usdSend", "withdraw3", "phantom_agent_connectionId"} <= names


def test_hyperliquid_action_key_order_is_part_of_the_hash() -> None:
    action = {"type": "order", "orders": [], "grouping": "na"}
    reordered = {"grouping": "na", "type": "order", "orders": []}
    assert hyperliquid.action_hash(action, None, 1) != hyperliquid.action_hash(reordered, None, 1)
    assert hyperliquid.action_hash(action, None, 1) != hyperliquid.action_hash(action, None, 1, expires_after=5)


def test_okx_rest_timestamp_format() -> None:
    assert okx.rest_timestamp(1607418537715) == "2020-12-08T09:08:57.715Z"
    assert okx.rest_timestamp(1607418537005) == "2020-12-08T09:08:57.005Z"


def test_binance_signed_query_appends_the_signature_of_the_query() -> None:
    query = binance.signed_query("s3cret", [("symbol", "BTCUSDT"), ("price", "0.1")])
    body, _, signature = query.partition("&signature=")
    assert body == "symbol=BTCUSDT&price=0.1"
    assert signature == binance.sign("s3cret", body)


def test_cryptocom_param_string_nests_and_nulls() -> None:
    params = {"b": [{"y": "2", "x": "1"}, {"z": None}], "a": "0"}
    assert cryptocom.param_string(params) == "a0bx1y2znull"
