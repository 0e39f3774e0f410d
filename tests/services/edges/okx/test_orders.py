"""OKX spot order requests (exact JSON, signed headers) and replies parsed into outcomes."""

from __future__ import annotations

import json

import pytest

from events.routing import ChildAllocated
from services.edges.okx import signing
from services.edges.okx.orders import OkxSpotOrders
from services.edges.sandbox.orders import Acked, Filled, Rejected
from services.edges.transport import OrderState, UnsupportedOrder, VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
CREDS = Credentials("api-key-1", "secret-1", "pass-1")
ORDERS = OkxSpotOrders()


def child(*, symbol: str = "BTC-USDT", order_type: str = "limit", tif: str = "gtc") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="okx", symbol=symbol, side="sell", qty_1e8=2 * 10**8, order_type=order_type,  # type: ignore[arg-type]
        limit_px_1e9=None if order_type == "market" else 2_150_000_000, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_place_is_compact_json_signed_over_timestamp_method_path_body() -> None:
    request = ORDERS.new_order(child(), CREDS, now_ms=1607418537715)
    assert (request.method, request.path) == ("POST", "/api/v5/trade/order")
    assert request.body == (
        '{"instId":"BTC-USDT","tdMode":"cash","side":"sell","ordType":"limit","sz":"2",'
        '"clOrdId":"0b7e5f8e3f0a5c1e9d532a3c1e0b7f10","px":"2.15"}'
    )
    h = request.headers
    assert h["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    assert h["OK-ACCESS-PASSPHRASE"] == "pass-1" and h["OK-ACCESS-KEY"] == "api-key-1"
    assert h["OK-ACCESS-SIGN"] == signing.sign("secret-1", "2020-12-08T09:08:57.715Z", "POST", request.path, request.body)


def test_lookup_signs_the_query_string_too() -> None:
    request = ORDERS.order_status(child(), CREDS, now_ms=1607418537715)
    assert request.target == "/api/v5/trade/order?instId=BTC-USDT&clOrdId=0b7e5f8e3f0a5c1e9d532a3c1e0b7f10"
    assert request.headers["OK-ACCESS-SIGN"] == signing.sign("secret-1", "2020-12-08T09:08:57.715Z", "GET", request.target)


def test_market_orders_are_sized_in_base_and_ioc_maps_to_ord_type() -> None:
    market = json.loads(ORDERS.new_order(child(order_type="market"), CREDS, 1).body)
    assert (market["ordType"], market["tgtCcy"]) == ("market", "base_ccy") and "px" not in market
    assert json.loads(ORDERS.new_order(child(tif="ioc"), CREDS, 1).body)["ordType"] == "ioc"


def test_client_id_is_32_alphanumerics_and_deterministic() -> None:
    cid = ORDERS.client_id(COID)
    assert len(cid) == 32 and cid.isalnum() and cid == ORDERS.client_id(COID)
    assert ORDERS.client_id("x" * 60) != ORDERS.client_id("y" * 60) and len(ORDERS.client_id("x" * 60)) == 32


def test_swaps_and_missing_passphrase_are_refused_before_sending() -> None:
    with pytest.raises(UnsupportedOrder, match="contracts"):
        ORDERS.new_order(child(symbol="BTC-USDT-PERP"), CREDS, 1)
    with pytest.raises(UnsupportedOrder, match="passphrase"):
        ORDERS.new_order(child(), Credentials("k", "s"), 1)


def test_place_reply_fixture_and_per_item_errors() -> None:
    item = fixture_json("venues", "okx", "http_place_order_response.json")
    ok = VenueReply(200, json.dumps({"code": "0", "msg": "", "data": [item]}).encode())
    assert ORDERS.parse_new_order(child(), ok, now_ns=5) == [Acked(COID, "12345678901234567890", 5)]
    failed = {"code": "1", "msg": "All operations failed", "data": [{**item, "sCode": "51016", "sMsg": "Duplicated clOrdId"}]}
    [rejected] = ORDERS.parse_new_order(child(), VenueReply(200, json.dumps(failed).encode()), now_ns=5)
    assert rejected == Rejected(COID, "51016", "Duplicated clOrdId", 5) and ORDERS.is_duplicate(rejected)
    auth = VenueReply(401, b'{"code":"50113","msg":"Invalid Sign","data":[]}')
    assert ORDERS.parse_new_order(child(), auth, now_ns=5) == [Rejected(COID, "50113", "Invalid Sign", 5)]


def test_fill_fixture_fee_sign_flips_to_paid() -> None:
    detail = fixture_json("venues", "okx", "http_transaction_detail.json")
    reply = VenueReply(200, json.dumps({"code": "0", "msg": "", "data": [{**detail, "fee": "-0.042"}]}).encode())
    [fill] = ORDERS.parse_fills(child(), "x", reply, now_ns=5)
    assert isinstance(fill, Filled)
    assert (fill.fill_id, fill.qty_1e8, fill.px_1e9, fill.fee_usd_1e9) == ("123456789", 100_000, 42_000_500_000_000, 42_000_000)
    assert fill.liquidity == "taker" and fill.ts_ns == 1625097600000 * 10**6


def test_order_state_from_lookup() -> None:
    doc = {"code": "0", "msg": "", "data": [{"ordId": "77", "state": "canceled", "accFillSz": "0.5"}]}
    state = ORDERS.parse_order_status(child(tif="ioc"), VenueReply(200, json.dumps(doc).encode()), now_ns=5)
    assert state == OrderState("77", False, 50_000_000, "ioc_remainder")
    missing = VenueReply(200, b'{"code":"51603","msg":"Order does not exist","data":[]}')
    rejected = ORDERS.parse_order_status(child(), missing, now_ns=5)
    assert isinstance(rejected, Rejected) and ORDERS.is_unknown_order(rejected)
