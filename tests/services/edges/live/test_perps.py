"""Perp order entry: Binance USD-M (/fapi/v1), OKX linear swaps (sized in contracts) and Bybit
linear (category=linear): the venues' fixtures parse, contract sizes convert both ways, and a
`-PERP` child makes its round trips through the live executor against the local servers over
real sockets (real nats-server, real vault)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from events.execution import ChildAcked, ChildCancelled, ChildRejected, ChildSubmitted, FillRecorded
from events.graph import NodeCancelled
from events.ids import derive_id, new_event_id
from events.routing import ChildAllocated
from services.bus import Bus
from services.edges.binance.orders import BinanceOrders
from services.edges.binance.private_server import binance_app
from services.edges.bybit.orders import BybitOrders
from services.edges.bybit.private_server import bybit_app
from services.edges.live import venues as live_venues
from services.edges.live.loopback import Account, LoopbackVenue, RunningServer, RateLimited, start_server
from services.edges.live.service import LiveExecutor
from services.edges.okx.orders import Contract, OkxOrders, from_contracts, parse_swap_instruments, to_contracts
from services.edges.okx.private_server import okx_app
from services.edges.sandbox.orders import Acked
from services.edges.transport import OrderState, UnsupportedOrder, VenueReply
from services.vault import Vault
from tests.services.edges.live.test_live_executor import (
    API_KEY,
    PASSPHRASE,
    PX,
    Q,
    SECRET,
    TENANT,
    Ledger,
    Venues,
    child,
    ended,
    executor,  # noqa: F401 - fixture
    ledger,  # noqa: F401 - fixture
    vault,  # noqa: F401 - fixture
    venues,  # noqa: F401 - fixture
)
from tests.shared_fixtures import fixture_json
from services.vault import Credentials

COID = "0b7e5f8e-3f0a-5c1e-9d53-2a3c1e0b7f10"
PERP = "BTC-USDT-PERP"
BTC_SWAP = Contract(Decimal("0.01"), Decimal("0.01"))  # OKX BTC-USDT-SWAP, from its instrument list
PERP_VENUES = ["binance", "okx", "bybit"]


def perp_child(venue: str = "binance", *, tif: str = "ioc", px: int = 50_000 * PX, qty: int = 150_000_000,
               event_id: str | None = None, order_type: str = "limit") -> ChildAllocated:
    event_id = event_id or new_event_id()
    return ChildAllocated(
        event_id=event_id, ts_ns=1, tenant=TENANT, plan_id="plan-1", graph_id="graph-1", node_id="node-1",
        child_id=derive_id("child", event_id), client_order_id=derive_id("coid", event_id), venue=venue,
        symbol=PERP, side="buy", qty_1e8=qty, order_type=order_type, limit_px_1e9=None if order_type == "market" else px,  # type: ignore[arg-type]
        tif=tif, is_sandbox=False,  # type: ignore[arg-type]
    )


# --- pure: fixtures, sizes, request shapes -------------------------------------------------------


def test_usdm_order_reply_fixture_is_an_ack_only_and_its_lookup_an_open_order() -> None:
    doc = fixture_json("venues", "binance_usdm", "http_order_response.json")
    reply = VenueReply(200, json.dumps(doc).encode())
    alloc = perp_child()
    # No fills in a USD-M reply: its fills and end come from userTrades and the lookup.
    assert BinanceOrders().parse_new_order(alloc, reply, now_ns=5) == [
        Acked(alloc.client_order_id, "12345678", 1625474304765 * 10**6)]
    assert BinanceOrders().parse_order_status(alloc, reply, now_ns=5) == OrderState("12345678", True, 0, "new")


def test_okx_swap_instruments_fixture_gives_the_linear_contract_values() -> None:
    contracts = parse_swap_instruments(fixture_json("venues", "okx", "http_get_instruments_swap.json"))
    assert contracts == {"BTC-USDT-SWAP": BTC_SWAP, "ETH-USDT-SWAP": Contract(Decimal("0.1"), Decimal("0.01"))}
    # BTC-USD-SWAP is inverse (100 USD a contract): not a base-coin size, left out.


@pytest.mark.parametrize(("qty_1e8", "contracts"), [(150_000_000, "150"), (1_000_000, "1"), (100_000, "0.1"),
                                                   (10_000, "0.01"), (12_345_000, "12.34" + "5")])
def test_contract_sizes_convert_both_ways(qty_1e8: int, contracts: str) -> None:
    if qty_1e8 == 12_345_000:  # 12.345 contracts is not a whole number of 0.01 lots
        with pytest.raises(UnsupportedOrder, match="lots"):
            to_contracts(qty_1e8, BTC_SWAP)
        return
    assert to_contracts(qty_1e8, BTC_SWAP) == contracts
    assert from_contracts(contracts, BTC_SWAP) == qty_1e8
    eth = Contract(Decimal("0.1"), Decimal("0.01"))
    assert from_contracts(to_contracts(qty_1e8 * 10, eth), eth) == qty_1e8 * 10


def test_perp_requests_go_to_each_venues_perp_api() -> None:
    alloc = perp_child(tif="gtc", qty=Q)
    usdm = BinanceOrders()
    usdm.usdm_host = "https://fapi.binance.com"
    request = usdm.new_order(alloc, Credentials("k", "s"), 1)
    params = dict(parse_qsl(request.body))
    assert (request.url, params["symbol"], params["newOrderRespType"]) == (
        "https://fapi.binance.com/fapi/v1/order", "BTCUSDT", "RESULT")
    assert usdm.fills(alloc, "7", Credentials("k", "s"), 1).url.startswith("https://fapi.binance.com/fapi/v1/userTrades?")
    assert usdm.new_order(perp_child(tif="gtc", qty=Q).__class__(**{**_fields(alloc), "symbol": "BTC-USDT"}),
                          Credentials("k", "s"), 1).url == "/api/v3/order"

    bybit = json.loads(BybitOrders().new_order(perp_child(order_type="market"), Credentials("k", "s"), 1).body)
    assert (bybit["category"], bybit["symbol"], bybit["orderType"]) == ("linear", "BTCUSDT", "Market")
    assert "marketUnit" not in bybit  # linear sizes are always base coins

    okx = OkxOrders()
    with pytest.raises(UnsupportedOrder, match="contract value"):  # the instrument list is read first
        okx.new_order(alloc, Credentials("k", "s", "p"), 1)
    okx.contracts = {"BTC-USDT-SWAP": BTC_SWAP}
    body = json.loads(okx.new_order(alloc, Credentials("k", "s", "p"), 1).body)
    assert (body["instId"], body["tdMode"], body["sz"], body["px"]) == ("BTC-USDT-SWAP", "cross", "100", "50000")


def test_usdm_host_defaults_to_fapi_only_when_spot_goes_to_binance_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CROSSBOOK_BINANCE_USDM_REST_URL", raising=False)
    assert live_venues.usdm_rest_url("https://api.binance.com") == "https://fapi.binance.com"
    assert live_venues.usdm_rest_url("http://127.0.0.1:9") == ""  # a local server speaks both
    monkeypatch.setenv("CROSSBOOK_BINANCE_USDM_REST_URL", "http://127.0.0.1:8")
    assert live_venues.usdm_rest_url("https://api.binance.com") == "http://127.0.0.1:8"


def test_perps_are_live_tradable_where_entry_exists() -> None:
    assert all(live_venues.can_trade(v, PERP) for v in PERP_VENUES)
    assert not live_venues.can_trade("bitmart", PERP)


def _fields(alloc: ChildAllocated) -> dict:
    return {f: getattr(alloc, f) for f in alloc.__struct_fields__}


# --- round trips against the local servers --------------------------------------------------------


class PerpVenues:
    def __init__(self) -> None:
        self.spot: dict[str, LoopbackVenue] = {}
        self.perp: dict[str, LoopbackVenue] = {}
        self.servers: dict[str, RunningServer] = {}

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}


@pytest.fixture
async def perp_venues() -> AsyncIterator[PerpVenues]:
    pv = PerpVenues()
    asks = [("49990.5", "1"), ("50000", "0.2"), ("50001", "3")]
    for name in PERP_VENUES:
        accounts = {API_KEY: Account(SECRET, PASSPHRASE)}
        spot = LoopbackVenue(accounts=accounts)
        spot.set_book("BTCUSDT" if name != "okx" else "BTC-USDT", bids=[("1", "1")], asks=[("1", "1")])
        if name == "okx":  # one state: instIds differ; the swap book is in contracts of 0.01 BTC
            perp, perp_symbol = spot, "BTC-USDT-SWAP"
            perp.contract_values[perp_symbol] = Decimal("0.01")
            perp.set_book(perp_symbol, bids=[("49000", "500")],
                          asks=[(px, str(Decimal(sz) / Decimal("0.01"))) for px, sz in asks])
            app = okx_app(spot)
        else:  # BTCUSDT names both markets: the perp account is its own state, as at the venue
            perp = LoopbackVenue(accounts=accounts)
            perp.set_book("BTCUSDT", bids=[("49000", "5")], asks=asks)
            app = binance_app(spot, usdm=perp) if name == "binance" else bybit_app(spot, linear=perp)
        pv.spot[name], pv.perp[name] = spot, perp
        pv.servers[name] = await start_server(RateLimited(spot, app))
    yield pv
    for server in pv.servers.values():
        await server.stop()


@pytest.fixture
async def perp_executor(bus: Bus, vault: Vault, perp_venues: PerpVenues) -> AsyncIterator[LiveExecutor]:  # noqa: F811
    ex = LiveExecutor(bus, vault, perp_venues.urls, poll_interval_s=0.05)
    await ex.start()
    yield ex
    await ex.stop()


@pytest.mark.parametrize("venue", PERP_VENUES)
async def test_a_perp_ioc_child_fills_at_the_perp_api_and_its_rest_is_cancelled(
    venue: str, bus: Bus, perp_executor: LiveExecutor, perp_venues: PerpVenues, ledger: Ledger  # noqa: F811
) -> None:
    alloc = perp_child(venue)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(ended(ledger, coid))

    assert ledger.of(ChildRejected, coid) == []
    assert len(ledger.of(ChildSubmitted, coid)) == 1
    [ack] = ledger.of(ChildAcked, coid)
    perp = perp_venues.perp[venue]
    [server_order] = [o for o in perp.orders.values() if o.symbol.endswith(("USDT", "SWAP"))
                      and o.client_id == live_venues.ORDERS[venue]().client_id(coid)]
    assert ack.venue_order_id == str(server_order.order_id)
    if venue == "okx":  # sent in contracts of 0.01 BTC
        assert (server_order.symbol, server_order.qty) == ("BTC-USDT-SWAP", Decimal(150))
    else:  # the perp account took it, the spot one saw nothing
        assert not perp_venues.spot[venue].orders
    fills = sorted(ledger.of(FillRecorded, coid), key=lambda f: f.px_1e9)
    assert [(f.symbol, f.qty_1e8, f.px_1e9) for f in fills] == [
        (PERP, 1 * Q, 49_990_500_000_000), (PERP, 20_000_000, 50_000 * PX)]
    assert [f.fee_usd_1e9 for f in fills] == [49_990_500_000, 10 * PX]  # 0.1 % in USDT, contracts counted
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8, end.reason) == (120_000_000, 30_000_000, "ioc_remainder")


@pytest.mark.parametrize("venue", PERP_VENUES)
async def test_a_resting_perp_child_is_cancelled_at_the_perp_api(
    venue: str, bus: Bus, perp_executor: LiveExecutor, perp_venues: PerpVenues, ledger: Ledger  # noqa: F811
) -> None:
    alloc = perp_child(venue, tif="gtc", px=49_500 * PX, qty=Q)
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(lambda: bool(ledger.of(ChildAcked, coid)))
    await bus.publish(NodeCancelled(event_id=new_event_id(), ts_ns=3, tenant=TENANT, graph_id=alloc.graph_id,
                                    node_id=alloc.node_id, reason="user"))
    await ledger.wait(ended(ledger, coid))
    [end] = ledger.of(ChildCancelled, coid)
    assert (end.filled_qty_1e8, end.cancelled_qty_1e8) == (0, Q)
    [server_order] = perp_venues.perp[venue].orders.values() if venue != "okx" else [
        o for o in perp_venues.perp[venue].orders.values() if o.symbol == "BTC-USDT-SWAP"]
    assert (server_order.status, server_order.qty) == ("CANCELED", Decimal(100) if venue == "okx" else Decimal(1))


# --- Hyperliquid market orders: an IOC at the collar ----------------------------------------------


@pytest.mark.parametrize(("side", "collar", "fills"), [
    # mid (49000 + 49990.5) / 2 = 49495.25; +5 % = 51970.0125 -> 51970: takes all three asks
    ("buy", "51970", [(1 * Q, 49_990_500_000_000), (20_000_000, 50_000 * PX), (30_000_000, 50_001 * PX)]),
    # -5 % = 47020.4875 -> 47021 (toward the mid): takes the bid
    ("sell", "47021", [(150_000_000, 49_000 * PX)]),
])
async def test_a_hyperliquid_market_child_is_an_ioc_at_the_collar(
    side: str, collar: str, fills: list[tuple[int, int]],
    bus: Bus, executor: LiveExecutor, venues: Venues, ledger: Ledger,  # noqa: F811
) -> None:
    alloc = child("hyperliquid")
    alloc = ChildAllocated(**{**_fields(alloc), "side": side, "order_type": "market", "limit_px_1e9": None})
    coid = alloc.client_order_id
    await bus.publish(alloc)
    await ledger.wait(lambda: sum(f.qty_1e8 for f in ledger.of(FillRecorded, coid)) == alloc.qty_1e8
                      or bool(ledger.of(ChildRejected, coid)))
    assert ledger.of(ChildRejected, coid) == []
    [server_order] = venues.state["hyperliquid"].orders.values()
    assert (server_order.price, server_order.tif, server_order.side) == (Decimal(collar), "IOC", side.upper())
    assert sorted((f.qty_1e8, f.px_1e9) for f in ledger.of(FillRecorded, coid)) == sorted(fills)
    assert "POST /info" in venues.state["hyperliquid"].requests_seen  # allMids was read for the mid
