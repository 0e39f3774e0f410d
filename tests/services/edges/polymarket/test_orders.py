"""Polymarket order entry: every published signing vector, the recorded reply shapes, the user
channel field by field, and round trips against the local CLOB through the live transport."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from eth_account import Account as EthAccount

from events.routing import ChildAllocated
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, start_server
from services.edges.live.venues import LIMITS, ORDERS, request_cost
from services.edges.polymarket import signing
from services.edges.polymarket.orders import PolymarketOrders, wire_order
from services.edges.polymarket.private_server import FOK_KILLED, Wallets, polymarket_app
from services.edges.polymarket.private_stream import parse_user_frame
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Rejected
from services.edges.transport import HttpTransport, OrderState, SignedRequest, UnsupportedOrder, VenueReply
from services.errors import VenueError
from services.vault import Credentials
from tests.shared_fixtures import fixture_json, fixture_path

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ADDRESS = EthAccount.from_key(KEY).address
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
CREDS = Credentials("api-key-1", SECRET, "pass-1", {"private_key": KEY})


def vectors() -> list[dict[str, Any]]:
    doc = json.loads(fixture_path("signing_vectors.json").read_text())
    return [v for v in doc["vectors"] if v["venue"] == "polymarket"]


def vector(name: str) -> dict[str, Any]:
    return next(v for v in vectors() if v["name"] == name)


def child(side: str = "buy", qty: str = "10", px: str | None = "0.56", tif: str = "gtc", coid: str = COID,
          token: str = TOKEN) -> ChildAllocated:
    return ChildAllocated(
        event_id="e", ts_ns=1_713_398_400_000_000_000, plan_id="p", graph_id="g", node_id="n", child_id="c",
        client_order_id=coid, venue="polymarket", symbol=token, side=side,  # type: ignore[arg-type]
        qty_1e8=int(Decimal(qty) * 10**8), order_type="market" if px is None else "limit",
        limit_px_1e9=None if px is None else int(Decimal(px) * 10**9), tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("name", [
    "order_v1_standard_amoy", "order_v1_negrisk_amoy", "order_v2_buy_standard_eoa", "order_v2_sell_neg_risk_eoa",
    "order_v2_buy_with_builder_code_eoa", "order_v2_buy_poly_proxy", "order_v2_sell_neg_risk_poly_gnosis_safe",
])
def test_order_vectors_reproduce_digest_and_signature_and_recover_the_signer(name: str) -> None:
    v = vector(name)
    i = v["inputs"]
    if name.startswith("order_v1"):
        typed = signing.order_typed_data(i["order"], chain_id=i["chain_id"], exchange=i["verifying_contract"], version="1")
    else:
        typed = signing.order_typed_data(i["order"], chain_id=137, exchange=signing.exchange_address(i["neg_risk"]))
    assert "0x" + signing.digest(typed).hex() == v["expected"]["eip712_digest"]
    assert signing.sign_typed(i["private_key"], typed) == v["expected"]["signature"]
    assert signing.recover_typed(typed, v["expected"]["signature"]) == ADDRESS


def test_clob_auth_l1_and_hmac_l2_vectors() -> None:
    l1 = vector("clob_auth_L1")["inputs"]
    headers = signing.l1_headers(l1["private_key"], int(l1["timestamp"]), l1["nonce"], l1["chain_id"])
    assert headers == {"POLY_ADDRESS": ADDRESS, "POLY_SIGNATURE": vector("clob_auth_L1")["expected"],
                       "POLY_TIMESTAMP": "10000000", "POLY_NONCE": "23"}
    l2 = vector("hmac_L2")
    i = l2["inputs"]
    assert signing.hmac_signature(i["secret"], i["timestamp"], i["method"], i["requestPath"], i["body"]) == l2["expected"]


def test_limit_amount_vectors() -> None:
    v = vector("order_amounts_tick_0.01")
    got = [signing.limit_amounts(x["side"], Decimal(x["size"]), Decimal(x["price"]), x["tick_size"]) for x in v["inputs"]]
    assert got == [(int(e["makerAmount"]), int(e["takerAmount"])) for e in v["expected"]]


def test_wire_order_reproduces_the_recorded_signed_order_json() -> None:
    recorded = fixture_json("venues", "polymarket", "http_signed_order.json")
    v = vector("order_v2_buy_standard_eoa")["inputs"]["order"]
    assert wire_order(v, recorded["signature"]) == recorded
    # Signed for real, the same fields carry the vector's signature.
    signature = signing.sign_order(KEY, v)
    assert signature == vector("order_v2_buy_standard_eoa")["expected"]["signature"]


def test_a_child_signs_one_deterministic_order_whose_hash_is_its_venue_id() -> None:
    o = PolymarketOrders()
    request = o.new_order(child(), CREDS, now_ms=1_700_000_000_000)
    body = json.loads(request.body)
    order = body["order"]
    assert (body["owner"], body["orderType"]) == ("api-key-1", "GTC")
    assert (order["side"], order["makerAmount"], order["takerAmount"], order["signatureType"]) == ("BUY", "5600000",
                                                                                                   "10000000", 0)
    assert (order["maker"], order["signer"], order["tokenId"]) == (ADDRESS.lower(), ADDRESS.lower(), TOKEN)
    assert order["salt"] == int(o.client_id(COID)) < 2**53 and order["timestamp"] == "1713398400000"
    fields = {**order, "side": 0}
    typed = signing.order_typed_data(fields, chain_id=137, exchange=signing.EXCHANGE_V2)
    assert signing.recover_typed(typed, order["signature"]) == ADDRESS
    assert o.order_hash(child(), CREDS) == "0x" + signing.digest(typed).hex()
    assert json.loads(o.new_order(child(), CREDS, now_ms=1_800_000_000_000).body)["order"] == order  # a resend
    # L2 headers: HMAC over timestamp (s) + method + path + the exact body.
    h = request.headers
    assert h["POLY_SIGNATURE"] == signing.hmac_signature(SECRET, "1700000000", "POST", "/order", request.body)
    assert (h["POLY_ADDRESS"], h["POLY_API_KEY"], h["POLY_PASSPHRASE"], h["POLY_TIMESTAMP"]) == (
        ADDRESS, "api-key-1", "pass-1", "1700000000")
    sell = json.loads(o.new_order(child("sell", "15", "0.24", "ioc"), CREDS, 1).body)
    assert (sell["order"]["makerAmount"], sell["order"]["takerAmount"], sell["orderType"]) == ("15000000", "3600000", "FAK")
    market = json.loads(o.new_order(child(px=None), CREDS, 1).body)
    assert (market["order"]["makerAmount"], market["orderType"]) == ("9900000", "FAK")


def test_proxy_and_safe_wallets_make_for_the_funder_and_neg_risk_tokens_use_their_exchange() -> None:
    funder = "0x" + "ab" * 20
    o = PolymarketOrders()
    for kind in (signing.POLY_PROXY, signing.POLY_GNOSIS_SAFE):
        creds = Credentials("k", SECRET, "p", {"private_key": KEY, "signature_type": kind, "funder": funder,
                                               "neg_risk_tokens": [TOKEN]})
        order = json.loads(o.new_order(child(), creds, 1).body)["order"]
        assert (order["maker"], order["signer"], order["signatureType"]) == (funder, ADDRESS.lower(), kind)
        typed = signing.order_typed_data({**order, "side": 0}, chain_id=137, exchange=signing.NEG_RISK_EXCHANGE_V2)
        assert signing.recover_typed(typed, order["signature"]) == ADDRESS
    with pytest.raises(UnsupportedOrder):
        o.new_order(child(), Credentials("k", SECRET, "p", {"private_key": KEY, "signature_type": 1}), 1)
    with pytest.raises(UnsupportedOrder):
        o.new_order(child(), Credentials("k", SECRET, "p", None), 1)
    with pytest.raises(UnsupportedOrder):
        o.new_order(child(tif="day"), CREDS, 1)


def test_recorded_replies_parse() -> None:
    o, c = PolymarketOrders(), child()

    def reply(name: str, status: int = 200) -> VenueReply:
        return VenueReply(status, fixture_path("venues", "polymarket", name).read_bytes())

    ok = fixture_json("venues", "polymarket", "http_order_response_ok.json")
    assert o.parse_new_order(c, reply("http_order_response_ok.json"), 7) == [Acked(COID, ok["orderID"], 7)]
    assert o.parse_new_order(c, reply("http_order_response_failed.json", 400), 7) == [
        Rejected(COID, "order_error", "Insufficient balance", 7)]
    assert o.parse_cancel(c, reply("http_cancel_response_ok.json"), 7) is None
    assert o.parse_cancel(c, reply("http_cancel_response_failed.json"), 7) == Rejected(
        COID, "not_canceled", "already canceled or matched", 7)
    cancelled, refused = o.parse_batch_cancel(reply("http_batch_cancel_response.json"))
    assert cancelled == ["0x" + "1" * 64, "0x" + "2" * 64] and refused == {"0x" + "3" * 64: "already canceled or matched"}
    open_order = fixture_json("venues", "polymarket", "http_open_order.json")
    assert o.parse_order_status(c, reply("http_open_order.json"), 7) == OrderState(open_order["id"], True, 25 * 10**8, "live")
    assert o.parse_open_orders(VenueReply(200, json.dumps({"data": [open_order]}).encode())) == [open_order["id"]]
    assert o.parse_balances(reply("http_balance_allowance_collateral.json")) == {"USD": Decimal(1000)}
    trade = fixture_json("venues", "polymarket", "http_trade_report.json")
    fills = o.parse_fills(c, trade["taker_order_id"], VenueReply(200, json.dumps({"data": [trade]}).encode()), 7)
    assert fills == [Filled(
        client_order_id=COID, venue_order_id=trade["taker_order_id"], fill_id="trade-0xabcdef1234", symbol=TOKEN,
        side="buy", qty_1e8=25 * 10**8, px_1e9=500_000_000, fee_usd_1e9=0, liquidity="taker",
        ts_ns=1_704_067_200 * 10**9, fee_asset="USD", fee_qty_1e8=0,
    )]
    # As the second maker of that trade: its matched amount at its price, fee 10 bps x min(p, 1-p) x size.
    maker_id = trade["maker_orders"][1]["order_id"]
    [maker] = o.parse_fills(c, maker_id, VenueReply(200, json.dumps({"data": [trade]}).encode()), 7)
    assert (maker.fill_id, maker.side, maker.qty_1e8, maker.px_1e9, maker.liquidity, maker.fee_usd_1e9) == (  # type: ignore[union-attr]
        f"trade-0xabcdef1234:{maker_id}", "sell", 5 * 10**8, 500_000_000, "maker", 2_500_000)


OID = "0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef12"


def frame(name: str) -> str:
    return fixture_path("venues", "polymarket", name).read_text()


def test_user_channel_order_events_field_by_field() -> None:
    ours = {OID: COID}
    assert parse_user_frame(frame("ws_user_order_placement.json"), ours, 1) == [Acked(COID, OID, 1703875200001 * 10**6)]
    assert parse_user_frame(frame("ws_user_order_update.json"), ours, 1) == [Acked(COID, OID, 1703875200500 * 10**6)]
    assert parse_user_frame(frame("ws_user_order_matched.json"), ours, 1) == [Acked(COID, OID, 1703875201000 * 10**6)]
    ts = 1703875205000 * 10**6
    assert parse_user_frame(frame("ws_user_order_cancellation.json"), ours, 1) == [
        Acked(COID, OID, ts), Cancelled(COID, OID, 0, 100 * 10**8, "canceled", ts)]
    killed = {"0x78xx": "fok-1"}
    ts = 1777824065000 * 10**6
    assert parse_user_frame(frame("ws_user_order_fok_killed.json"), killed, 1) == [
        Acked("fok-1", "0x78xx", ts), Cancelled("fok-1", "0x78xx", 0, 12 * 10**8, "ioc_remainder", ts)]
    cancel = json.loads(frame("ws_order_cancel.json"))
    ts = 1725841743272 * 10**6
    assert parse_user_frame(frame("ws_order_cancel.json"), {cancel["id"]: "c2"}, 1) == [
        Acked("c2", cancel["id"], ts), Cancelled("c2", cancel["id"], 5 * 10**8, 0, "canceled", ts)]
    placement = json.loads(frame("ws_order_placement.json"))
    assert parse_user_frame(frame("ws_order_placement.json"), {placement["id"]: "c3"}, 1) == [
        Acked("c3", placement["id"], 1725842520990 * 10**6)]
    assert parse_user_frame(frame("ws_user_order_placement.json"), {}, 1) == []  # not ours


def test_user_channel_trades_as_taker_and_as_maker_field_by_field() -> None:
    [taker] = parse_user_frame(frame("ws_user_trade.json"), {OID: COID}, 1)
    assert taker == Filled(
        client_order_id=COID, venue_order_id=OID, fill_id="trade-0xabcdef1234", symbol=TOKEN, side="buy",
        qty_1e8=25 * 10**8, px_1e9=500_000_000, fee_usd_1e9=0, liquidity="taker", ts_ns=1_704_067_200 * 10**9,
        fee_asset="USD", fee_qty_1e8=0,
    )
    trade = json.loads(frame("ws_user_trade1.json"))
    yes_maker, no_maker = trade["maker_orders"][1], trade["maker_orders"][0]
    fills = parse_user_frame(frame("ws_user_trade1.json"), {yes_maker["order_id"]: "m1", no_maker["order_id"]: "m2"}, 1)
    ts = 1725868859 * 10**9
    assert [(f.client_order_id, f.fill_id, f.symbol, f.side, f.qty_1e8, f.px_1e9, f.liquidity, f.ts_ns)  # type: ignore[union-attr]
            for f in fills] == [
        ("m2", f"{trade['id']}:{no_maker['order_id']}", no_maker["asset_id"], "buy", 10 * 10**8, 482_000_000, "maker", ts),
        ("m1", f"{trade['id']}:{yes_maker['order_id']}", yes_maker["asset_id"], "sell", 24_768_000_000, 518_000_000,
         "maker", ts),
    ]
    # The same trade again at a later settlement step keeps its fill ids; a FAILED one is no fill.
    again = {**trade, "status": "CONFIRMED"}
    assert [f.fill_id for f in parse_user_frame(json.dumps([again]), {yes_maker["order_id"]: "m1"}, 1)] == [  # type: ignore[union-attr]
        f"{trade['id']}:{yes_maker['order_id']}"]
    assert parse_user_frame(json.dumps({**trade, "status": "FAILED"}), {yes_maker["order_id"]: "m1"}, 1) == []


def test_registered_with_its_rate_limits_and_costs() -> None:
    assert ORDERS["polymarket"] is PolymarketOrders and LIMITS["polymarket"]
    o = PolymarketOrders()
    cost = request_cost("polymarket")
    assert (cost(o.new_order(child(), CREDS, 1)).orders, cost(o.cancel(child(), OID, CREDS, 1)).orders) == (1, 0)
    batch = o.batch_new_orders([child(coid=f"00000000-0000-0000-0000-{i:012d}") for i in range(15)], CREDS, 1)
    assert cost(batch).orders == 15


@dataclass
class Served:
    venue: LoopbackVenue
    wallets: Wallets
    server: RunningServer
    client: httpx.AsyncClient

    def transport(self, creds: Credentials = CREDS) -> HttpTransport:
        # The Data API (positions) is served by the same local server.
        creds = Credentials(creds.api_key, creds.api_secret, creds.passphrase,
                            {**creds.extra_json, "data_api_url": self.server.url})
        return HttpTransport(PolymarketOrders(), creds, self.client)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    venue = LoopbackVenue(accounts={"api-key-1": Account(SECRET, "pass-1")})
    wallets = Wallets(address_of={"api-key-1": ADDRESS.lower()})
    venue.set_book(TOKEN, bids=[("0.50", "20")], asks=[("0.56", "4"), ("0.58", "100")])
    server = await start_server(polymarket_app(venue, wallets, cash=Decimal(1000)))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Served(venue, wallets, server, client)
    finally:
        await server.stop()


async def _send(client: httpx.AsyncClient, request: SignedRequest) -> httpx.Response:
    return await client.request(request.method, request.target, content=request.body.encode() or None,
                                headers=request.headers)


async def test_place_fill_and_cancel_round_trip(served: Served) -> None:
    transport = served.transport()
    [acked] = await transport.place(child())  # 4 fill against the 0.56 ask, 6 rest
    assert isinstance(acked, Acked) and acked.venue_order_id == PolymarketOrders().order_hash(child(), CREDS)
    [order] = served.venue.orders.values()
    assert (order.client_id, order.side, order.qty, order.filled, order.price) == (
        acked.venue_order_id, "BUY", Decimal(10), Decimal(4), Decimal("0.56"))
    [taker] = await transport.poll(child(), acked.venue_order_id)
    assert isinstance(taker, Filled)
    assert (taker.qty_1e8, taker.px_1e9, taker.liquidity, taker.symbol) == (4 * 10**8, 560_000_000, "taker", TOKEN)

    served.venue.fill_resting(order.order_id, Decimal(2))  # someone sells us 2 more at our price
    ended = await transport.cancel(child(), acked.venue_order_id)
    assert [type(o).__name__ for o in ended] == ["Filled", "Filled", "Cancelled"]
    maker = ended[1]
    assert isinstance(maker, Filled) and (maker.liquidity, maker.qty_1e8, maker.side) == ("maker", 2 * 10**8, "buy")
    assert maker.fill_id != taker.fill_id
    cancelled = ended[2]
    assert isinstance(cancelled, Cancelled) and (cancelled.filled_qty_1e8, cancelled.cancelled_qty_1e8) == (
        6 * 10**8, 4 * 10**8)
    [again] = await transport.cancel(child(), acked.venue_order_id)
    assert isinstance(again, Rejected) and again.message == "already canceled or matched"
    # The cash and the shares, as the ledger names them (USD; the token id).
    assert await transport.balances() == {"USD": Decimal(1000) - Decimal("2.24") - Decimal("1.12"), TOKEN: Decimal(6)}
    assert await transport.open_orders() == []


async def test_a_resend_or_a_lost_reply_never_places_a_second_order(served: Served) -> None:
    served.venue.lost_replies = 1
    transport = served.transport()
    first = await transport.place(child(qty="2"))
    assert [type(o).__name__ for o in first] == ["Acked", "Filled"]
    again = await transport.place(child(qty="2"))  # the same order hash: refused as a duplicate, then followed
    assert [type(o).__name__ for o in again] == ["Acked", "Filled"]
    assert len(served.venue.orders) == 1


async def test_fok_that_cannot_fill_is_killed_and_fak_takes_what_there_is(served: Served) -> None:
    transport = served.transport()
    [killed] = await transport.place(child(qty="50", px="0.56", tif="fok"))
    assert isinstance(killed, Rejected) and killed.code == "killed" and FOK_KILLED in killed.message
    fak = child(qty="50", px="0.56", tif="ioc", coid="00000000-0000-0000-0000-000000000002")
    [acked] = await transport.place(fak)
    assert isinstance(acked, Acked)
    outcomes = await transport.poll(fak, acked.venue_order_id)
    assert [(type(o).__name__, getattr(o, "qty_1e8", None) or getattr(o, "cancelled_qty_1e8", None)) for o in outcomes] == [
        ("Filled", 4 * 10**8), ("Cancelled", 46 * 10**8)]
    assert isinstance(outcomes[1], Cancelled) and outcomes[1].reason == "ioc_remainder"


async def test_batch_of_up_to_fifteen_and_batch_cancel(served: Served) -> None:
    o = PolymarketOrders()
    children = [child(qty="1", px="0.40", coid=f"00000000-0000-0000-0000-{i:012d}") for i in range(15)]
    children[2] = child(qty="1", px="0.40", coid=children[2].client_order_id, token="999")
    reply = await _send(served.client, o.batch_new_orders(children, CREDS, int(time.time() * 1000)))
    results = o.parse_batch_new_orders(children, VenueReply(reply.status_code, reply.content), 1)
    assert [type(r[0]).__name__ for r in results] == ["Acked"] * 2 + ["Rejected"] + ["Acked"] * 12
    assert len(served.venue.orders) == 14
    ids = [r[0].venue_order_id for r in results if isinstance(r[0], Acked)]
    reply = await _send(served.client, o.batch_cancel([*ids[:3], "0xnone"], CREDS, int(time.time() * 1000)))
    cancelled, refused = o.parse_batch_cancel(VenueReply(reply.status_code, reply.content))
    assert cancelled == ids[:3] and refused == {"0xnone": "order not found"}
    with pytest.raises(UnsupportedOrder):
        o.batch_new_orders([*children, child(coid="00000000-0000-0000-0000-999999999999")], CREDS, 1)


async def test_l1_derives_the_api_key_that_then_trades(served: Served) -> None:
    now = int(time.time() * 1000)
    o = PolymarketOrders()
    reply = await _send(served.client, o.derive_api_key_request(OTHER_KEY, now))
    assert reply.status_code == 400  # none yet
    reply = await _send(served.client, o.derive_api_key_request(OTHER_KEY, now, create=True))
    api_key, secret, passphrase = o.parse_api_key(VenueReply(reply.status_code, reply.content))
    reply = await _send(served.client, o.derive_api_key_request(OTHER_KEY, now))
    assert o.parse_api_key(VenueReply(reply.status_code, reply.content)) == (api_key, secret, passphrase)
    # A signature of another wallet for this address is refused.
    forged = o.derive_api_key_request(KEY, now)
    forged.headers["POLY_ADDRESS"] = EthAccount.from_key(OTHER_KEY).address
    assert (await _send(served.client, forged)).status_code == 401
    served.venue.set_book("77", bids=[], asks=[("0.30", "5"), ("0.40", "100")])
    creds = Credentials(api_key, secret, passphrase, {"private_key": OTHER_KEY})
    outcomes = await served.transport(creds).place(child(qty="5", px="0.30", token="77"))
    assert [type(x).__name__ for x in outcomes] == ["Acked"]
    # Stored as the wallet alone (the credentials API's shape): the transport derives the key itself.
    wallet_only = Credentials("", "", None, {"signer_private_key": OTHER_KEY})
    second = child(qty="1", px="0.40", token="77", coid="00000000-0000-0000-0000-000000000077")
    assert [type(x).__name__ for x in await served.transport(wallet_only).place(second)] == ["Acked"]
    assert served.venue.requests_seen.count("GET /auth/derive-api-key") == 4  # 3 above, 1 by the transport
    # A wallet with no key yet: the first attempt finds none to derive (retried), the next creates it.
    fresh_key = "0x" + "5d" * 32
    fresh = HttpTransport(PolymarketOrders(), Credentials("", "", None, {"signer_private_key": fresh_key,
                                                                          "data_api_url": served.server.url}),
                          served.client)
    third = child(qty="1", px="0.40", token="77", coid="00000000-0000-0000-0000-000000000078")
    with pytest.raises(VenueError):
        await fresh.place(third)
    assert [type(x).__name__ for x in await fresh.place(third)] == ["Acked"]
    assert served.wallets.keys.get((EthAccount.from_key(fresh_key).address.lower(), 0))


async def test_wrong_secret_passphrase_signer_and_stale_time_are_refused(served: Served) -> None:
    bad = [
        Credentials("api-key-1", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=", "pass-1", {"private_key": KEY}),
        Credentials("api-key-1", SECRET, "pass-2", {"private_key": KEY}),
        Credentials("api-key-2", SECRET, "pass-1", {"private_key": KEY}),
    ]
    now = int(time.time() * 1000)
    for creds in bad:
        reply = await _send(served.client, PolymarketOrders().new_order(child(), creds, now))
        assert reply.status_code == 401, reply.text
    reply = await _send(served.client, PolymarketOrders().new_order(child(), CREDS, now - 120_000))
    assert reply.status_code == 401 and "timestamp" in reply.text
    # Another wallet's order under this API key: its signer is not the key's wallet.
    stranger = Credentials("api-key-1", SECRET, "pass-1", {"private_key": OTHER_KEY})
    request = PolymarketOrders().new_order(child(), stranger, now)
    request.headers["POLY_ADDRESS"] = ADDRESS  # (the L2 header alone would pass)
    body = request.body
    request.headers["POLY_SIGNATURE"] = signing.hmac_signature(SECRET, str(now // 1000), "POST", "/order", body)
    reply = await _send(served.client, request)
    assert reply.status_code == 400 and reply.json()["errorMsg"] == "invalid signature"
    # A changed amount breaks the order signature even under a valid HMAC.
    doc = json.loads(PolymarketOrders().new_order(child(), CREDS, now).body)
    doc["order"]["takerAmount"] = "20000000"
    body = json.dumps(doc, separators=(",", ":"))
    headers = signing.l2_headers(ADDRESS, "api-key-1", SECRET, "pass-1", now // 1000, "POST", "/order", body)
    reply = await served.client.post("/order", content=body, headers=headers)
    assert reply.status_code == 400 and reply.json()["errorMsg"] == "invalid signature"
    assert not served.venue.orders


async def test_a_trade_listed_twice_keeps_one_fill_id(served: Served) -> None:
    # A duplicated fill message: the same trade twice, which the executor records once.
    served.venue.duplicate_fills = True
    c = child(qty="3", tif="ioc")
    [acked] = await served.transport().place(c)
    assert isinstance(acked, Acked)
    fills = [o for o in await served.transport().poll(c, acked.venue_order_id) if isinstance(o, Filled)]
    assert len(fills) == 2 and fills[0] == fills[1] and fills[0].qty_1e8 == 3 * 10**8
