"""Kraken spot order entry (services/edges/kraken/orders.py): the docs' signing vector accepted
by the local private server, exact form bodies, recorded replies parsed field by field, and
round trips through the live transport against the local server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest

from events.routing import ChildAllocated
from services.edges.kraken import signing
from services.edges.kraken.orders import KrakenSpotOrders, rest_pair
from services.edges.kraken.private_server import kraken_app, trade_txid, txid
from services.edges.kraken.private_stream import add_order_outcome, execution_outcomes, loads
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, start_server
from services.edges.live.venues import LIMITS, ORDERS, can_trade, request_cost
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, OrderState, SignedRequest, UnsupportedOrder, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
SECRET = base64.b64encode(b"kraken-local-secret-0123456789abcdef").decode()
CREDS = Credentials("kraken-key-1", SECRET)
PX = 10**9


def child(order_type: str = "limit", tif: str = "gtc", side: str = "buy", px: int | None = 50_000 * PX,
          qty: int = 100_000, symbol: str = "BTC-USD") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=time.time_ns(), plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=COID, venue="kraken", symbol=symbol, side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type=order_type, limit_px_1e9=px, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def reply(name: str) -> VenueReply:
    return VenueReply(200, json.dumps(fixture_json("venues", "kraken", name)).encode())


def vector() -> dict[str, Any]:
    [v] = [v for v in fixture_json("signing_vectors.json")["vectors"] if v["venue"] == "kraken_spot_rest"]
    return v


# --- requests ---------------------------------------------------------------------------------


def test_the_docs_vector_reproduces_through_the_header_builder() -> None:
    v = vector()
    i = v["inputs"]
    headers = signing.headers("key", i["secret"], i["uri_path"], i["nonce"], i["postdata"])
    assert headers["API-Sign"] == v["expected"]


def test_add_order_is_a_signed_form_with_our_client_id_and_increasing_nonces() -> None:
    orders = KrakenSpotOrders()
    request = orders.new_order(child(), CREDS, 1_765_000_000_123)
    assert (request.method, request.path) == ("POST", "/0/private/AddOrder")
    assert dict(parse_qsl(request.body)) == {
        "nonce": "1765000000123000", "ordertype": "limit", "type": "buy", "volume": "0.001", "pair": "XBTUSD",
        "price": "50000", "timeinforce": "GTC", "cl_ord_id": COID}
    inner = hashlib.sha256(("1765000000123000" + request.body).encode()).digest()
    expected = base64.b64encode(hmac.new(base64.b64decode(SECRET), b"/0/private/AddOrder" + inner,
                                         hashlib.sha512).digest()).decode()
    assert request.headers["API-Sign"] == expected and request.headers["API-Key"] == "kraken-key-1"
    # Same millisecond: the nonce still increases.
    again = orders.order_status(child(), CREDS, 1_765_000_000_123)
    assert dict(parse_qsl(again.body))["nonce"] == "1765000000123001"
    market = dict(parse_qsl(orders.new_order(child("market", "ioc", "sell", None), CREDS, 1).body))
    assert (market["ordertype"], market["type"], "price" in market, "timeinforce" in market) == (
        "market", "sell", False, False)
    assert dict(parse_qsl(orders.new_order(child(tif="ioc"), CREDS, 1).body))["timeinforce"] == "IOC"
    with pytest.raises(UnsupportedOrder):
        orders.new_order(child(tif="fok"), CREDS, 1)
    assert (rest_pair("BTC-USDT"), rest_pair("ETH-USD"), rest_pair("DOGE-USD")) == ("XBTUSDT", "ETHUSD", "XDGUSD")


def test_registered_for_live_spot_with_its_counters() -> None:
    assert ORDERS["kraken"] is KrakenSpotOrders and can_trade("kraken", "BTC-USD")
    assert {lim.name: (lim.unit, lim.limit) for lim in LIMITS["kraken"]} == {
        "api_counter": ("weight", 15), "trading_counter": ("orders", 60)}
    cost = request_cost("kraken")
    assert (cost(SignedRequest("POST", "/0/private/AddOrder")).orders,
            cost(SignedRequest("POST", "/0/private/AddOrder")).weight) == (1, 0)
    assert cost(SignedRequest("POST", "/0/private/TradesHistory")).weight == 2


# --- recorded replies -------------------------------------------------------------------------


def test_recorded_replies_parse() -> None:
    orders = KrakenSpotOrders()
    assert orders.parse_new_order(child(), reply("http_add_order_spot.json"), 5) == [
        Acked(COID, "OUF4EM-FRGI2-MQMWZD", 5)]
    assert orders.parse_cancel(child(), reply("http_cancel_order_spot.json"), 5) is None
    assert orders.parse_open_orders(reply("http_open_orders.json")) == ["O26VBY-ISGAE-JP5TLU", "OYEQF4-FDE4C-NMUYUI"]
    state = orders.parse_order_status(child(), reply("http_open_orders.json"), 5)
    assert state == OrderState("O26VBY-ISGAE-JP5TLU", True, 0, "open")
    closed = orders.parse_order_status(child(), reply("http_closed_orders.json"), 5)
    assert closed == OrderState("O5KZFT-GH3AD-LP6TLU", False, 50_000_000, "closed")
    [fill] = orders.parse_fills(child(symbol="BTC-USDT"), "O26VBY-ISGAE-JP5TLU", reply("http_trades_history.json"), 5)
    assert fill == Filled(
        client_order_id=COID, venue_order_id="O26VBY-ISGAE-JP5TLU", fill_id="TCCCTY-WJ6EO-4FP4VZ",
        symbol="BTC-USDT", side="buy", qty_1e8=50_000_000, px_1e9=29_500_500_000_000, fee_usd_1e9=23_600_000_000,
        liquidity="maker", ts_ns=1_688_585_840_892_100_000, fee_asset="USDT", fee_qty_1e8=2_360_000_000,
    )
    assert orders.parse_balances(reply("http_spot_balance.json")) == {
        "USD": Decimal("200000.00"), "BTC": Decimal("0.5"), "ETH": Decimal("2.0")}
    refused = VenueReply(200, b'{"error":["EOrder:Insufficient funds"],"result":{}}')
    assert orders.parse_new_order(child(), refused, 5) == [
        Rejected(COID, "EOrder:Insufficient funds", "EOrder:Insufficient funds", 5)]
    # A refused nonce was not executed: unknown, so the order is looked up rather than rejected.
    assert orders.parse_new_order(child(), VenueReply(200, b'{"error":["EAPI:Invalid nonce"]}'), 5) == []
    empty = orders.parse_order_status(child(), VenueReply(200, b'{"error":[],"result":{"open":{}}}'), 5)
    assert isinstance(empty, Rejected) and orders.is_unknown_order(empty)


# --- round trips against the local private server -------------------------------------------


@dataclass
class Served:
    venue: LoopbackVenue
    server: RunningServer
    client: httpx.AsyncClient
    orders: KrakenSpotOrders

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        return HttpTransport(self.orders, creds, self.client)

    async def send(self, request: SignedRequest) -> VenueReply:
        r = await self.client.request(request.method, request.target, content=request.body, headers=request.headers)
        return VenueReply(r.status_code, r.content)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    i = vector()["inputs"]
    venue = LoopbackVenue(accounts={"kraken-key-1": Account(SECRET), "doc-key": Account(i["secret"])},
                          balances={"USD": Decimal(100_000)}, assets={"XBTUSD": ("BTC", "USD")})
    venue.set_book("XBTUSD", bids=[("49990", "1")], asks=[("50000", "0.0004"), ("50010", "1")])
    server = await start_server(kraken_app(venue))
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            yield Served(venue, server, client, KrakenSpotOrders())
    finally:
        venue.release.set()
        await server.stop()


async def test_the_server_accepts_the_docs_vector_and_refuses_bad_auth(served: Served) -> None:
    v = vector()
    i = v["inputs"]

    async def errors(body: str, sign: str, key: str = "doc-key", path: str = "/0/private/AddOrder") -> list[str]:
        r = await served.client.post(path, content=body, headers={"API-Key": key, "API-Sign": sign,
                                                                  "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 200
        return r.json()["error"]

    assert await errors(i["postdata"], v["expected"], key="nobody") == ["EAPI:Invalid key"]
    assert await errors(i["postdata"].replace("1.25", "2.25"), v["expected"]) == ["EAPI:Invalid signature"]
    assert await errors(i["postdata"], v["expected"]) == []  # the docs' request, signed as documented
    [placed] = served.venue.orders.values()
    assert (placed.symbol, placed.side, placed.qty, placed.price) == ("XBTUSD", "BUY", Decimal("1.25"), Decimal("37500"))
    assert await errors(i["postdata"], v["expected"]) == ["EAPI:Invalid nonce"]  # a nonce is used once
    # Our own requests: a wrong secret is refused, nothing placed.
    wrong = Credentials("kraken-key-1", base64.b64encode(b"another-secret").decode())
    [rejected] = await served.transport(wrong).place(child())
    assert isinstance(rejected, Rejected) and rejected.code == "EAPI:Invalid signature"
    assert len(served.venue.orders) == 1


async def test_a_market_order_fills_and_the_fills_come_from_trades_history(served: Served) -> None:
    alloc = child("market", "ioc", px=None)
    [acked] = await served.transport().place(alloc)
    [placed] = served.venue.orders.values()
    assert acked == Acked(COID, txid(placed.order_id), acked.ts_ns) and placed.client_id == COID
    outcomes = await served.transport().poll(alloc, acked.venue_order_id)  # closed: found by the fallback
    fills = [o for o in outcomes if isinstance(o, Filled)]
    assert [(f.fill_id, f.qty_1e8, f.px_1e9, f.fee_asset, f.liquidity) for f in fills] == [
        (trade_txid(t.trade_id), int(t.qty * 10**8), int(t.price * PX), "USD", "taker")
        for t in sorted(served.venue.trades, key=lambda t: -t.trade_id)]
    assert sum(f.qty_1e8 for f in fills) == 100_000 and len(outcomes) == 2  # filled in full: no remainder
    assert await served.transport().balances() == {"USD": served.venue.balances["USD"], "BTC": Decimal("0.001")}


async def test_a_resting_order_is_amended_natively_then_cancelled(served: Served) -> None:
    alloc = child(px=49_000 * PX)
    [acked] = await served.transport().place(alloc)
    assert isinstance(acked, Acked) and await served.transport().open_orders() == [COID]
    amend = served.orders.amend_request(alloc, acked.venue_order_id, 200_000, 49_500 * PX, CREDS, int(time.time() * 1000))
    amended = served.orders.parse_amend(alloc, acked.venue_order_id, 200_000, 49_500 * PX, await served.send(amend), 7)
    assert amended == Amended(COID, acked.venue_order_id, 200_000, 49_500 * PX, "native_atomic", None, 7)
    [resting] = served.venue.orders.values()
    assert (resting.qty, resting.price) == (Decimal("0.002"), Decimal("49500"))
    [cancelled] = await served.transport().cancel(alloc, acked.venue_order_id)
    assert cancelled == Cancelled(COID, acked.venue_order_id, 0, 100_000, "canceled", cancelled.ts_ns)
    [again] = await served.transport().cancel(alloc, acked.venue_order_id)
    assert isinstance(again, Rejected) and again.code == "EOrder:Unknown order"


async def test_a_lost_reply_then_a_resend_end_with_one_order(served: Served) -> None:
    served.venue.lost_replies = 1
    alloc = child("market", "ioc", px=None)
    outcomes = await served.transport().place(alloc)  # 503: looked up (closed, filled) and followed
    assert isinstance(outcomes[0], Acked) and served.venue.placed_with(COID) == 1
    assert sum(o.qty_1e8 for o in outcomes if isinstance(o, Filled)) == 100_000
    again = await served.transport().place(alloc, resend=True)
    assert isinstance(again[0], Acked) and served.venue.placed_with(COID) == 1


# --- private WebSocket messages -----------------------------------------------------------------


def test_ws_add_order_responses_parse_into_an_ack_or_a_refusal() -> None:
    ok = loads(json.dumps(fixture_json("venues", "kraken", "ws_add_order_response_success.json")))
    assert add_order_outcome(ok, COID, 5) == Acked(COID, "OABCDE-12345-FGHIJ", 1_777_975_200_125_000_000)
    no = loads(json.dumps(fixture_json("venues", "kraken", "ws_add_order_response_failure.json")))
    assert add_order_outcome(no, COID, 5) == Rejected(COID, "EOrder:Insufficient funds", "EOrder:Insufficient funds",
                                                      1_777_975_200_125_000_000)


def test_ws_executions_parse_into_outcomes_field_by_field() -> None:
    frame = loads(
        '{"channel":"executions","type":"update","data":['
        '{"exec_type":"new","order_id":"OAAAAA-1","cl_ord_id":"' + COID + '","order_status":"new","symbol":"BTC/USD",'
        '"side":"buy","order_qty":0.002,"limit_price":50000.0,"timestamp":"2026-05-05T10:00:00.000000Z"},'
        '{"exec_type":"trade","order_id":"OAAAAA-1","cl_ord_id":"' + COID + '","exec_id":"TBBBBB-1","trade_id":77,'
        '"symbol":"BTC/USD","side":"buy","last_qty":0.0005,"last_price":49999.9,"liquidity_ind":"m",'
        '"fees":[{"asset":"USD","qty":0.04}],"cum_qty":0.0005,"order_status":"partially_filled",'
        '"timestamp":"2026-05-05T10:00:01.250000Z"},'
        '{"exec_type":"canceled","order_id":"OAAAAA-1","cl_ord_id":"' + COID + '","order_qty":0.002,'
        '"cum_qty":0.0005,"reason":"User requested","timestamp":"2026-05-05T10:00:02Z"}]}')
    t0 = 1_777_975_200_000_000_000
    assert execution_outcomes(frame) == [
        Acked(COID, "OAAAAA-1", t0),
        Filled(client_order_id=COID, venue_order_id="OAAAAA-1", fill_id="TBBBBB-1", symbol="BTC-USD", side="buy",
               qty_1e8=50_000, px_1e9=49_999_900_000_000, fee_usd_1e9=40_000_000, liquidity="maker",
               ts_ns=t0 + 1_250_000_000, fee_asset="USD", fee_qty_1e8=4_000_000),
        Cancelled(COID, "OAAAAA-1", 50_000, 150_000, "user", t0 + 2_000_000_000),
    ]
    assert execution_outcomes({"channel": "heartbeat"}) == []
