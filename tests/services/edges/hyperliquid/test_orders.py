"""Hyperliquid order actions (hashed key order, recoverable signature) and replies."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from events.routing import ChildAllocated
from services.edges.hyperliquid import signing
from services.edges.hyperliquid.orders import HyperliquidOrders
from services.edges.sandbox.orders import Acked, Filled, Rejected
from services.edges.transport import OrderState, UnsupportedOrder, VenueReply
from services.errors import VenueError
from services.vault import Credentials
from tests.shared_fixtures import fixture_json

KEY = "0x" + "0123456789012345678901234567890123456789012345678901234567890123"
ADDRESS = Account.from_key(KEY).address
COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"


def orders() -> HyperliquidOrders:
    o = HyperliquidOrders()
    o.load_reference(VenueReply(200, json.dumps(fixture_json("venues", "hyperliquid", "http_meta_perp_sample.json")).encode()))
    return o


def child(symbol: str = "ETH-USD-PERP", order_type: str = "limit", tif: str = "ioc") -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1, plan_id="p", graph_id="g", node_id="n", child_id="c", client_order_id=COID,
        venue="hyperliquid", symbol=symbol, side="sell", qty_1e8=1_470_000, order_type=order_type,  # type: ignore[arg-type]
        limit_px_1e9=None if order_type == "market" else 1_670_100_000_000, tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


def test_order_action_has_the_wire_key_order_and_a_signature_that_recovers_the_signer() -> None:
    request = orders().new_order(child(), Credentials(ADDRESS, KEY), now_ms=1677777606040)
    body = json.loads(request.body)
    assert list(body) == ["action", "nonce", "signature", "vaultAddress"]
    assert body["action"] == {"type": "order", "orders": [{"a": 1, "b": False, "p": "1670.1", "s": "0.0147", "r": False,
                              "t": {"limit": {"tif": "Ioc"}}, "c": "0x0b7e5f8e3f0a5c1e9d532a3c1e0b7f10"}],
                              "grouping": "na"}
    assert list(body["action"]["orders"][0]) == ["a", "b", "p", "s", "r", "t", "c"]
    signer = signing.recover_l1_signer(body["action"], None, 1677777606040, None, True, body["signature"])
    assert signer == ADDRESS
    testnet = orders().new_order(child(), Credentials(ADDRESS, KEY, extra_json={"testnet": True}), 1677777606040)
    assert json.loads(testnet.body)["signature"] != body["signature"]


def test_unplaceable_children_are_refused_before_signing() -> None:
    with pytest.raises(UnsupportedOrder, match="no mid for ETH"):  # allMids not read first
        orders().new_order(child(order_type="market"), Credentials(ADDRESS, KEY), 1)
    with pytest.raises(UnsupportedOrder, match="fok"):
        orders().new_order(child(tif="fok"), Credentials(ADDRESS, KEY), 1)
    with pytest.raises(UnsupportedOrder, match="no perp DOGE"):
        orders().new_order(child(symbol="DOGE-USD-PERP"), Credentials(ADDRESS, KEY), 1)
    with pytest.raises(UnsupportedOrder, match="meta"):
        HyperliquidOrders().new_order(child(), Credentials(ADDRESS, KEY), 1)  # meta never loaded


def test_a_failed_meta_reply_is_a_venue_error_not_an_unsupported_order() -> None:
    # UnsupportedOrder would end the child as rejected; a 5xx or a proxy page must be retried.
    o = HyperliquidOrders()
    for reply in (VenueReply(502, b'{"error": "bad gateway"}'), VenueReply(200, b"<html>busy</html>")):
        with pytest.raises(VenueError, match="meta") as raised:
            o.load_reference(reply)
        assert not isinstance(raised.value, UnsupportedOrder)
        assert o.reference_request() is not None  # still to load: asked again next time


def test_statuses() -> None:
    o = orders()

    def reply(doc: object) -> VenueReply:
        return VenueReply(200, json.dumps(doc).encode())

    resting = {"status": "ok", "response": {"type": "order", "data": {"statuses": [{"resting": {"oid": 77738308}}]}}}
    assert o.parse_new_order(child(), reply(resting), 5) == [Acked(COID, "77738308", 5)]
    error = {"status": "ok", "response": {"type": "order", "data": {"statuses": [
        {"error": "Order must have minimum value of $10."}]}}}
    assert o.parse_new_order(child(), reply(error), 5) == [
        Rejected(COID, "order_error", "Order must have minimum value of $10.", 5)]
    refused = {"status": "err", "response": "User or API Wallet 0xabc does not exist."}
    assert o.parse_new_order(child(), reply(refused), 5)[0].code == "err"
    state = {"status": "order", "order": {"order": {"oid": 9, "sz": "0.0047", "origSz": "0.0147"}, "status": "canceled"}}
    assert o.parse_order_status(child(), reply(state), 5) == OrderState("9", False, 1_000_000, "ioc_remainder")
    unknown = o.parse_order_status(child(), reply({"status": "unknownOid"}), 5)
    assert isinstance(unknown, Rejected) and o.is_unknown_order(unknown)


def test_user_fills_fixture_without_trade_ids_get_distinct_stable_ids() -> None:
    recorded = fixture_json("venues", "hyperliquid", "http_info_userFills.json")["response"]
    reply = VenueReply(200, json.dumps(recorded).encode())
    fills = orders().parse_fills(child(symbol="ETH-USD-PERP"), "189324432", reply, 5)
    mine = [f for f in recorded if f["oid"] == 189324432]
    assert len(fills) == len(mine) >= 2
    assert all(isinstance(f, Filled) for f in fills)
    assert len({f.fill_id for f in fills}) == len(fills)  # same tx hash, still told apart
    assert [f.fill_id for f in orders().parse_fills(child(), "189324432", reply, 6)] == [f.fill_id for f in fills]
    assert fills[0].qty_1e8 == 14_270_000_000 and fills[0].px_1e9 == 1_318_900_000 and fills[0].liquidity == "taker"
