"""Crypto.com Exchange v1 order entry (services/edges/cryptocom/orders.py): the signing vector,
exact JSON-RPC bodies, reply shapes parsed, and round trips through the live transport against
the local private server (which recomputes every `sig`)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from events.routing import ChildAllocated
from services.edges.cryptocom import signing
from services.edges.cryptocom.orders import CryptocomOrders
from services.edges.cryptocom.private_server import cryptocom_app
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, start_server
from services.edges.live.venues import LIMITS, ORDERS, can_trade
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, OrderState, SignedRequest, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
CREDS = Credentials("cdc-key-1", "cdc-secret-1")
PX = 10**9


def child(order_type: str = "limit", tif: str = "gtc", side: str = "buy", px: int | None = 50_000 * PX,
          qty: int = 100_000) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=time.time_ns(), plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=COID, venue="cryptocom", symbol="BTC-USDT", side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type=order_type, limit_px_1e9=px, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_the_signing_vector_reproduces_and_the_create_body_is_exact() -> None:
    [v] = [v for v in fixture_json("signing_vectors.json")["vectors"] if v["venue"] == "cryptocom_v1"]
    i = v["inputs"]
    assert signing.param_string(i["params"]) == i["paramString"]
    assert signing.sign(i["secret"], i["method"], i["id"], i["api_key"], i["params"], i["nonce"]) == v["expected"]
    orders = CryptocomOrders()
    request = orders.new_order(child(), CREDS, 1_587_846_358_253)
    assert (request.method, request.path) == ("POST", "/private/create-order")
    body = json.loads(request.body)
    assert body["params"] == {"instrument_name": "BTC_USDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001",
                              "price": "50000", "time_in_force": "GOOD_TILL_CANCEL", "client_oid": COID}
    assert (body["method"], body["api_key"], body["nonce"]) == ("private/create-order", "cdc-key-1", 1_587_846_358_253)
    assert body["sig"] == signing.sign("cdc-secret-1", "private/create-order", body["id"], "cdc-key-1", body["params"],
                                       body["nonce"])
    assert json.loads(orders.new_order(child(), CREDS, 1).body)["id"] == body["id"] + 1  # a fresh request id
    assert ORDERS["cryptocom"] is CryptocomOrders and can_trade("cryptocom", "BTC-USDT")
    assert not can_trade("cryptocom", "BTC-USD-PERP") and [lim.limit for lim in LIMITS["cryptocom"]] == [15, 15]


def test_reply_shapes_parse() -> None:
    orders = CryptocomOrders()

    def r(doc: object, status: int = 200) -> VenueReply:
        return VenueReply(status, json.dumps(doc).encode())

    ok = {"id": 1, "method": "private/create-order", "code": 0, "result": {"order_id": "6530219599901097544",
                                                                          "client_oid": COID}}
    assert orders.parse_new_order(child(), r(ok), 5) == [Acked(COID, "6530219599901097544", 5)]
    detail = {"id": 2, "method": "private/get-order-detail", "code": 0, "result": {
        "order_id": "6530219599901097544", "client_oid": COID, "status": "EXPIRED", "cumulative_quantity": "0.0004"}}
    assert orders.parse_order_status(child("limit", "ioc"), r(detail), 5) == OrderState(
        "6530219599901097544", False, 40_000, "ioc_remainder")
    trades = {"id": 3, "method": "private/get-trades", "code": 0, "result": {"data": [
        {"order_id": "6530219599901097544", "trade_id": "6530219599901097545", "traded_price": "50000.5",
         "traded_quantity": "0.0004", "fees": "-0.02", "fee_instrument_name": "USDT", "create_time": 1700000000123,
         "liquidity_indicator": "MAKER"},
        {"order_id": "other", "trade_id": "x", "traded_price": "1", "traded_quantity": "1"}]}}
    assert orders.parse_fills(child(), "6530219599901097544", r(trades), 5) == [Filled(
        client_order_id=COID, venue_order_id="6530219599901097544", fill_id="6530219599901097545", symbol="BTC-USDT",
        side="buy", qty_1e8=40_000, px_1e9=50_000_500_000_000, fee_usd_1e9=20_000_000, liquidity="maker",
        ts_ns=1_700_000_000_123_000_000, fee_asset="USDT", fee_qty_1e8=2_000_000)]
    dup = orders.parse_new_order(child(), r({"id": 1, "method": "m", "code": 204, "message": "DUPLICATE_CLORDID"}, 400), 5)
    assert dup == [Rejected(COID, "204", "DUPLICATE_CLORDID", 5)] and orders.is_duplicate(dup[0])
    missing = orders.parse_order_status(child(), r({"id": 1, "method": "m", "code": 212, "message": "x"}, 400), 5)
    assert isinstance(missing, Rejected) and orders.is_unknown_order(missing)


@dataclass
class Served:
    venue: LoopbackVenue
    server: RunningServer
    client: httpx.AsyncClient
    orders: CryptocomOrders

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        return HttpTransport(self.orders, creds, self.client)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = LoopbackVenue(accounts={"cdc-key-1": Account("cdc-secret-1")}, balances={"USDT": Decimal(100_000)},
                          assets={"BTC_USDT": ("BTC", "USDT")})
    venue.set_book("BTC_USDT", bids=[("49990", "1")], asks=[("50000", "0.0004"), ("50010", "1")])
    server = await start_server(cryptocom_app(venue))
    try:
        # The venue's base URL carries a path (/exchange/v1): requests are relative to it.
        async with httpx.AsyncClient(base_url=server.url) as client:
            yield Served(venue, server, client, CryptocomOrders())
    finally:
        venue.release.set()
        await server.stop()


async def test_a_market_order_fills_with_the_venues_trades(served: Served) -> None:
    alloc = child("market", "ioc", px=None)
    [acked] = await served.transport().place(alloc)
    [placed] = served.venue.orders.values()
    assert acked == Acked(COID, str(placed.order_id), acked.ts_ns) and placed.client_id == COID
    outcomes = await served.transport().poll(alloc, acked.venue_order_id)
    assert [(o.fill_id, o.qty_1e8, o.px_1e9, o.fee_asset, o.liquidity) for o in outcomes if isinstance(o, Filled)] == [
        (str(t.trade_id), int(t.qty * 10**8), int(t.price * PX), "USDT", "taker") for t in served.venue.trades]
    assert len(outcomes) == 2
    assert await served.transport().balances() == served.venue.balances


async def test_resting_amend_cancel_and_a_lost_reply(served: Served) -> None:
    alloc = child(px=49_000 * PX)
    served.venue.lost_replies = 1
    [acked] = await served.transport().place(alloc)  # 503, then found by client_oid
    assert isinstance(acked, Acked) and served.venue.placed_with(COID) == 1
    assert await served.transport().open_orders() == [COID]
    amend = served.orders.amend_request(alloc, acked.venue_order_id, 200_000, 49_500 * PX, CREDS, int(time.time() * 1000))
    r = await served.client.request(amend.method, amend.target, content=amend.body, headers=amend.headers)
    amended = served.orders.parse_amend(alloc, acked.venue_order_id, 200_000, 49_500 * PX,
                                        VenueReply(r.status_code, r.content), 7)
    assert amended == Amended(COID, acked.venue_order_id, 200_000, 49_500 * PX, "native_atomic", None, 7)
    [cancelled] = await served.transport().cancel(alloc, acked.venue_order_id)
    # The remainder is counted against the child's size (the executor does not amend children yet).
    assert cancelled == Cancelled(COID, acked.venue_order_id, 0, 100_000, "canceled", cancelled.ts_ns)
    [resting] = served.venue.orders.values()
    assert (resting.qty, resting.price, resting.status) == (Decimal("0.002"), Decimal("49500"), "CANCELED")


async def test_the_server_refuses_a_wrong_secret_a_stale_nonce_and_a_changed_body(served: Served) -> None:
    async def code_of(request: SignedRequest, body: str | None = None) -> tuple[int, int]:
        r = await served.client.request(request.method, request.target, content=body or request.body,
                                        headers=request.headers)
        return r.status_code, r.json()["code"]

    now = int(time.time() * 1000)
    orders = CryptocomOrders()
    assert await code_of(orders.new_order(child(), Credentials("cdc-key-1", "wrong"), now)) == (401, 40101)
    assert await code_of(orders.new_order(child(), Credentials("nobody", "cdc-secret-1"), now)) == (401, 40101)
    assert await code_of(orders.new_order(child(), CREDS, now - 120_000)) == (401, 40102)
    request = orders.new_order(child(), CREDS, now)
    assert await code_of(request, request.body.replace('"0.001"', '"0.002"')) == (401, 40101)
    assert not served.venue.orders
    [rejected] = await served.transport(Credentials("cdc-key-1", "wrong")).place(child())
    assert isinstance(rejected, Rejected) and rejected.code == "40101" and not served.venue.orders
