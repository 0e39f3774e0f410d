"""OKX private `orders` channel: every fixture parses to its outcomes, field by field; login frame."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from events.routing import ChildAllocated
from services.edges.okx.userstream import OkxUserStream
from services.edges.sandbox.orders import Acked, Cancelled, Filled
from services.vault import Credentials
from tests.shared_fixtures import fixture_path

PX = 10**9
Q = 10**8


def raw(name: str) -> str:
    return fixture_path("venues", "okx", name).read_text()


def child(coid: str, *, side: str = "buy", qty: int, tif: str) -> ChildAllocated:
    return ChildAllocated(
        event_id="e1", ts_ns=1, tenant="acme", plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=coid, venue="okx", symbol="BTC-USDT", side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type="limit", limit_px_1e9=50_000 * PX, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def lookup(*children: ChildAllocated):  # type: ignore[no-untyped-def]
    return {c.client_order_id: c for c in children}.get


def test_fok_fill_is_acked_and_filled_with_its_trade_id_and_fee() -> None:
    mine = child("FOK-TEST-001", qty=5_000_000, tif="fok")
    ack, fill = OkxUserStream().parse(raw("ws_orders_fok.json"), lookup(mine), 7)
    assert ack == Acked("FOK-TEST-001", "2497956918703120385", 1746947317402 * 10**6)  # uTime
    assert isinstance(fill, Filled)
    assert (fill.fill_id, fill.venue_order_id) == ("1518905530", "2497956918703120385")  # tradeId, ordId
    assert (fill.qty_1e8, fill.px_1e9) == (5_000_000, 50_000 * PX)  # fillSz, fillPx
    assert (fill.fee_asset, fill.fee_qty_1e8, fill.fee_usd_1e9) == ("USDT", 25_000_000, 250_000_000)  # -fee
    assert fill.liquidity == "taker" and fill.ts_ns == 1746947317402 * 10**6  # execType T, fillTime
    # state filled: no end beyond the fills.


def test_partial_ioc_fill_on_the_sell_side() -> None:
    mine = child("IOC-TEST-001", side="sell", qty=5_000_000, tif="ioc")
    ack, fill = OkxUserStream().parse(raw("ws_orders_ioc.json"), lookup(mine), 7)
    assert ack == Acked("IOC-TEST-001", "2497956918703120386", 1746947318502 * 10**6)
    assert isinstance(fill, Filled)
    assert (fill.fill_id, fill.qty_1e8, fill.px_1e9, fill.side) == ("1518905531", 2_000_000, 50_100_500_000_000, "sell")
    assert (fill.fee_asset, fill.fee_qty_1e8) == ("USDT", 10_020_000)


def test_a_cancelled_ioc_ends_with_its_remainder() -> None:
    doc = json.loads(raw("ws_orders_ioc.json"))
    item = doc["data"][0]
    item.update(state="canceled", tradeId="", fillSz="0", fillPx="", fee="0")
    mine = child("IOC-TEST-001", side="sell", qty=5_000_000, tif="ioc")
    ack, end = OkxUserStream().parse(json.dumps(doc), lookup(mine), 7)
    assert isinstance(ack, Acked)
    assert end == Cancelled("IOC-TEST-001", "2497956918703120386", 2_000_000, 3_000_000, "ioc_remainder",
                            1746947318502 * 10**6)


def test_swap_and_algo_items_are_not_spot_children() -> None:
    stream = OkxUserStream()
    # The swap fixture's client id is ours, but its sizes are contracts: spot order entry skips it.
    swap = child("001BTCUSDT20250106001", qty=3_000_000, tif="ioc")
    assert stream.parse(raw("ws_orders.json"), lookup(swap), 7) == []
    assert stream.parse(raw("ws_orders_algo.json"), lookup(child("706620792746729474_0", qty=Q, tif="gtc")), 7) == []
    assert stream.parse(raw("ws_orders_fok.json"), lookup(), 7) == []  # not ours


def test_login_is_signed_as_okx_verifies_and_its_reply_is_read() -> None:
    stream = OkxUserStream()
    [frame] = stream.login_frames(Credentials("key-1", "secret-1", "pass-1"), 1_700_000_000_123)
    doc = json.loads(frame)
    assert doc["op"] == "login"
    [args] = doc["args"]
    assert (args["apiKey"], args["passphrase"], args["timestamp"]) == ("key-1", "pass-1", "1700000000")
    expected = base64.b64encode(hmac.new(b"secret-1", b"1700000000GET/users/self/verify", hashlib.sha256).digest())
    assert args["sign"] == expected.decode()
    assert stream.login_reply('{"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"}') is True
    assert stream.login_reply('{"event": "error", "code": "60009", "msg": "Login failed."}') is False
    assert stream.login_reply('{"event": "subscribe", "arg": {"channel": "orders"}}') is None
    assert json.loads(stream.subscribe_frames()[0]) == {"op": "subscribe", "args": [{"channel": "orders", "instType": "SPOT"}]}
    assert stream.url("", "") == "wss://ws.okx.com:8443/ws/v5/private"
