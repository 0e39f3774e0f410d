"""BitMart spot order requests (exact JSON, signed headers) and the docs' replies parsed into
outcomes (services/edges/bitmart/orders.py)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from events.routing import ChildAllocated
from services.edges.bitmart.orders import BitmartSpotOrders
from services.edges.sandbox.orders import Acked, Filled, Rejected
from services.edges.transport import OrderState, UnsupportedOrder, VenueReply
from services.vault import Credentials
from tests.services.edges.bitmart.recorded import PAYLOADS

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
HEX_COID = "0b7e5f8e3f0a5c1e9d532a3c1e0b7f10"
CREDS = Credentials("api-key-1", "secret-1", "memo-1")
ORDERS = BitmartSpotOrders()


def child(order_type: str = "limit", tif: str = "gtc", side: str = "buy", px: int | None = 50_000 * 10**9) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="bitmart", symbol="BTC-USDT", side=side, qty_1e8=100_000, order_type=order_type,  # type: ignore[arg-type]
        limit_px_1e9=px, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def reply(name: str, status: int = 200) -> VenueReply:
    return VenueReply(status, (PAYLOADS / name).read_bytes())


def test_submit_is_signed_over_timestamp_memo_and_the_exact_body() -> None:
    request = ORDERS.new_order(child(), CREDS, now_ms=1589793796145)
    assert (request.method, request.path, request.query) == ("POST", "/spot/v2/submit_order", "")
    assert request.body == (
        f'{{"symbol":"BTC_USDT","side":"buy","type":"limit","client_order_id":"{HEX_COID}",'
        '"size":"0.001","price":"50000"}'
    )
    h = request.headers
    assert (h["X-BM-KEY"], h["X-BM-TIMESTAMP"]) == ("api-key-1", "1589793796145")
    message = f"1589793796145#memo-1#{request.body}".encode()
    assert h["X-BM-SIGN"] == hmac.new(b"secret-1", message, hashlib.sha256).hexdigest()
    assert "memo-1" not in h.values() and "secret-1" not in h.values()


@pytest.mark.parametrize(
    ("order_type", "tif", "side", "px", "venue_type", "price"),
    [
        ("limit", "ioc", "buy", 50_000 * 10**9, "ioc", "50000"),
        ("limit", "day", "sell", 50_000 * 10**9, "limit", "50000"),
        ("market", "ioc", "sell", None, "market", None),
        ("market", "ioc", "buy", 50_100 * 10**9, "ioc", "50100"),  # a market buy would need a quote size
    ],
)
def test_order_types(order_type: str, tif: str, side: str, px: int | None, venue_type: str, price: str | None) -> None:
    body = json.loads(ORDERS.new_order(child(order_type, tif, side, px), CREDS, 1).body)
    assert (body["type"], body.get("price"), body["size"], body["side"]) == (venue_type, price, "0.001", side)


@pytest.mark.parametrize(
    ("order", "creds"),
    [
        (child("limit", "fok"), CREDS),  # no fill-or-kill on spot v2
        (child("market", "ioc", "buy", None), CREDS),  # sized in quote: needs a price to send as IOC
        (child(), Credentials("api-key-1", "secret-1")),  # no memo, nothing to sign with
    ],
)
def test_what_bitmart_cannot_take_is_refused_before_sending(order: ChildAllocated, creds: Credentials) -> None:
    with pytest.raises(UnsupportedOrder):
        ORDERS.new_order(order, creds, 1)


def test_lookups_trades_and_cancel_are_signed_json_posts() -> None:
    lookup = ORDERS.order_status(child(), CREDS, 7)
    assert (lookup.path, json.loads(lookup.body)) == (
        "/spot/v4/query/client-order", {"clientOrderId": HEX_COID, "recvWindow": 5000})
    trades = ORDERS.fills(child(), "1223181", CREDS, 7)
    assert (trades.path, json.loads(trades.body)) == ("/spot/v4/query/order-trades", {"orderId": "1223181", "recvWindow": 5000})
    cancel = ORDERS.cancel(child(), "1223181", CREDS, 7)
    assert (cancel.path, json.loads(cancel.body)) == ("/spot/v3/cancel_order", {"symbol": "BTC_USDT", "order_id": "1223181"})
    for request in (lookup, trades, cancel):
        assert request.method == "POST"
        expected = hmac.new(b"secret-1", f"7#memo-1#{request.body}".encode(), hashlib.sha256).hexdigest()
        assert request.headers["X-BM-SIGN"] == expected


def test_the_documented_replies() -> None:
    assert ORDERS.parse_new_order(child(), reply("rest_submit_order.json"), 5) == [Acked(COID, "1223181", 5)]
    state = ORDERS.parse_order_status(child(), reply("rest_query_client_order.json"), 5)
    assert state == OrderState("118100034543076010", False, 10_000_000, "filled")
    [fill] = ORDERS.parse_fills(child(), "118100034543076010", reply("rest_order_trades.json"), 5)
    assert fill == Filled(
        client_order_id=COID, venue_order_id="118100034543076010", fill_id="122177405911172002", symbol="BTC-USDT",
        side="buy", qty_1e8=10_000_000, px_1e9=39_999_000_000_000, fee_usd_1e9=9_999_750_000, fee_asset="USDT", fee_qty_1e8=999_975_000,
        liquidity="taker", ts_ns=1_681_701_559_210_000_000,
    )
    assert ORDERS.parse_cancel(child(), reply("rest_cancel_order.json"), 5) is None


def test_refusals_and_ioc_ends() -> None:
    dup = VenueReply(400, b'{"code":50042,"message":"clientOrderId is duplicate","trace":"t","data":{}}')
    [rejected] = ORDERS.parse_new_order(child(), dup, 5)
    assert rejected == Rejected(COID, "50042", "clientOrderId is duplicate", 5) and ORDERS.is_duplicate(rejected)
    missing = ORDERS.parse_order_status(child(), VenueReply(400, b'{"code":50005,"message":"Order Id not found"}'), 5)
    assert isinstance(missing, Rejected) and ORDERS.is_unknown_order(missing)
    assert ORDERS.parse_new_order(child(), VenueReply(503, b"gateway timeout"), 5) == []  # unknown: look it up
    html = ORDERS.parse_new_order(child(), VenueReply(403, b"<html>blocked</html>"), 5)
    assert html == [Rejected(COID, "http_403", "unexpected reply from bitmart", 5)]
    ended = json.loads((PAYLOADS / "rest_query_client_order.json").read_text())
    ended["data"]["state"], ended["data"]["filledSize"] = "partially_canceled", "0.00040"
    state = ORDERS.parse_order_status(child("limit", "ioc"), VenueReply(200, json.dumps(ended).encode()), 5)
    assert state == OrderState("118100034543076010", False, 40_000, "ioc_remainder")
    refused = ORDERS.parse_cancel(child(), VenueReply(400, b'{"code":50032,"message":"The order was matched or cancelled"}'), 5)
    assert refused == Rejected(COID, "50032", "The order was matched or cancelled", 5)
