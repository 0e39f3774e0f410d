"""Binance spot user-data stream: every executionReport fixture parses to its outcomes, field by field."""

from __future__ import annotations

import json

import pytest

from events.routing import ChildAllocated
from services.edges.binance.userstream import BinanceSpotUserStream
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Rejected
from services.edges.transport import VenueReply
from services.vault import Credentials
from tests.shared_fixtures import fixture_path

PX = 10**9
Q = 10**8


def raw(name: str) -> str:
    return fixture_path("venues", "binance_spot", name).read_text()


def child(coid: str, *, symbol: str = "ETH-USDT", side: str = "buy", qty: int = Q, tif: str = "gtc") -> ChildAllocated:
    return ChildAllocated(
        event_id="e1", ts_ns=1, tenant="acme", plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=coid, venue="binance", symbol=symbol, side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type="limit", limit_px_1e9=2500 * PX, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def lookup(*children: ChildAllocated):  # type: ignore[no-untyped-def]
    by_id = {c.client_order_id: c for c in children}
    return by_id.get


def test_new_is_an_ack_with_the_venue_order_id() -> None:
    mine = child("x-TD67BGP9-T0000000000000")
    assert BinanceSpotUserStream().parse(raw("ws_user_execution_report_new.json"), lookup(mine), 7) == [
        Acked("x-TD67BGP9-T0000000000000", "12345678", 1709654400000 * 10**6)
    ]


def test_trade_is_a_fill_with_its_trade_id_commission_and_asset() -> None:
    mine = child("x-TD67BGP9-T0000000000000")
    ack, fill = BinanceSpotUserStream().parse(raw("ws_user_execution_report_trade.json"), lookup(mine), 7)
    ts = 1709654401000 * 10**6
    assert ack == Acked(mine.client_order_id, "12345678", ts)
    assert isinstance(fill, Filled)
    assert fill.fill_id == "98765432"  # `t`: the id myTrades and the FULL reply carry
    assert (fill.client_order_id, fill.venue_order_id, fill.symbol, fill.side) == (
        mine.client_order_id, "12345678", "ETH-USDT", "buy")
    assert (fill.qty_1e8, fill.px_1e9) == (1 * Q, 2500 * PX)  # `l`, `L`
    assert (fill.fee_asset, fill.fee_qty_1e8) == ("ETH", 100_000)  # `N`, `n` = 0.001 ETH
    assert fill.fee_usd_1e9 == int(2.5 * PX)  # base-asset fee at the fill price
    assert fill.liquidity == "maker" and fill.ts_ns == ts  # `m`, `T`
    # X = FILLED: nothing left to cancel.


def test_partial_trade_in_a_combined_stream_frame() -> None:
    mine = child("O-12345-test-trade")
    ack, fill = BinanceSpotUserStream().parse(raw("ws_user_execution_report_trade_2.json"), lookup(mine), 7)
    assert ack == Acked("O-12345-test-trade", "1234567890", 1759347763167 * 10**6)
    assert isinstance(fill, Filled)
    assert (fill.fill_id, fill.qty_1e8, fill.px_1e9) == ("98765432", 50_000_000, 2_499_500_000_000)
    assert (fill.fee_asset, fill.fee_qty_1e8, fill.liquidity) == ("ETH", 50_000, "maker")


def test_canceled_ends_the_order_with_what_was_filled() -> None:
    mine = child("x-TD67BGP9-T0000000000000")
    ack, end = BinanceSpotUserStream().parse(raw("ws_user_execution_report_canceled.json"), lookup(mine), 7)
    ts = 1709654402000 * 10**6
    assert ack == Acked(mine.client_order_id, "12345678", ts)
    assert end == Cancelled(mine.client_order_id, "12345678", 0, 1 * Q, "canceled", ts)


def test_expired_ioc_is_the_ioc_remainder() -> None:
    mine = child("x-TD67BGP9-T0000000000000", tif="ioc")
    _, end = BinanceSpotUserStream().parse(raw("ws_user_execution_report_expired.json"), lookup(mine), 7)
    assert end == Cancelled(mine.client_order_id, "12345678", 0, 1 * Q, "ioc_remainder", 1709654403000 * 10**6)


def test_pending_cancel_is_not_an_end_yet() -> None:
    mine = child("O-12345-test-cancel", side="sell", qty=50_000_000)
    assert BinanceSpotUserStream().parse(raw("ws_user_execution_report_pending_cancel_2.json"), lookup(mine), 7) == [
        Acked("O-12345-test-cancel", "9876543210", 1759347763167 * 10**6)
    ]


def test_rejected_carries_the_venue_reason() -> None:
    mine = child("O-12345-test-reject", symbol="BTC-USDT", qty=100_000)
    [rejected] = BinanceSpotUserStream().parse(raw("ws_user_execution_report_rejected_2.json"), lookup(mine), 7)
    assert isinstance(rejected, Rejected)
    assert (rejected.client_order_id, rejected.code, rejected.ts_ns) == (
        "O-12345-test-reject", "GTX_ORDER_REJECT", 1759347763167 * 10**6)


def test_websocket_api_wrapped_frame_is_unwrapped() -> None:
    mine = child("mUvoqJxFIILMdfAW5iGSOW", symbol="ETH-BTC")
    assert BinanceSpotUserStream().parse(raw("ws_user_execution_report_wrapped.json"), lookup(mine), 7) == [
        Acked("mUvoqJxFIILMdfAW5iGSOW", "4293153", 1499405658657 * 10**6)
    ]


def test_a_cancel_names_the_original_order_in_big_c() -> None:
    doc = json.loads(raw("ws_user_execution_report_canceled.json"))
    doc["C"], doc["c"] = doc["c"], "web_cancel_request_id"
    mine = child("x-TD67BGP9-T0000000000000")
    outcomes = BinanceSpotUserStream().parse(json.dumps(doc), lookup(mine), 7)
    assert [type(o) for o in outcomes] == [Acked, Cancelled]


@pytest.mark.parametrize("name", [
    "ws_user_execution_report_new.json", "ws_user_account_position.json", "ws_user_balance_update.json",
    "ws_user_list_status_wrapped.json",
])
def test_frames_that_are_not_our_orders_give_nothing(name: str) -> None:
    assert BinanceSpotUserStream().parse(raw(name), lookup(), 7) == []


def test_listen_key_requests_carry_only_the_api_key() -> None:
    stream = BinanceSpotUserStream()
    creds = Credentials("key-1", "secret-1")
    opener = stream.open_request(creds, 1)
    assert (opener.method, opener.path, opener.headers) == ("POST", "/api/v3/userDataStream", {"X-MBX-APIKEY": "key-1"})
    assert "secret-1" not in repr(opener) + opener.target + opener.body
    assert stream.parse_open(VenueReply(200, b'{"listenKey": "abc"}')) == "abc"
    with pytest.raises(ValueError):
        stream.parse_open(VenueReply(401, b'{"code": -2015}'))
    keep = stream.keepalive_request(creds, "abc", 1)
    assert (keep.method, keep.target) == ("PUT", "/api/v3/userDataStream?listenKey=abc")
    assert stream.url("ws://127.0.0.1:9/", "abc") == "ws://127.0.0.1:9/ws/abc"
    assert stream.url("", "abc") == "wss://stream.binance.com:9443/ws/abc"
    assert stream.is_expired('{"e": "listenKeyExpired", "E": 1, "listenKey": "abc"}')
    assert not stream.is_expired(raw("ws_user_execution_report_new.json"))


def test_the_spot_stream_does_not_cover_perp_children() -> None:
    stream = BinanceSpotUserStream()
    assert stream.covers(child("a", symbol="ETH-USDT"))
    assert not stream.covers(child("b", symbol="ETH-USDT-PERP"))  # USD-M pushes on its own stream
