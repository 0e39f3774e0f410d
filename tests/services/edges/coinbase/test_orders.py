"""Coinbase Advanced Trade order entry (services/edges/coinbase/orders.py): JWTs that verify with
the public key, exact bodies, the recorded replies parsed field by field, the `user` channel
fixture, and round trips through the live transport against the local private server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from events.routing import ChildAllocated
from services.edges.coinbase import signing
from services.edges.coinbase.orders import CoinbaseOrders
from services.edges.coinbase.private_server import coinbase_app, order_uuid
from services.edges.coinbase.user_stream import CoinbaseUserStream
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, start_server
from services.edges.live.venues import LIMITS, ORDERS, can_trade
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, OrderState, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
KEY_NAME = "organizations/org-1/apiKeys/key-1"
ORDERS_ = CoinbaseOrders()
PX = 10**9


def _pem_pair() -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _pem_pair()
CREDS = Credentials(KEY_NAME, PRIVATE)


def child(order_type: str = "limit", tif: str = "gtc", side: str = "buy", px: int | None = 50_000 * PX,
          qty: int = 100_000, coid: str = COID) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=time.time_ns(), plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=coid, venue="coinbase", symbol="BTC-USD", side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type=order_type, limit_px_1e9=px, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def reply(*name: str) -> VenueReply:
    return VenueReply(200, json.dumps(fixture_json("venues", "coinbase", *name)).encode())


# --- requests ---------------------------------------------------------------------------------


def test_each_request_carries_a_jwt_that_verifies_with_the_public_key_and_names_its_uri() -> None:
    now_ms = 1_765_000_000_123
    request = ORDERS_.new_order(child(), CREDS, now_ms)
    assert request.headers["Authorization"].startswith("Bearer ")
    token = request.headers["Authorization"][len("Bearer "):]
    claims = signing.verify_jwt(token, PUBLIC)
    assert claims == {"iss": "cdp", "sub": KEY_NAME, "nbf": 1_765_000_000, "exp": 1_765_000_120,
                      "uri": "POST api.coinbase.com/api/v3/brokerage/orders"}
    assert signing.verify_jwt(token, _pem_pair()[1]) is None  # another key's public key: refused
    lookup = ORDERS_.order_status(child(), CREDS, now_ms)
    claims = signing.verify_jwt(lookup.headers["Authorization"][7:], PUBLIC)
    assert claims is not None and claims["uri"] == "GET api.coinbase.com/api/v3/brokerage/orders/historical/batch"
    assert lookup.query.startswith("product_ids=BTC-USD&start_date=")  # the query is not in the uri claim
    assert KEY_NAME not in repr(request) and PRIVATE not in repr(request)


@pytest.mark.parametrize(("order_type", "tif", "config"), [
    ("market", "ioc", {"market_market_ioc": {"base_size": "0.001"}}),
    ("limit", "gtc", {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "50000", "post_only": False}}),
    ("limit", "day", {"limit_limit_gtc": {"base_size": "0.001", "limit_price": "50000", "post_only": False}}),
    ("limit", "ioc", {"sor_limit_ioc": {"base_size": "0.001", "limit_price": "50000"}}),
    ("limit", "fok", {"limit_limit_fok": {"base_size": "0.001", "limit_price": "50000"}}),
])
def test_the_create_body_is_exact(order_type: str, tif: str, config: dict) -> None:
    body = json.loads(ORDERS_.new_order(child(order_type, tif), CREDS, 1_000).body)
    assert body == {"client_order_id": COID, "product_id": "BTC-USD", "side": "BUY", "order_configuration": config}


def test_the_client_order_id_is_derived_and_stable() -> None:
    assert ORDERS_.client_id(COID.upper()) == COID
    assert ORDERS_.client_id("not-a-uuid") == ORDERS_.client_id("not-a-uuid") != ORDERS_.client_id("other")


def test_registered_for_live_spot_with_its_rate_limit() -> None:
    assert ORDERS["coinbase"] is CoinbaseOrders
    assert can_trade("coinbase", "BTC-USD") and not can_trade("coinbase", "BTC-USDC-PERP")
    assert [(lim.limit, lim.window_s) for lim in LIMITS["coinbase"]] == [(30, 1.0)]


# --- recorded replies -------------------------------------------------------------------------


def test_recorded_order_fills_accounts_and_open_orders_parse() -> None:
    order = fixture_json("venues", "coinbase", "http_order.json")["order"]
    assert ORDERS_.order_state(child(), order) == OrderState("0000-000000-000000", True, 100_000, "open")
    [fill] = ORDERS_.parse_fills(child(), "0000-000000-000000", reply("http_fills.json"), 5)
    assert fill == Filled(
        client_order_id=COID, venue_order_id="0000-000000-000000", fill_id="1111-11111-111111", symbol="BTC-USD",
        side="buy", qty_1e8=500_000, px_1e9=45_123_450_000_000, fee_usd_1e9=1_140_000_000, liquidity="maker",
        ts_ns=1_705_314_600_000_000_000, fee_asset="USD", fee_qty_1e8=114_000_000,
    )
    assert ORDERS_.parse_balances(reply("http_accounts.json")) == {"BTC": Decimal("1.23956789"),
                                                                   "USD": Decimal("10450.50")}
    assert ORDERS_.parse_open_orders(reply("http_orders_list.json")) == ["11111-000000-000001"]
    # A lookup finds our client id in the product's list; an id absent from it is unknown.
    listed = fixture_json("venues", "coinbase", "http_orders_list.json")
    listed["orders"][1]["client_order_id"] = COID
    state = ORDERS_.parse_order_status(child("market", "ioc"), VenueReply(200, json.dumps(listed).encode()), 5)
    assert state == OrderState("0000-000000-000002", False, 3_250_000, "ioc_remainder")
    missing = ORDERS_.parse_order_status(child(), reply("http_orders_list.json"), 5)
    assert isinstance(missing, Rejected) and ORDERS_.is_unknown_order(missing)


def test_create_replies_and_refusals() -> None:
    ok = {"success": True, "success_response": {"order_id": "abc-1", "product_id": "BTC-USD", "side": "BUY",
                                                "client_order_id": COID}}
    assert ORDERS_.parse_new_order(child(), VenueReply(200, json.dumps(ok).encode()), 5) == [Acked(COID, "abc-1", 5)]
    no = {"success": False, "failure_reason": "UNKNOWN_FAILURE_REASON", "order_id": "",
          "error_response": {"error": "INSUFFICIENT_FUND", "message": "Insufficient balance in source account"}}
    assert ORDERS_.parse_new_order(child(), VenueReply(200, json.dumps(no).encode()), 5) == [
        Rejected(COID, "INSUFFICIENT_FUND", "Insufficient balance in source account", 5)]
    assert ORDERS_.parse_new_order(child(), VenueReply(503, b"upstream"), 5) == []  # unknown: look it up
    [html] = ORDERS_.parse_new_order(child(), VenueReply(401, b"Unauthorized\n"), 5)
    assert html.code == "http_401"


def test_the_user_channel_fixture_and_updates_parse_into_outcomes() -> None:
    stream = CoinbaseUserStream()
    frame = fixture_json("venues", "coinbase", "ws_user.json")
    oid = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
    coid = "11111-000000-000001"
    ts = 1_775_572_206_000_000_000  # 2026-04-07T14:30:06Z
    assert stream.parse(frame) == [Acked(coid, oid, ts)]  # a snapshot row: the order, no fill
    row = frame["events"][0]["orders"][0]

    def update(cum: str, leaves: str, avg: str, fees: str, status: str, at: str) -> dict:
        return {**frame, "timestamp": at, "events": [{"type": "update", "orders": [
            {**row, "cumulative_quantity": cum, "leaves_quantity": leaves, "avg_price": avg, "total_fees": fees,
             "status": status}]}]}

    first = stream.parse(update("0.0004", "0.0006", "68000", "0.0272", "OPEN", "2026-04-07T14:30:07Z"))
    assert first == [Filled(client_order_id=coid, venue_order_id=oid, fill_id=f"{oid}:0.0004", symbol="BTC-USD",
                            side="buy", qty_1e8=40_000, px_1e9=68_000 * PX, fee_usd_1e9=27_200_000,
                            liquidity="taker", ts_ns=ts + 10**9, fee_asset="USD", fee_qty_1e8=2_720_000)]
    # The next 0.0002 at 68300 moves the average to 68100; then the rest is cancelled.
    second = stream.parse(update("0.0006", "0", "68100", "0.0408", "CANCELLED", "2026-04-07T14:30:08Z"))
    fill, cancelled = second
    assert isinstance(fill, Filled) and (fill.qty_1e8, fill.px_1e9, fill.fee_qty_1e8) == (20_000, 68_300 * PX, 1_360_000)
    assert cancelled == Cancelled(coid, oid, 60_000, 0, "user", ts + 2 * 10**9)
    assert stream.parse(update("0.0006", "0", "68100", "0.0408", "CANCELLED", "2026-04-07T14:30:09Z")) == []


# --- round trips against the local private server -------------------------------------------


@dataclass
class Served:
    venue: LoopbackVenue
    server: RunningServer
    client: httpx.AsyncClient

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        return HttpTransport(CoinbaseOrders(), creds, self.client)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = LoopbackVenue(accounts={KEY_NAME: Account(PUBLIC)}, balances={"USD": Decimal(100_000)},
                          assets={"BTC-USD": ("BTC", "USD")})
    venue.set_book("BTC-USD", bids=[("49990", "1")], asks=[("50000", "0.0004"), ("50010", "1")])
    server = await start_server(coinbase_app(venue))
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            yield Served(venue, server, client)
    finally:
        venue.release.set()
        await server.stop()


async def test_a_market_order_fills_through_the_transport_with_the_venues_fills(served: Served) -> None:
    alloc = child("market", "ioc", px=None, qty=100_000)
    [acked] = await served.transport().place(alloc)  # the create reply only acknowledges
    [placed] = served.venue.orders.values()
    oid = order_uuid(placed.order_id)
    assert acked == Acked(COID, oid, acked.ts_ns)
    fills = await served.transport().poll(alloc, oid)  # then the venue's fills, by trade id
    assert all(isinstance(f, Filled) for f in fills)
    assert [f.fill_id for f in fills if isinstance(f, Filled)] == [f"trade-{t.trade_id}" for t in served.venue.trades]
    assert [(f.qty_1e8, f.px_1e9, f.fee_asset, f.liquidity) for f in fills if isinstance(f, Filled)] == [
        (40_000, 50_000 * PX, "USD", "taker"), (60_000, 50_010 * PX, "USD", "taker")]
    assert placed.client_id == COID and placed.status == "FILLED"
    assert served.venue.balances["BTC"] == Decimal("0.001")
    balances = await served.transport().balances()
    assert balances == {a: q for a, q in served.venue.balances.items()}


async def test_a_resting_order_is_amended_natively_then_cancelled(served: Served) -> None:
    alloc = child(px=49_000 * PX)
    transport = served.transport()
    [acked] = await transport.place(alloc)
    assert isinstance(acked, Acked)
    assert await transport.open_orders() == [COID]
    orders = CoinbaseOrders()
    edit = orders.amend_request(alloc, acked.venue_order_id, 200_000, 49_500 * PX, CREDS, int(time.time() * 1000))
    response = await served.client.request(edit.method, edit.target, content=edit.body, headers=edit.headers)
    amended = orders.parse_amend(alloc, acked.venue_order_id, 200_000, 49_500 * PX,
                                 VenueReply(response.status_code, response.content), 7)
    assert amended == Amended(COID, acked.venue_order_id, 200_000, 49_500 * PX, "native_atomic", None, 7)
    [resting] = served.venue.orders.values()
    assert (resting.price, resting.qty) == (Decimal("49500"), Decimal("0.002"))
    [cancelled] = await transport.cancel(alloc, acked.venue_order_id)
    assert cancelled == Cancelled(COID, acked.venue_order_id, 0, 100_000, "cancelled", cancelled.ts_ns)
    assert resting.status == "CANCELED" and await transport.open_orders() == []
    [again] = await transport.cancel(alloc, acked.venue_order_id)
    assert isinstance(again, Rejected) and again.code == "INVALID_CANCEL_REQUEST"


async def test_a_lost_reply_and_a_resend_end_with_one_order(served: Served) -> None:
    served.venue.lost_replies = 1  # taken by the matching engine, answered 503
    alloc = child(px=49_000 * PX)
    [acked] = await served.transport().place(alloc)
    assert isinstance(acked, Acked) and served.venue.placed_with(COID) == 1
    [again] = await served.transport().place(alloc, resend=True)  # after a crash: found, not placed
    assert again == Acked(COID, acked.venue_order_id, again.ts_ns) and served.venue.placed_with(COID) == 1


async def test_the_server_refuses_a_wrong_key_an_expired_token_and_another_uri(served: Served) -> None:
    other_private, _ = _pem_pair()

    async def status_of(creds: Credentials, now_ms: int, path: str | None = None) -> tuple[int, str]:
        request = CoinbaseOrders().new_order(child(), creds, now_ms)
        response = await served.client.request(request.method, path or request.path, content=request.body,
                                                headers=request.headers)
        return response.status_code, response.json().get("error", "")

    now_ms = int(time.time() * 1000)
    assert await status_of(Credentials(KEY_NAME, other_private), now_ms) == (401, "UNAUTHENTICATED")
    assert await status_of(Credentials("organizations/org-1/apiKeys/other", PRIVATE), now_ms) == (401, "UNAUTHENTICATED")
    assert await status_of(CREDS, now_ms - 300_000) == (401, "UNAUTHENTICATED")  # expired 3 minutes ago
    assert await status_of(CREDS, now_ms, "/api/v3/brokerage/orders/edit") == (401, "UNAUTHENTICATED")
    assert not served.venue.orders
    [rejected] = await served.transport(Credentials(KEY_NAME, other_private)).place(child())
    assert rejected.code == "UNAUTHENTICATED" and not served.venue.orders  # type: ignore[union-attr]
    assert await status_of(CREDS, now_ms) == (200, "")
    assert len(served.venue.orders) == 1
