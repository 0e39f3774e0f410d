"""Kalshi order entry: RSA-PSS headers that verify with the public key, the documented fill frame,
and round trips against the local Kalshi server through the live transport."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from events.routing import ChildAllocated
from services.edges.kalshi import signing
from services.edges.kalshi.orders import API_PREFIX, KalshiOrders, price_dollars
from services.edges.kalshi.private_server import kalshi_app
from services.edges.kalshi.private_stream import parse_private
from services.edges.budget import RateBudget
from services.edges.live.loopback import Account, LoopbackVenue, RateLimited, RunningServer, ServerLimit, start_server
from services.edges.live.venues import LIMITS, ORDERS, request_cost
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, SignedRequest, UnsupportedOrder, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_lines

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
TICKER = "KXHIGHNY-26JUN24-T82"


def _pem_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


PRIVATE, PUBLIC = _pem_pair()
OTHER_PRIVATE, _ = _pem_pair()
CREDS = Credentials("key-id-1", PRIVATE)


def child(symbol: str = f"{TICKER}:YES", side: str = "buy", qty: int = 10, px: str | None = "0.56",
          tif: str = "gtc", coid: str = COID) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=coid,
        venue="kalshi", symbol=symbol, side=side, qty_1e8=qty * 10**8,  # type: ignore[arg-type]
        order_type="market" if px is None else "limit", limit_px_1e9=None if px is None else int(Decimal(px) * 10**9),
        tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_headers_sign_timestamp_method_and_full_path_and_verify_with_the_public_key() -> None:
    request = KalshiOrders().new_order(child(), CREDS, now_ms=1703123456789)
    h = request.headers
    assert (h["KALSHI-ACCESS-KEY"], h["KALSHI-ACCESS-TIMESTAMP"]) == ("key-id-1", "1703123456789")
    assert request.path == "/portfolio/orders"
    full = API_PREFIX + request.path
    assert signing.verify(PUBLIC, h["KALSHI-ACCESS-SIGNATURE"], "1703123456789", "POST", full)
    assert not signing.verify(PUBLIC, h["KALSHI-ACCESS-SIGNATURE"], "1703123456789", "POST", request.path)
    assert not signing.verify(PUBLIC, h["KALSHI-ACCESS-SIGNATURE"], "1703123456790", "POST", full)
    assert signing.message("1703123456789", "get", "/trade-api/v2/portfolio/balance?x=1") == \
        b"1703123456789GET/trade-api/v2/portfolio/balance"


def test_order_body_names_the_leg_the_action_and_the_legs_price() -> None:
    o = KalshiOrders()
    yes = json.loads(o.new_order(child(), CREDS, 1).body)
    assert yes == {"ticker": TICKER, "client_order_id": COID, "side": "yes", "action": "buy", "count": 10,
                   "type": "limit", "yes_price_dollars": "0.5600", "time_in_force": "good_till_canceled"}
    no = json.loads(o.new_order(child(f"{TICKER}:NO", "sell", 3, "0.4425", "ioc"), CREDS, 1).body)
    assert (no["side"], no["action"], no["no_price_dollars"], no["time_in_force"]) == (
        "no", "sell", "0.4425", "immediate_or_cancel")
    market = json.loads(o.new_order(child(px=None), CREDS, 1).body)  # an IOC at the leg's worst price
    assert (market["yes_price_dollars"], market["time_in_force"]) == ("0.9900", "immediate_or_cancel")
    with pytest.raises(UnsupportedOrder):
        o.new_order(child(tif="day"), CREDS, 1)
    with pytest.raises(UnsupportedOrder):
        price_dollars(10**9)
    with pytest.raises(UnsupportedOrder):
        o.new_order(ChildAllocated(**{**_fields(child()), "qty_1e8": 150_000_000}), CREDS, 1)  # 1.5 contracts


def test_documented_fill_frame_parses_field_by_field() -> None:
    [line] = fixture_lines("venues", "kalshi", "ws_fill_doc_example.jsonl")
    seen: list[tuple[str, str]] = []

    def ours(oid: str, coid: str) -> str | None:
        seen.append((oid, coid))
        return "our-1"

    [fill] = parse_private(line, ours, now_ns=5)
    assert seen == [("ee587a1c", "my-order-1")]
    assert fill == Filled(
        client_order_id="our-1", venue_order_id="ee587a1c", fill_id="d91bc706", symbol="HIGHNY-22DEC23-B53.5:YES",
        side="buy", qty_1e8=278 * 10**8, px_1e9=750_000_000, fee_usd_1e9=10_000_000, liquidity="taker",
        ts_ns=1671899397000 * 10**6, fee_asset="USD", fee_qty_1e8=1_000_000,
    )
    assert parse_private(line, lambda oid, coid: None, now_ns=5) == []  # not ours: dropped
    # A NO-leg fill is priced on the NO leg (yes_price_dollars is always the YES leg's).
    doc = json.loads(line)
    doc["msg"] |= {"side": "no", "action": "sell", "purchased_side": "no"}
    [no] = parse_private(json.dumps(doc), ours, now_ns=5)
    assert (no.symbol, no.side, no.px_1e9) == ("HIGHNY-22DEC23-B53.5:NO", "sell", 250_000_000)  # type: ignore[union-attr]


def test_user_order_frame_acks_and_ends_a_canceled_order() -> None:
    frame = {"type": "user_order", "sid": 3, "msg": {
        "order_id": "o-1", "client_order_id": COID, "ticker": TICKER, "status": "canceled",
        "fill_count_fp": "4.00", "remaining_count_fp": "0.00", "initial_count_fp": "10.00", "ts_ms": 1700000000000}}
    outcomes = parse_private(json.dumps(frame), lambda oid, coid: coid, now_ns=1)
    ts = 1700000000000 * 10**6
    assert outcomes == [Acked(COID, "o-1", ts), Cancelled(COID, "o-1", 4 * 10**8, 6 * 10**8, "canceled", ts)]


def test_registered_with_its_rate_limit() -> None:
    assert ORDERS["kalshi"] is KalshiOrders
    assert LIMITS["kalshi"]


@dataclass
class Served:
    venue: LoopbackVenue
    server: RunningServer
    client: httpx.AsyncClient

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        return HttpTransport(KalshiOrders(), creds, self.client)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = LoopbackVenue(accounts={"key-id-1": Account(PUBLIC)})
    venue.set_book(TICKER, bids=[("0.50", "20")], asks=[("0.56", "4"), ("0.58", "100")])
    server = await start_server(kalshi_app(venue, cash=Decimal(1000)))
    try:
        async with httpx.AsyncClient(base_url=server.url + API_PREFIX, timeout=10) as client:
            yield Served(venue, server, client)
    finally:
        await server.stop()


async def test_place_amend_fill_and_cancel_round_trip(served: Served) -> None:
    transport = served.transport()
    # Buy 10 YES at 0.56: 4 fill at once against the 0.56 ask, 6 rest.
    outcomes = await transport.place(child())
    [acked] = outcomes
    assert isinstance(acked, Acked)
    [order] = served.venue.orders.values()
    assert (order.client_id, order.symbol, order.side, order.filled, order.status) == (
        COID, TICKER, "BUY", Decimal(4), "PARTIALLY_FILLED")
    polled = await transport.poll(child(), acked.venue_order_id)
    assert [(type(o).__name__, getattr(o, "qty_1e8", None), getattr(o, "px_1e9", None)) for o in polled] == [
        ("Filled", 4 * 10**8, 560_000_000)]
    assert polled[0].symbol == f"{TICKER}:YES"  # type: ignore[union-attr]

    # Native amend: 8 in total at 0.57, same order and ids.
    [amended] = await transport.amend(child(), acked.venue_order_id, 8 * 10**8, 570_000_000)
    assert isinstance(amended, Amended)
    assert (amended.venue_order_id, amended.new_qty_1e8, amended.new_limit_px_1e9, amended.mode) == (
        acked.venue_order_id, 8 * 10**8, 570_000_000, "native_atomic")
    assert (order.qty, order.price) == (Decimal(8), Decimal("0.57"))
    [refused] = await transport.amend(child(), acked.venue_order_id, 3 * 10**8, 570_000_000)  # below the filled 4
    assert isinstance(refused, Rejected) and refused.code == "invalid_parameters"

    # Someone takes 2 of the resting 4; then we cancel the rest (of the amended child: 8 at 0.57).
    served.venue.fill_resting(order.order_id, Decimal(2))
    ended = await transport.cancel(child(qty=8, px="0.57"), acked.venue_order_id)
    assert [type(o).__name__ for o in ended] == ["Filled", "Filled", "Cancelled"]
    maker = [o for o in ended if isinstance(o, Filled) and o.liquidity == "maker"]
    assert [(f.qty_1e8, f.px_1e9) for f in maker] == [(2 * 10**8, 570_000_000)]
    cancelled = ended[-1]
    assert isinstance(cancelled, Cancelled)
    assert (cancelled.filled_qty_1e8, cancelled.cancelled_qty_1e8) == (6 * 10**8, 2 * 10**8)
    assert order.status == "CANCELED"
    [again] = await transport.cancel(child(), acked.venue_order_id)
    assert isinstance(again, Rejected) and again.code == "order_not_resting"

    # The account: cash moved by 4 x 0.56 + 2 x 0.57 and the taker fee (0.07 x 4 x 0.56 x 0.44, up
    # to the cent); 6 YES held.
    assert (polled[0].fee_usd_1e9, maker[0].fee_usd_1e9) == (70_000_000, 0)  # type: ignore[union-attr]
    assert await transport.balances() == {"USD": Decimal("996.55"), f"{TICKER}:YES": Decimal(6)}
    assert await transport.open_orders() == []


async def test_buying_no_takes_the_yes_bid_and_a_resend_is_followed_not_doubled(served: Served) -> None:
    transport = served.transport()
    buy_no = child(f"{TICKER}:NO", "buy", 5, "0.50", "ioc")  # NO at 0.50 = selling YES at 0.50
    first = await transport.place(buy_no)
    assert isinstance(first[0], Acked)
    [order] = served.venue.orders.values()
    assert (order.side, order.filled, order.status) == ("SELL", Decimal(5), "FILLED")
    again = await transport.place(buy_no)  # the venue refuses the client id; the order is followed
    assert [type(o).__name__ for o in again] == ["Acked", "Filled"]
    filled = again[1]
    assert isinstance(filled, Filled)
    assert (filled.symbol, filled.side, filled.qty_1e8, filled.px_1e9) == (f"{TICKER}:NO", "buy", 5 * 10**8, 500_000_000)
    assert served.venue.placed_with(COID) == 1


async def test_an_order_lost_after_the_venue_took_it_is_found_not_placed_twice(served: Served) -> None:
    served.venue.lost_replies = 1
    outcomes = await served.transport().place(child(qty=2))
    assert [type(o).__name__ for o in outcomes] == ["Acked", "Filled"]
    assert served.venue.placed_with(COID) == 1


async def test_batch_of_up_to_twenty_places_each_and_reports_each(served: Served) -> None:
    o = KalshiOrders()
    children = [child(coid=f"00000000-0000-0000-0000-{i:012d}", qty=1, px="0.40") for i in range(20)]
    children[3] = child(coid=children[3].client_order_id, symbol="KXNOPE-1:YES", qty=1, px="0.40")
    request = o.batch_new_orders(children, CREDS, _now())
    reply = await _send(served.client, (request))
    results = o.parse_batch_new_orders(children, VenueReply(reply.status_code, reply.content), time.time_ns())
    assert len(results) == 20
    assert all(isinstance(r[0], Acked) for i, r in enumerate(results) if i != 3)
    assert isinstance(results[3][0], Rejected) and results[3][0].code == "market_not_found"
    assert len(served.venue.orders) == 19
    with pytest.raises(UnsupportedOrder):
        o.batch_new_orders([*children, child(coid="00000000-0000-0000-0000-999999999999")], CREDS, _now())
    # The server refuses an oversized batch whole, as Kalshi does.
    body = json.loads(request.body)
    body["orders"].append(body["orders"][0])
    big = o._signed("POST", request.path, CREDS, _now(), body=body)
    reply = await _send(served.client, (big))
    assert reply.status_code == 400 and len(served.venue.orders) == 19


async def test_wrong_key_stale_timestamp_and_unknown_key_are_refused(served: Served) -> None:
    for creds, now_ms in ((Credentials("key-id-1", OTHER_PRIVATE), _now()), (CREDS, _now() - 120_000),
                          (Credentials("key-id-2", PRIVATE), _now())):
        request = KalshiOrders().new_order(child(), creds, now_ms)
        reply = await _send(served.client, (request))
        assert reply.status_code == 401, reply.text
    assert not served.venue.orders
    [refused] = await served.transport(Credentials("key-id-1", OTHER_PRIVATE)).place(child())
    assert isinstance(refused, Rejected) and refused.code == "unauthorized"
    assert not served.venue.orders


def _now() -> int:
    return int(time.time() * 1000)


async def _send(client: httpx.AsyncClient, request: SignedRequest) -> httpx.Response:
    return await client.request(request.method, request.target, content=request.body.encode() or None,
                                headers=request.headers)


def _fields(event: ChildAllocated) -> dict:
    return {f: getattr(event, f) for f in event.__struct_fields__}


def test_positions_name_the_leg_held_as_the_ledger_does() -> None:
    doc = {"market_positions": [{"ticker": "A-1", "position": 3, "position_fp": "3.00"},
                                {"ticker": "B-2", "position": -7}, {"ticker": "C-3", "position": 0}]}
    assert KalshiOrders().parse_positions(VenueReply(200, json.dumps(doc).encode())) == {
        "A-1:YES": Decimal(3), "B-2:NO": Decimal(7)}
    assert KalshiOrders().parse_balances(VenueReply(200, b'{"balance": 12345}')) == {"USD": Decimal("123.45")}


async def test_a_burst_over_kalshis_write_limit_is_paced_by_the_budget_and_never_throttled() -> None:
    # The local Kalshi enforces 10 writes per second (429 + Retry-After past it), as the Basic tier.
    venue = LoopbackVenue(accounts={"key-id-1": Account(PUBLIC)},
                          limits=[ServerLimit("writes", 10, 1.0, cost=lambda method, path: int(method != "GET"))])
    venue.set_book(TICKER, bids=[], asks=[("0.90", "100")])
    server = await start_server(RateLimited(venue, kalshi_app(venue)))
    try:
        async with httpx.AsyncClient(base_url=server.url + API_PREFIX, timeout=30) as client:
            transport = HttpTransport(KalshiOrders(), CREDS, client, budget=RateBudget("kalshi", LIMITS["kalshi"]),
                                      cost=request_cost("kalshi"), order_wait_s=30.0)
            burst = [child(qty=1, px="0.40", coid=f"00000000-0000-0000-0000-{i:012d}") for i in range(15)]
            results = await asyncio.gather(*(transport.place(c) for c in burst))
    finally:
        await server.stop()
    assert all(isinstance(r[0], Acked) for r in results)
    assert len(venue.orders) == 15 and venue.throttled == 0 and venue.peak["writes"] <= 10


async def test_a_fill_listed_twice_keeps_one_fill_id(served: Served) -> None:
    # A duplicated fill message: the same trade id twice, which the executor records once.
    served.venue.duplicate_fills = True
    outcomes = await served.transport().place(child(qty=3, tif="ioc"))
    [acked] = outcomes
    assert isinstance(acked, Acked)
    fills = [o for o in await served.transport().poll(child(qty=3, tif="ioc"), acked.venue_order_id)
             if isinstance(o, Filled)]
    assert len(fills) == 2 and fills[0] == fills[1] and fills[0].qty_1e8 == 3 * 10**8
