"""Bitget v2 spot order entry (services/edges/bitget/orders.py): the signing vector, exact
bodies, reply shapes parsed, and round trips through the live transport against the local
private server (which verifies key, timestamp, passphrase and signature)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from events.routing import ChildAllocated
from services.edges.bitget import signing
from services.edges.bitget.orders import PLACE_PATH, BitgetSpotOrders
from services.edges.bitget.private_server import bitget_app
from services.edges.budget import RateBudget
from services.edges.live.loopback import Account, LoopbackVenue, RateLimited, RunningServer, ServerLimit, start_server
from services.edges.live.venues import LIMITS, ORDERS, can_trade, request_cost
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, OrderState, SignedRequest, UnsupportedOrder, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
CREDS = Credentials("bg-key-1", "bg-secret-1", "bg-pass-1")
ORDERS_ = BitgetSpotOrders()
PX = 10**9


def child(order_type: str = "limit", tif: str = "gtc", side: str = "buy", px: int | None = 50_000 * PX,
          qty: int = 100_000) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=time.time_ns(), plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=COID, venue="bitget", symbol="BTC-USDT", side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type=order_type, limit_px_1e9=px, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_the_signing_vector_reproduces_and_the_place_body_is_exact() -> None:
    [v] = [v for v in fixture_json("signing_vectors.json")["vectors"] if v["venue"] == "bitget_v2"]
    i = v["inputs"]
    assert signing.headers("k", i["secret"], "p", i["timestamp"], i["method"], i["requestPath"],
                           body=i["body"])["ACCESS-SIGN"] == v["expected"]
    request = ORDERS_.new_order(child(), CREDS, 1_684_814_440_729)
    assert request.body == ('{"symbol":"BTCUSDT","side":"buy","orderType":"limit","force":"gtc","price":"50000",'
                            f'"size":"0.001","clientOid":"{COID}"}}')
    assert request.headers["ACCESS-SIGN"] == signing.sign("bg-secret-1", "1684814440729", "POST",
                                                          "/api/v2/spot/trade/place-order", body=request.body)
    assert (request.headers["ACCESS-TIMESTAMP"], request.headers["ACCESS-PASSPHRASE"]) == ("1684814440729", "bg-pass-1")
    lookup = ORDERS_.order_status(child(), CREDS, 1)
    assert (lookup.method, lookup.target) == ("GET", f"/api/v2/spot/trade/orderInfo?clientOid={COID}")
    sell = json.loads(ORDERS_.new_order(child("market", "ioc", "sell", None), CREDS, 1).body)
    assert sell == {"symbol": "BTCUSDT", "side": "sell", "orderType": "market", "size": "0.001", "clientOid": COID}
    with pytest.raises(UnsupportedOrder):
        ORDERS_.new_order(child("market", "ioc", "buy", None), CREDS, 1)  # sized in quote at Bitget
    assert ORDERS["bitget"] is BitgetSpotOrders and can_trade("bitget", "BTC-USDT")
    assert [lim.limit for lim in LIMITS["bitget"]] == [10, 20]


def test_reply_shapes_parse() -> None:
    def r(doc: object, status: int = 200) -> VenueReply:
        return VenueReply(status, json.dumps(doc).encode())

    placed = {"code": "00000", "msg": "success", "requestTime": 1, "data": {"orderId": "121211212122", "clientOid": COID}}
    assert ORDERS_.parse_new_order(child(), r(placed), 5) == [Acked(COID, "121211212122", 5)]
    info = {"code": "00000", "msg": "success", "data": [{"orderId": "121211212122", "clientOid": COID,
                                                          "status": "partially_filled", "baseVolume": "0.0004"}]}
    assert ORDERS_.parse_order_status(child(), r(info), 5) == OrderState("121211212122", True, 40_000, "partially_filled")
    fills = {"code": "00000", "msg": "success", "data": [{
        "orderId": "121211212122", "tradeId": "1002", "priceAvg": "50000.5", "size": "0.0004", "amount": "20.0002",
        "feeDetail": {"deduction": "no", "feeCoin": "USDT", "totalDeductionFee": "0", "totalFee": "-0.02"},
        "tradeScope": "maker", "cTime": "1700000000123"}]}
    assert ORDERS_.parse_fills(child(), "121211212122", r(fills), 5) == [Filled(
        client_order_id=COID, venue_order_id="121211212122", fill_id="1002", symbol="BTC-USDT", side="buy",
        qty_1e8=40_000, px_1e9=50_000_500_000_000, fee_usd_1e9=20_000_000, liquidity="maker",
        ts_ns=1_700_000_000_123_000_000, fee_asset="USDT", fee_qty_1e8=2_000_000)]
    refused = ORDERS_.parse_new_order(child(), r({"code": "43118", "msg": "clientOid duplicate"}, 400), 5)
    assert refused == [Rejected(COID, "43118", "clientOid duplicate", 5)] and ORDERS_.is_duplicate(refused[0])
    missing = ORDERS_.parse_order_status(child(), r({"code": "40109", "msg": "not found", "data": None}, 400), 5)
    assert isinstance(missing, Rejected) and ORDERS_.is_unknown_order(missing)
    assert ORDERS_.parse_new_order(child(), VenueReply(502, b"bad gateway"), 5) == []


@dataclass
class Served:
    venue: LoopbackVenue
    server: RunningServer
    client: httpx.AsyncClient

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        return HttpTransport(BitgetSpotOrders(), creds, self.client)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = LoopbackVenue(accounts={"bg-key-1": Account("bg-secret-1", "bg-pass-1")},
                          balances={"USDT": Decimal(100_000), "BTC": Decimal(1)}, assets={"BTCUSDT": ("BTC", "USDT")})
    venue.set_book("BTCUSDT", bids=[("49990", "0.0004"), ("49980", "1")], asks=[("50010", "1")])
    server = await start_server(bitget_app(venue))
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            yield Served(venue, server, client)
    finally:
        venue.release.set()
        await server.stop()


async def test_a_market_sell_fills_and_its_fills_are_the_venues(served: Served) -> None:
    alloc = child("market", "ioc", "sell", None)
    [acked] = await served.transport().place(alloc)
    [placed] = served.venue.orders.values()
    assert acked == Acked(COID, str(placed.order_id), acked.ts_ns) and placed.client_id == COID
    outcomes = await served.transport().poll(alloc, acked.venue_order_id)
    assert [(o.fill_id, o.qty_1e8, o.px_1e9, o.fee_asset) for o in outcomes if isinstance(o, Filled)] == [
        (str(t.trade_id), int(t.qty * 10**8), int(t.price * PX), "USDT") for t in served.venue.trades]
    assert len(outcomes) == 2 and served.venue.balances["BTC"] == Decimal("0.999")
    assert await served.transport().balances() == served.venue.balances


async def test_a_resting_order_is_cancelled_and_a_lost_reply_is_followed(served: Served) -> None:
    alloc = child(px=49_000 * PX)
    served.venue.lost_replies = 1  # placed, answered 503: looked up by clientOid
    [acked] = await served.transport().place(alloc)
    assert isinstance(acked, Acked) and served.venue.placed_with(COID) == 1
    assert await served.transport().open_orders() == [COID]
    [again] = await served.transport().place(alloc, resend=True)
    assert isinstance(again, Acked) and served.venue.placed_with(COID) == 1
    [cancelled] = await served.transport().cancel(alloc, acked.venue_order_id)
    assert cancelled == Cancelled(COID, acked.venue_order_id, 0, 100_000, "cancelled", cancelled.ts_ns)
    assert await served.transport().open_orders() == []


async def test_the_server_refuses_bad_auth_in_bitgets_shape(served: Served) -> None:
    async def code_of(request: SignedRequest, body: str | None = None) -> tuple[int, str]:
        r = await served.client.request(request.method, request.target, content=body or request.body,
                                        headers=request.headers)
        return r.status_code, r.json()["code"]

    now = int(time.time() * 1000)
    orders = BitgetSpotOrders()
    assert await code_of(orders.new_order(child(), Credentials("nobody", "bg-secret-1", "bg-pass-1"), now)) == (400, "40006")
    assert await code_of(orders.new_order(child(), CREDS, now - 120_000)) == (400, "40008")
    assert await code_of(orders.new_order(child(), Credentials("bg-key-1", "bg-secret-1", "other"), now)) == (400, "40011")
    assert await code_of(orders.new_order(child(), Credentials("bg-key-1", "wrong", "bg-pass-1"), now)) == (400, "40009")
    request = orders.new_order(child(), CREDS, now)
    assert await code_of(request, request.body.replace("0.001", "0.002")) == (400, "40009")
    assert not served.venue.orders


async def test_a_burst_above_bitgets_order_limit_is_paced_and_the_server_never_sees_one_over_it() -> None:
    # The venue's limit (10 place-order calls per second per UID) enforced by the server with 429s.
    venue = LoopbackVenue(accounts={"bg-key-1": Account("bg-secret-1", "bg-pass-1")})
    venue.set_book("BTCUSDT", bids=[], asks=[("50010", "1")])
    venue.limits = [ServerLimit("orders", 10, 1.0, cost=lambda method, path: int(path == PLACE_PATH))]
    server = await start_server(RateLimited(venue, bitget_app(venue)))
    budget = RateBudget("bitget", LIMITS["bitget"])  # one account: every sender shares it
    allocs = [ChildAllocated(**{**{f: getattr(child(px=40_000 * PX), f) for f in ChildAllocated.__struct_fields__},
                                "client_order_id": str(uuid.uuid4())}) for _ in range(15)]
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            results = await asyncio.gather(*(
                HttpTransport(BitgetSpotOrders(), CREDS, client, budget=budget, cost=request_cost("bitget"),
                              order_wait_s=10.0).place(a) for a in allocs))
    finally:
        await server.stop()
    assert all(isinstance(r[0], Acked) for r in results)  # every one placed, none refused
    assert venue.throttled == 0 and venue.peak["orders"] <= 10 and len(venue.orders) == 15
