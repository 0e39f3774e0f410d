"""Bybit v5 spot order requests (exact JSON, signed headers) and replies parsed into outcomes."""

from __future__ import annotations

import json

from events.routing import ChildAllocated
from services.edges.bybit import signing
from services.edges.bybit.orders import BybitSpotOrders
from services.edges.sandbox.orders import Acked, Rejected
from services.edges.transport import OrderState, VenueReply
from services.vault import Credentials

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
CREDS = Credentials("api-key-1", "secret-1")
ORDERS = BybitSpotOrders()


def child(order_type: str = "limit", tif: str = "fok") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="bybit", symbol="BTC-USDT", side="buy", qty_1e8=100_000, order_type=order_type,  # type: ignore[arg-type]
        limit_px_1e9=None if order_type == "market" else 50_000 * 10**9, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_create_is_signed_over_timestamp_key_window_and_body() -> None:
    request = ORDERS.new_order(child(), CREDS, now_ms=1658384314791)
    assert request.body == (
        '{"category":"spot","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.001",'
        f'"timeInForce":"FOK","price":"50000","orderLinkId":"{COID}"}}'
    )
    h = request.headers
    assert (h["X-BAPI-API-KEY"], h["X-BAPI-TIMESTAMP"], h["X-BAPI-RECV-WINDOW"]) == ("api-key-1", "1658384314791", "5000")
    assert h["X-BAPI-SIGN"] == signing.sign("secret-1", "1658384314791", "api-key-1", "5000", request.body)


def test_gets_sign_the_query_and_market_buys_are_sized_in_base() -> None:
    lookup = ORDERS.order_status(child(), CREDS, now_ms=1)
    assert lookup.query == f"category=spot&orderLinkId={COID}"
    assert lookup.headers["X-BAPI-SIGN"] == signing.sign("secret-1", "1", "api-key-1", "5000", lookup.query)
    market = json.loads(ORDERS.new_order(child("market"), CREDS, 1).body)
    assert market["marketUnit"] == "baseCoin" and "price" not in market and "timeInForce" not in market


def test_replies() -> None:
    ok = {"retCode": 0, "retMsg": "OK", "result": {"orderId": "1321003749386327552", "orderLinkId": COID}, "time": 7}
    assert ORDERS.parse_new_order(child(), VenueReply(200, json.dumps(ok).encode()), 5) == [
        Acked(COID, "1321003749386327552", 7_000_000)]
    dup = {"retCode": 110072, "retMsg": "OrderLinkedID is duplicate", "result": {}}
    [rejected] = ORDERS.parse_new_order(child(), VenueReply(200, json.dumps(dup).encode()), 5)
    assert rejected == Rejected(COID, "110072", "OrderLinkedID is duplicate", 5) and ORDERS.is_duplicate(rejected)
    listed = {"retCode": 0, "result": {"list": [{"orderId": "9", "orderStatus": "PartiallyFilledCanceled",
                                                  "cumExecQty": "0.0004"}]}}
    state = ORDERS.parse_order_status(child(), VenueReply(200, json.dumps(listed).encode()), 5)
    assert state == OrderState("9", False, 40_000, "ioc_remainder")
    empty = ORDERS.parse_order_status(child(), VenueReply(200, b'{"retCode":0,"result":{"list":[]}}'), 5)
    assert isinstance(empty, Rejected) and ORDERS.is_unknown_order(empty)
