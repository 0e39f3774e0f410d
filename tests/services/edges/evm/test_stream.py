"""The running DEX edge as `crossbook edge` starts it with CROSSBOOK_DEX_ETHEREUM_RPC_URL and
_POOLS set: it lists the configured pools itself, publishes a V2 and a V3 pool of one pair under
their protocols' venues with gas, and the same configuration feeds the pools' reference data,
so the router finds both pools among its venue books. A new block's base fee moves the gas."""

from __future__ import annotations

import json

import msgspec
import pytest

from events.market import BookSnapshot, VenueStatusChanged
from projections.market import MarketBooks
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.evm.adapter import DexEthereumAdapter, PoolFeed
from services.edges.evm.devchain import Deployment, Ganache
from services.edges.evm.pools import PoolSpec, Token, V2State
from services.edges.evm.stream import PoolEdgeRunner
from services.edges.evm.venues import feed_configured, gas_quote_1e9
from services.edges.runtime import MemorySink
from services.edges.sandbox.service import SandboxExecutor
from services.edges.venue import BookUpdate, VenueEndpoints
from services.refdata.simulated import simulated
from services.risk import rules_book
from services.sor.books import venue_books

V2, V3 = "uniswap_v2_ethereum", "uniswap_v3_ethereum"


async def test_the_configured_edge_publishes_both_pool_venues_and_the_router_sees_them(
    ganache_chain: tuple[Ganache, Deployment], monkeypatch: pytest.MonkeyPatch,
) -> None:
    node, d = ganache_chain
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_RPC_URL", node.url)
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_POOLS", f"v2:{d.v2_pair}:{d.token_a}:ETH-USDT,v3:{d.v3_pool}:{d.token_a}:ETH-USDT")
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_BLOCK_TIME_MS", "2000")
    adapter = DexEthereumAdapter(VenueEndpoints(node.ws_url, node.url))
    symbols = adapter.configured_symbols()  # what run_edge does when no symbols are configured
    assert sorted(symbols) == sorted([d.v2_pair.lower(), d.v3_pool.lower()])
    sink = MemorySink()
    runner = adapter.make_runner(symbols, sink)
    assert isinstance(runner, PoolEdgeRunner)
    await runner.start()
    try:
        await runner.wait_until(lambda r: all(not r.books[s].stale for s in symbols), timeout=30)
    finally:
        await runner.stop()
    snaps = [e for e in sink.events if isinstance(e, BookSnapshot)]
    assert {(e.venue, e.symbol) for e in snaps} == {(V2, "ETH-USDT"), (V3, "ETH-USDT")}
    assert all(e.order_cost_quote_1e9 > 0 for e in snaps)
    statuses = [e for e in sink.events if isinstance(e, VenueStatusChanged)]
    assert statuses and {e.venue for e in statuses} == {V2, V3}  # nothing under the connection's id

    data = simulated()
    listings = feed_configured(data)
    assert {x.venue for x in listings} == {V2, V3}
    assert data.wait_cost_ppm(V2) == data.wait_cost_ppm(V3) == 61  # a 2 s block at ETH's volatility
    monkeypatch.setattr("services.refdata._current", data)
    books = MarketBooks()
    for event in sink.events:
        books.apply(event)
    vbooks = {b.venue: b for b in venue_books(books, rules_book(data.instrument_rules()), "ETH-USDT", "buy",
                                              qty_1e8=10**8)}
    assert set(vbooks) == {V2, V3}
    assert all(b.taker_fee_ppm > 61 for b in vbooks.values())  # gas and the block's wait as a fee


def _adapter(gas_price_wei: int, priority_fee_wei: int) -> DexEthereumAdapter:
    weth, usdc = Token("0x" + "11" * 20, "WETH", 18), Token("0x" + "22" * 20, "USDC", 6)
    spec = PoolSpec("v2", "0x" + "33" * 20, weth, usdc, base_is_token0=True)
    return DexEthereumAdapter(feeds=[PoolFeed(spec, V2State(1000 * 10**18, 2_000_000 * 10**6))],
                              gas_price_wei=gas_price_wei, priority_fee_wei=priority_fee_wei)


def _head(number: int, base_fee: int) -> str:
    return json.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": {
        "subscription": "0x2", "result": {"number": hex(number), "baseFeePerGas": hex(base_fee),
                                          "parentHash": "0x" + "00" * 32}}})


def test_a_new_base_fee_republishes_the_pools_with_their_new_gas() -> None:
    adapter = _adapter(gas_price_wei=11 * 10**9, priority_fee_wei=10**9)
    (update,) = adapter.parse(_head(7, 20 * 10**9))
    assert isinstance(update, BookUpdate) and update.snapshot and update.seq == 7_000_000
    assert adapter.gas_price_wei == 21 * 10**9
    snap = adapter.pool_snapshot(update.symbol, update.seq, ts_ns=1)
    assert snap.venue == V2 and snap.symbol == "WETH-USDC"
    mid = (snap.bids[0][0] + snap.asks[0][0]) // 2
    assert snap.order_cost_quote_1e9 == gas_quote_1e9(100_000, 21 * 10**9, mid)
    # about 0.0021 ETH at ~2000 USDC: ~4.2 USDC
    assert 4 * 10**9 < snap.order_cost_quote_1e9 < 5 * 10**9
    # the same base fee again moves nothing: no book is republished
    assert not [p for p in adapter.parse(_head(8, 20 * 10**9)) if isinstance(p, BookUpdate)]


def test_a_v2_and_a_v3_pool_of_one_pair_are_two_venues_but_two_v2_pools_are_refused() -> None:
    adapter = _adapter(0, 0)
    v2 = next(iter(adapter.feeds.values()))
    v3_spec = PoolSpec("v3", "0x" + "44" * 20, v2.spec.token0, v2.spec.token1, True, fee_pips=500)
    adapter.add(PoolFeed(v3_spec, v2.state))
    assert {x.venue for x in adapter.listings()} == {V2, V3}
    with pytest.raises(ValueError):
        adapter.add(PoolFeed(PoolSpec("v2", "0x" + "55" * 20, v2.spec.token0, v2.spec.token1, True), v2.state))


def test_gas_of_a_pool_without_the_native_asset_is_priced_from_a_weth_pool_of_its_quote() -> None:
    adapter = _adapter(10 * 10**9, 0)
    weth_pool = next(iter(adapter.feeds.values()))
    uni = Token("0x" + "66" * 20, "UNI", 18)
    spec = PoolSpec("v2", "0x" + "77" * 20, uni, weth_pool.spec.token1, True)
    adapter.add(PoolFeed(spec, V2State(100_000 * 10**18, 1_000_000 * 10**6)))  # UNI at ~10 USDC
    snap = adapter.pool_snapshot(spec.address, None, ts_ns=1)
    eth_px = adapter.native_px_1e9(adapter.feeds[spec.address.lower()])
    assert eth_px is not None and 1990 * 10**9 < eth_px < 2010 * 10**9
    assert snap.order_cost_quote_1e9 == gas_quote_1e9(100_000, 10 * 10**9, eth_px)


async def test_the_sandbox_executor_skips_the_dex_edges_market_data(bus: Bus) -> None:
    # dex_ethereum is an edge (its connection status is md) with no fee schedule: the sandbox
    # must not try to build a simulated venue for it (it raised UnknownFeeVenue on every event).
    executor = SandboxExecutor(as_writer(bus, "executor"))
    status = VenueStatusChanged(event_id="s1", ts_ns=1, venue="dex_ethereum", state="connected")
    executor.on_md(status, 1)
    assert "dex_ethereum" not in executor.venues and "dex_ethereum" not in executor.known_venues
    executor.on_md(msgspec.structs.replace(status, event_id="s2", venue="binance"), 2)
    assert "binance" in executor.venues
