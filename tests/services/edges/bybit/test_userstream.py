"""Bybit private `order` and `execution` topics: every fixture parses to its outcomes, field by field; auth frame."""

from __future__ import annotations

import hashlib
import hmac
import json

from events.routing import ChildAllocated
from services.edges.bybit.userstream import BybitUserStream
from services.edges.sandbox.orders import Acked, Cancelled, Filled
from services.vault import Credentials
from tests.shared_fixtures import fixture_path

PX = 10**9
Q = 10**8


def raw(name: str) -> str:
    return fixture_path("venues", "bybit", name).read_text()


def child(coid: str, *, symbol: str = "BTC-USDT", side: str = "buy", qty: int, tif: str = "gtc",
          order_type: str = "limit") -> ChildAllocated:
    return ChildAllocated(
        event_id="e1", ts_ns=1, tenant="acme", plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=coid, venue="bybit", symbol=symbol, side=side, qty_1e8=qty,  # type: ignore[arg-type]
        order_type=order_type, limit_px_1e9=30_000 * PX, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def lookup(*children: ChildAllocated):  # type: ignore[no-untyped-def]
    return {c.client_order_id: c for c in children}.get


def test_cancelled_order_ends_with_nothing_filled() -> None:
    mine = child("client-1", qty=1_000_000)
    ack, end = BybitUserStream().parse(raw("ws_account_order.json"), lookup(mine), 7)
    ts = 1700000005000 * 10**6  # updatedTime
    assert ack == Acked("client-1", "abcdef123456", ts)
    assert end == Cancelled("client-1", "abcdef123456", 0, 1_000_000, "cancelled", ts)


def test_filled_order_is_only_acked_its_fills_come_from_execution() -> None:
    mine = child("test-client-order-001", qty=10_000_000)
    assert BybitUserStream().parse(raw("ws_account_order_filled.json"), lookup(mine), 7) == [
        Acked("test-client-order-001", "5cf98598-39a7-459e-97bf-76ca765ee020", 1672364262457 * 10**6)
    ]


def test_rejected_after_a_partial_fill_keeps_the_fills_and_ends_the_rest() -> None:
    mine = child("O-20251001-164609-APEX-000-49", symbol="APEX-USDT", qty=100 * Q)
    ack, end = BybitUserStream().parse(raw("ws_account_order_partially_filled_rejected.json"), lookup(mine), 7)
    assert isinstance(ack, Acked)
    assert end == Cancelled("O-20251001-164609-APEX-000-49", "5cf98598-39a7-459e-97bf-76ca765ee021", 50 * Q, 50 * Q,
                            "rejected", 1672364262457 * 10**6)


def test_execution_is_a_fill_with_its_exec_id_and_fee() -> None:
    mine = child("test-order-link-001", side="sell", qty=50_000_000, order_type="market", tif="ioc")
    ack, fill = BybitUserStream().parse(raw("ws_account_execution.json"), lookup(mine), 7)
    ts = 1746270400353 * 10**6  # execTime
    assert ack == Acked("test-order-link-001", "9aac161b-8ed6-450d-9cab-c5cc67c21784", ts)
    assert isinstance(fill, Filled)
    assert fill.fill_id == "0ab1bdf7-4219-438b-b30a-32ec863018f7"  # execId
    assert (fill.qty_1e8, fill.px_1e9, fill.side) == (50_000_000, 95_900_100_000_000, "sell")
    # linear: the fee is in the settle coin (USDT) when feeCurrency is absent.
    assert (fill.fee_asset, fill.fee_qty_1e8, fill.fee_usd_1e9) == ("USDT", 2_637_252_750, 26_372_527_500)
    assert fill.liquidity == "taker" and fill.ts_ns == ts


def test_spot_buy_fee_defaults_to_the_base_coin() -> None:
    doc = json.loads(raw("ws_account_execution.json"))
    doc["data"][0].update(category="spot", side="Buy", execFee="0.0005")
    mine = child("test-order-link-001", qty=50_000_000)
    _, fill = BybitUserStream().parse(json.dumps(doc), lookup(mine), 7)
    assert isinstance(fill, Filled)
    assert (fill.fee_asset, fill.fee_qty_1e8) == ("BTC", 50_000)
    assert fill.fee_usd_1e9 == 47_950_050_000  # 0.0005 BTC at 95 900.1


def test_fast_executions_and_others_orders_give_nothing() -> None:
    mine = child("test-order-link-001", qty=3000 * Q)
    stream = BybitUserStream()
    assert stream.parse(raw("ws_account_execution_fast.json"), lookup(mine), 7) == []  # no fee: REST/execution book it
    assert stream.parse(raw("ws_account_execution.json"), lookup(), 7) == []
    assert stream.parse(raw("ws_account_wallet.json"), lookup(mine), 7) == []


def test_auth_is_signed_as_bybit_verifies_and_its_reply_is_read() -> None:
    stream = BybitUserStream()
    [frame] = stream.login_frames(Credentials("key-1", "secret-1"), 1_700_000_000_000)
    doc = json.loads(frame)
    expected = hmac.new(b"secret-1", b"GET/realtime1700000010000", hashlib.sha256).hexdigest()
    assert doc == {"op": "auth", "args": ["key-1", "1700000010000", expected]}
    assert stream.login_reply(raw("ws_auth_success.json")) is True
    assert stream.login_reply(raw("ws_auth_failure.json")) is False
    assert stream.login_reply(raw("ws_subscription_ack.json")) is None
    assert json.loads(stream.subscribe_frames()[0]) == {"op": "subscribe", "args": ["order", "execution"]}
