"""Binance spot order requests (exact wire text, signed) and replies parsed into outcomes."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from events.routing import ChildAllocated
from services.edges.binance import signing
from services.edges.binance.orders import BinanceSpotOrders
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Rejected
from services.edges.transport import OrderState, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_path

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
CREDS = Credentials("api-key-1", "secret-1")
ORDERS = BinanceSpotOrders()


def child(*, order_type: str = "limit", tif: str = "gtc", qty: int = 150_000_000, side: str = "buy") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="binance", symbol="BTC-USDT", side=side, qty_1e8=qty, order_type=order_type,  # type: ignore[arg-type]
        limit_px_1e9=None if order_type == "market" else 50_000_500_000_000, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_new_limit_order_is_the_signed_form_body_binance_expects() -> None:
    request = ORDERS.new_order(child(tif="ioc"), CREDS, now_ms=1_700_000_000_123)
    assert (request.method, request.path, request.query) == ("POST", "/api/v3/order", "")
    assert request.headers[signing.API_KEY_HEADER] == "api-key-1"
    unsigned, _, signature = request.body.rpartition("&signature=")
    assert unsigned == (
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=IOC&quantity=1.5&price=50000.5"
        f"&newClientOrderId={COID}&newOrderRespType=FULL&recvWindow=5000&timestamp=1700000000123"
    )
    assert signature == signing.sign("secret-1", unsigned)
    assert "secret-1" not in request.body and "secret-1" not in json.dumps(request.headers)


def test_market_order_has_no_price_or_time_in_force() -> None:
    params = dict(parse_qsl(ORDERS.new_order(child(order_type="market", side="sell"), CREDS, 1).body))
    assert params["type"] == "MARKET" and params["side"] == "SELL"
    assert "price" not in params and "timeInForce" not in params


def test_client_id_is_kept_when_binance_allows_it_and_mapped_otherwise() -> None:
    assert ORDERS.client_id(COID) == COID
    mapped = ORDERS.client_id("not a uuid but still ours")
    assert len(mapped) == 32 and mapped.isalnum() and mapped == ORDERS.client_id("not a uuid but still ours")


def test_full_reply_fixture_becomes_ack_and_exact_fills() -> None:
    reply = VenueReply(200, fixture_path("venues", "binance_spot", "http_new_order_full_response.json").read_bytes())
    outcomes = ORDERS.parse_new_order(child(order_type="market", side="sell", qty=10 * 10**8), reply, now_ns=5)
    ack, *fills = outcomes
    assert ack == Acked(COID, "28", 1507725176595 * 10**6)
    assert [(f.fill_id, f.qty_1e8, f.px_1e9, f.fee_usd_1e9) for f in fills if isinstance(f, Filled)] == [
        ("56", 1 * 10**8, 4000 * 10**9, 4 * 10**9),
        ("57", 5 * 10**8, 3999 * 10**9, 19_995_000_000),
        ("58", 2 * 10**8, 3998 * 10**9, 7_996_000_000),
        ("59", 1 * 10**8, 3997 * 10**9, 3_997_000_000),
        ("60", 1 * 10**8, 3995 * 10**9, 3_995_000_000),
    ]
    assert len(fills) == 5  # FILLED: nothing left to cancel


def test_expired_ioc_reports_its_remainder_cancelled() -> None:
    doc = {"orderId": 7, "transactTime": 1, "executedQty": "0.5", "status": "EXPIRED", "fills": [
        {"price": "50000", "qty": "0.5", "commission": "0.0005", "commissionAsset": "BTC", "tradeId": 9}]}
    outcomes = ORDERS.parse_new_order(child(tif="ioc"), VenueReply(200, json.dumps(doc).encode()), now_ns=5)
    fill, end = outcomes[1], outcomes[2]
    assert isinstance(fill, Filled) and fill.fee_usd_1e9 == 25 * 10**9  # 0.0005 BTC at 50000
    assert end == Cancelled(COID, "7", 50_000_000, 100_000_000, "ioc_remainder", 1_000_000)


def test_errors_keep_the_venue_code_and_message_and_5xx_is_unknown() -> None:
    body = b'{"code":-2010,"msg":"Duplicate order sent."}'
    [rejected] = ORDERS.parse_new_order(child(), VenueReply(400, body), now_ns=5)
    assert rejected == Rejected(COID, "-2010", "Duplicate order sent.", 5)
    assert ORDERS.is_duplicate(rejected)
    assert ORDERS.parse_new_order(child(), VenueReply(503, b"<html>busy</html>"), now_ns=5) == []
    [odd] = ORDERS.parse_new_order(child(), VenueReply(403, b"<html>waf</html>"), now_ns=5)
    assert odd.code == "http_403"


def test_order_lookup_fixture() -> None:
    reply = VenueReply(200, fixture_path("venues", "binance_spot", "http_order_response.json").read_bytes())
    assert ORDERS.parse_order_status(child(), reply, now_ns=5) == OrderState("1", True, 0, "new")
    missing = ORDERS.parse_order_status(child(), VenueReply(400, b'{"code":-2013,"msg":"Order does not exist."}'), 5)
    assert isinstance(missing, Rejected) and ORDERS.is_unknown_order(missing)


def test_account_trades_fixture_become_fills_with_maker_flag() -> None:
    reply = VenueReply(200, fixture_path("venues", "binance_spot", "http_account_trades_response.json").read_bytes())
    [fill] = ORDERS.parse_fills(child(), "x", reply, now_ns=5)
    assert isinstance(fill, Filled)
    assert (fill.fill_id, fill.venue_order_id, fill.qty_1e8, fill.px_1e9) == ("28457", "100234", 12 * 10**8, 4_000_001_000)
    assert fill.liquidity == "taker" and fill.fee_usd_1e9 == 0  # BNB fee: not priced here
