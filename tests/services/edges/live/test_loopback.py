"""The loopback venue servers refuse what the venues refuse, in the venues' error shapes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from eth_account import Account as EthAccount

from events.routing import ChildAllocated
from services.edges.live.loopback import APPS, Account, LoopbackVenue, hyperliquid_app, start_server
from services.edges.live.venues import ORDERS
from services.edges.transport import SignedRequest, VenueReply
from services.vault import Credentials

CREDS = Credentials("key-1", "secret-1", "pass-1")
CHILD = ChildAllocated(
    event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c",
    client_order_id="0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10", venue="x", symbol="BTC-USDT", side="buy",
    qty_1e8=10**8, order_type="limit", limit_px_1e9=100 * 10**9, tif="gtc", is_sandbox=False,
)
# venue -> (stale timestamp, unknown key, wrong passphrase) as (HTTP status, venue code)
REFUSALS = {
    "binance": ((400, -1021), (401, -2015), None),
    "okx": ((401, "50102"), (401, "50111"), (401, "50105")),
    "bybit": ((200, 10002), (401, 10003), None),
    "bitmart": ((401, 30007), (401, 30002), (401, 30005)),  # the memo is signed, not sent
}


@pytest.fixture(params=list(REFUSALS))
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    venue = LoopbackVenue(accounts={"key-1": Account("secret-1", "pass-1")})
    server = await start_server(APPS[request.param](venue))
    async with httpx.AsyncClient(base_url=server.url) as client:
        yield request.param, client
    await server.stop()


async def send(client: httpx.AsyncClient, request: SignedRequest) -> tuple[int, object]:
    response = await client.request(request.method, request.target, content=request.body.encode() or None,
                                    headers=request.headers)
    doc = response.json()
    return response.status_code, doc.get("code", doc.get("retCode"))


async def test_stale_unknown_and_wrong_passphrase_requests_are_refused(served: tuple[str, httpx.AsyncClient]) -> None:
    name, client = served
    orders = ORDERS[name]()
    stale, unknown, passphrase = REFUSALS[name]
    now_ms = int(time.time() * 1000)
    assert await send(client, orders.new_order(CHILD, CREDS, now_ms - 120_000)) == stale
    assert await send(client, orders.new_order(CHILD, Credentials("key-2", "secret-1", "pass-1"), now_ms)) == unknown
    if passphrase is not None:
        assert await send(client, orders.new_order(CHILD, Credentials("key-1", "secret-1", "pass-2"), now_ms)) == passphrase


async def test_a_changed_body_breaks_the_signature(served: tuple[str, httpx.AsyncClient]) -> None:
    name, client = served
    request = ORDERS[name]().new_order(CHILD, CREDS, int(time.time() * 1000))
    tampered = request.body.replace("100", "1")
    assert tampered != request.body
    status, code = await send(client, SignedRequest(request.method, request.path, request.query, tampered,
                                                    request.headers))
    assert (status, str(code)) in {(400, "-1022"), (401, "50113"), (401, "10004"), (401, "30005")}


async def test_hyperliquid_accepts_only_known_signers_and_fresh_nonces() -> None:
    key = "0x" + "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
    address = EthAccount.from_key(key).address
    venue = LoopbackVenue(accounts={address.lower(): Account("")})
    venue.set_book("BTC", bids=[], asks=[("100", "1")])
    server = await start_server(hyperliquid_app(venue))
    orders = ORDERS["hyperliquid"]()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            meta = orders.reference_request()
            assert meta is not None
            orders.load_reference(await _reply(client, meta))
            assert orders.assets == {"BTC": 0} and orders.reference_request() is None
            child = ChildAllocated(**{**_fields(CHILD), "venue": "hyperliquid", "symbol": "BTC-USD-PERP"})
            now_ms = int(time.time() * 1000)

            async def status(creds: Credentials, nonce: int, body: str | None = None) -> dict:
                request = orders.new_order(child, creds, nonce)
                response = await client.post(request.path, content=body or request.body, headers=request.headers)
                return response.json()

            good = Credentials(address, key)
            assert (await status(Credentials(address, "0x" + "11" * 32), now_ms))["response"].startswith(
                "User or API Wallet 0x")  # another key signed: an unknown signer
            assert "nonce" in (await status(good, now_ms - 3 * 86_400_000))["response"]
            request = orders.new_order(child, good, now_ms)
            tampered = request.body.replace('"s":"1"', '"s":"2"')
            assert tampered != request.body
            assert (await status(good, now_ms, tampered))["response"].startswith("User or API Wallet 0x")
            assert not venue.orders
            assert (await status(good, now_ms))["status"] == "ok"
            assert "nonce" in (await status(good, now_ms))["response"]  # a nonce is used once
            assert len(venue.orders) == 1
    finally:
        await server.stop()


async def _reply(client: httpx.AsyncClient, request: SignedRequest) -> VenueReply:
    response = await client.request(request.method, request.target, content=request.body.encode(), headers=request.headers)
    return VenueReply(response.status_code, response.content)


def _fields(event: ChildAllocated) -> dict:
    return {f: getattr(event, f) for f in event.__struct_fields__}
