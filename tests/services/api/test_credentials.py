"""Venue credentials over HTTP: contract shapes, tenant isolation, and no secret anywhere it shows."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sequence_markets import Sequence, SequenceError

from events.vault import CredentialRevoked, CredentialStored
from services.api.app import create_app
from services.api.keys import IssuedKey, create_key
from services.bus import Bus
from services.settings import Settings
from services.vault import Credentials
from tests.services.vault.helpers import sqlite_bytes, stream_bytes
from tests.services.conftest import Stack

SECRET = "sk-API-TEST-SECRET-1a2b3c4d"
PASSPHRASE = "pp-API-PASSPHRASE-77zz"
API_KEY = "ak-API-PUBLIC-KEY-Q9R8"
SIGNER = "0xAPISIGNERKEYdeadbeef"
SENSITIVE = [SECRET, PASSPHRASE, API_KEY, SIGNER]
BODY = {"api_key": API_KEY, "api_secret": SECRET, "passphrase": PASSPHRASE, "extra_json": {"signer_private_key": SIGNER}}


@dataclass
class Api:
    app: FastAPI
    http: httpx.AsyncClient
    seen: list[str] = field(default_factory=list)  # every response body, to scan for secrets

    async def call(self, method: str, path: str, key: IssuedKey, **kw: object) -> httpx.Response:
        r = await self.http.request(method, path, headers={"Authorization": f"Bearer {key.secret}"}, **kw)  # type: ignore[arg-type]
        self.seen.append(r.text)
        return r


@pytest.fixture
async def api(bus: Bus, settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            yield Api(app, http)


def assert_clean(blob: bytes | str, what: str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    for secret in SENSITIVE:
        assert secret.encode() not in data, f"{what} contains a secret"


async def test_connect_list_disconnect(api: Api, bus: Bus, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = create_key(settings, "acme", sandbox=True, now_ns=1)
    before = time.time_ns()
    # PUT (the SDK) and POST (the docs) both store; the second is an idempotent overwrite.
    r = await api.call("PUT", "/v1/credentials/okx", key, json=BODY)
    assert (r.status_code, r.json()) == (200, {"venue": "okx", "connected": True})
    r = await api.call("POST", "/v1/credentials/okx", key, json=BODY)
    assert (r.status_code, r.json()) == (200, {"venue": "okx", "connected": True})
    r = await api.call("PUT", "/v1/credentials/kraken", key, json={"api_key": "k-1234", "api_secret": SECRET})
    assert r.status_code == 200
    r = await api.call("GET", "/v1/credentials", key)
    assert r.status_code == 200
    rows = r.json()["venues"]
    after = time.time_ns()
    assert all(before <= row.pop("updated_ns") <= after for row in rows)
    assert rows == [
        {"venue": "kraken", "connected": True, "key_hint": "1234", "has_passphrase": False, "heartbeat": "ok"},
        {"venue": "okx", "connected": True, "key_hint": "Q9R8", "has_passphrase": True, "heartbeat": "ok"},
    ]
    # The signing edge gets the plaintext back, and only through reveal.
    vault = api.app.state.vault.get(api.app.state.api)
    assert vault.reveal("acme", "okx") == Credentials(API_KEY, SECRET, PASSPHRASE, {"signer_private_key": SIGNER})
    r = await api.call("DELETE", "/v1/credentials/okx", key)
    assert (r.status_code, r.json()) == (200, {"venue": "okx", "connected": False})
    assert vault.reveal("acme", "okx") is None
    r = await api.call("GET", "/v1/credentials", key)
    assert [(v["venue"], v["connected"], v["key_hint"]) for v in r.json()["venues"]] == [
        ("kraken", True, "1234"),
        ("okx", False, "Q9R8"),
    ]
    r = await api.call("DELETE", "/v1/credentials/bybit", key)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "venue 'bybit' was never connected"
    # The bus saw the lifecycle, without secrets: okx v1, okx v2 (the POST), kraken v1, okx revoked v3.
    got = [d.event async for d in bus.replay(bus.stream_of("vault.acme.okx").name, "vault.>")]
    assert [(type(e).__name__, e.tenant, e.venue, e.version) for e in got] == [
        ("CredentialStored", "acme", "okx", 1),
        ("CredentialStored", "acme", "okx", 2),
        ("CredentialStored", "acme", "kraken", 1),
        ("CredentialRevoked", "acme", "okx", 3),
    ]
    assert isinstance(got[0], CredentialStored) and (got[0].key_hint, got[0].has_passphrase) == ("Q9R8", True)
    assert isinstance(got[3], CredentialRevoked)
    _, raw = await stream_bytes(bus, "vault.acme.okx")
    assert_clean(raw, "the JetStream stream")
    assert_clean("\n".join(api.seen), "an API response")
    assert_clean(caplog.text, "the log")
    assert_clean(sqlite_bytes(settings.data_dir), "the vault file")


async def test_bad_bodies_and_unknown_venues(api: Api, settings: Settings) -> None:
    key = create_key(settings, "acme", sandbox=True, now_ns=1)
    r = await api.call("PUT", "/v1/credentials/okx", key)  # the SDK sends no body for {}
    assert r.status_code == 400
    error = r.json()["error"]
    assert (error["code"], error["message"]) == ("BAD_REQUEST", "missing required field(s): api_key, api_secret")
    r = await api.call("POST", "/v1/credentials/okx", key, json={"api_key": API_KEY})
    assert (r.status_code, r.json()["error"]["message"]) == (400, "missing required field(s): api_secret")
    r = await api.call("PUT", "/v1/credentials/okx", key, json={"api_key": API_KEY, "api_secret": 5})
    assert (r.status_code, r.json()["error"]["message"]) == (400, "field(s) must be strings: api_secret")
    r = await api.call("PUT", "/v1/credentials/mtgox", key, json=BODY)
    assert r.status_code == 404
    assert r.json()["error"]["message"].startswith("unknown venue 'mtgox'; known: ")
    r = await api.call("DELETE", "/v1/credentials/mtgox", key)
    assert r.status_code == 404 and "'mtgox'" in r.json()["error"]["message"]
    r = await api.call("GET", "/v1/credentials", key)
    assert (r.status_code, r.json()) == (200, {"venues": []})
    r = await api.http.get("/v1/credentials")
    assert r.status_code == 401
    assert_clean("\n".join(api.seen), "an API response")


async def test_tenant_b_cannot_see_or_delete_tenant_a(api: Api, settings: Settings) -> None:
    a = create_key(settings, "tenant-a", sandbox=True, now_ns=1)
    b = create_key(settings, "tenant-b", sandbox=True, now_ns=2)
    r = await api.call("PUT", "/v1/credentials/okx", a, json=BODY)
    assert r.status_code == 200
    r = await api.call("GET", "/v1/credentials", b)
    assert (r.status_code, r.json()) == (200, {"venues": []})
    r = await api.call("DELETE", "/v1/credentials/okx", b)
    assert (r.status_code, r.json()["error"]["message"]) == (404, "venue 'okx' was never connected")
    r = await api.call("GET", "/v1/credentials", a)
    assert [(v["venue"], v["connected"]) for v in r.json()["venues"]] == [("okx", True)]
    vault = api.app.state.vault.get(api.app.state.api)
    assert vault.reveal("tenant-b", "okx") is None
    assert vault.reveal("tenant-a", "okx") == Credentials(API_KEY, SECRET, PASSPHRASE, {"signer_private_key": SIGNER})
    assert_clean("\n".join(api.seen), "an API response")


async def test_the_published_sdk_connects_lists_and_disconnects(bus: Bus, settings: Settings) -> None:
    # The SDK speaks urllib, so serve over a real loopback socket and call it from threads.
    key = create_key(settings, "acme", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.01)
        seq = Sequence(key, base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", max_retries=0)
        assert await asyncio.to_thread(seq.connect_venue, "okx", API_KEY, SECRET, passphrase=PASSPHRASE) is None
        # Polymarket's shape: empty key and secret, the signer in extra_json.
        extra = {"signer_private_key": SIGNER, "proxy_address": "0xproxy"}
        assert await asyncio.to_thread(seq.connect_venue, "polymarket", "", "", extra_json=extra) is None
        listed = await asyncio.to_thread(seq.venues)
        assert [(v["venue"], v["connected"], v["key_hint"], v["has_passphrase"]) for v in listed["venues"]] == [
            ("okx", True, "Q9R8", True),
            ("polymarket", True, "", False),
        ]
        vault = app.state.vault.get(app.state.api)
        assert vault.reveal("acme", "polymarket") == Credentials("", "", None, extra)
        assert await asyncio.to_thread(seq.disconnect_venue, "okx") is None
        with pytest.raises(SequenceError) as exc:
            await asyncio.to_thread(seq.disconnect_venue, "bybit")
        assert (exc.value.status, exc.value.message) == (404, "venue 'bybit' was never connected")
        assert_clean(repr(listed), "the SDK's venues()")
    finally:
        server.should_exit = True
        await serving
        sock.close()


# Secrets of every credential shape (venues.md): passphrase venues, Kalshi's RSA key, Polymarket's
# signer in extra_json. Each is unique text, so finding it anywhere means it leaked.
KALSHI_PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEKALSHITESTPEMBODY9x8y7z\n-----END RSA PRIVATE KEY-----"
TRADING_SECRETS = {
    "okx": {"api_key": "ak-OKX-TRADE-KEY-5t6y", "api_secret": "sk-OKX-TRADE-SECRET-3e4r", "passphrase": "pp-OKX-TRADE-7u8i"},
    "coinbase": {"api_key": "ak-CB-TRADE-KEY-1q2w", "api_secret": "sk-CB-TRADE-SECRET-9o0p", "passphrase": "pp-CB-TRADE-4f5g"},
    "kraken": {"api_key": "ak-KRAKEN-TRADE-KEY-6h7j", "api_secret": "sk-KRAKEN-TRADE-SECRET-8k9l"},
    "kalshi": {"api_key": "0f3c2b1a-KALSHI-KEY-ID-2z3x", "api_secret": KALSHI_PEM},
    "polymarket": {"api_key": "", "api_secret": "", "extra_json": {
        "signer_private_key": "0xPOLYSIGNERdeadbeefcafe0123456789", "proxy_address": "0xPOLYPROXY-not-secret"}},
}


def _secrets_of(creds: dict[str, object]) -> list[str]:
    out = [v for k, v in creds.items() if k in ("api_key", "api_secret", "passphrase") and v]
    extra = creds.get("extra_json")
    if isinstance(extra, dict):
        out.append(extra["signer_private_key"])
    return out  # type: ignore[return-value]


ALL_TRADING_SECRETS = [s for c in TRADING_SECRETS.values() for s in _secrets_of(c)]
# The PEM's body alone (a log could wrap or re-encode the armour lines).
ALL_TRADING_SECRETS.append("MIIEKALSHITESTPEMBODY9x8y7z")


async def test_no_secret_anywhere_after_storing_credentials_and_trading(
    stack: Stack, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seq, api = stack.seq, stack.api
    seen: list[object] = []  # every API answer and every error text

    async def sdk(fn: object, *args: object, **kwargs: object) -> object:
        try:
            result = await stack.call(fn, *args, **kwargs)  # type: ignore[arg-type]
        except SequenceError as exc:
            seen.extend([str(exc), repr(exc), exc.message])
            raise
        seen.append(result)
        return result

    for venue, creds in TRADING_SECRETS.items():
        await sdk(seq.connect_venue, venue, creds["api_key"], creds["api_secret"],
                  passphrase=creds.get("passphrase"), extra_json=creds.get("extra_json"))
    # Refused bodies name the field, never its value.
    with pytest.raises(SequenceError):
        await sdk(seq.connect_venue, "mtgox", "ak-OKX-TRADE-KEY-5t6y", "sk-OKX-TRADE-SECRET-3e4r", passphrase="pp-OKX-TRADE-7u8i")
    with pytest.raises(SequenceError):
        await sdk(seq._put, "/v1/credentials/okx", {"api_key": "ak-OKX-TRADE-KEY-5t6y", "api_secret": KALSHI_PEM, "passphrase": 7})

    # Orders: a market buy that fills, a resting limit cancelled, a venue emptied, the kill switch.
    bought = await sdk(seq.buy, "BTC-USDT", 0.01)
    assert (await stack.until_terminal(bought["graph_id"]))["status"] == "COMPLETED"  # type: ignore[index]
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    limit = (bid * 9 // 10) // 1_000_000_000 / 1
    resting = []
    for venue in ("binance", "okx"):
        graph_id = (await sdk(seq.buy, "BTC-USDT", 0.01, limit_price=limit, venue=venue))["graph_id"]  # type: ignore[index]
        await api.ledger_follower.wait_until(
            lambda g=graph_id: (s := api.ledger.graphs.get(g)) is not None and bool(s.nodes["order"].open_children)
        )
        resting.append(graph_id)
    await sdk(seq.cancel, resting[0])
    assert (await sdk(seq.graph_status, resting[0]))["status"] == "CANCELLED"  # type: ignore[index]
    emptied = await sdk(seq.cancel_all_on_venue, "okx")
    assert emptied["node_order_ids"] == [f"{resting[1]}:order:1"]  # type: ignore[index]
    await sdk(seq.kill_switch_engage, "secrets drill")
    with pytest.raises(SequenceError) as blocked:
        await sdk(seq.buy, "BTC-USDT", 0.01)
    assert blocked.value.status == 409
    await sdk(seq.kill_switch_clear)
    for read in (seq.orders, seq.fills, seq.venues, seq.positions_unified, seq.edges, seq.account):
        await sdk(read)
    await sdk(seq.graph_status, bought["graph_id"])  # type: ignore[index]
    listed = await sdk(seq.venues)
    assert {v["venue"] for v in listed["venues"] if v["connected"]} == set(TRADING_SECRETS)  # type: ignore[index]

    # Every raw message of every stream (data and headers), every answer, every log line.
    names = {info.config.name for info in await bus.js.streams_info()}
    assert names == {s.name for s in bus.streams}, "a stream exists that the scan does not cover"
    for definition in bus.streams:
        if (await bus.js.stream_info(definition.name)).state.messages == 0:
            assert definition.name == "MARKETS"  # no prediction edge runs here: nothing to scan
            continue
        _, raw = await stream_bytes(bus, definition.subjects[0])
        _assert_no_trading_secret(raw, f"JetStream stream {definition.name}")
    _assert_no_trading_secret(repr(seen), "an API answer or error")
    _assert_no_trading_secret(caplog.text, "the log")
    _assert_no_trading_secret(sqlite_bytes(stack.settings.data_dir), "the vault file")
    assert len(seen) > 20 and caplog.records  # the scans had something to look at


def _assert_no_trading_secret(blob: bytes | str, what: str) -> None:
    data = blob.encode() if isinstance(blob, str) else blob
    leaked = [s for s in ALL_TRADING_SECRETS if s.encode() in data]
    assert not leaked, f"{what} contains {len(leaked)} secret(s)"  # never print the secret itself
