"""Pool legs in the router: a pool's equivalent book (exact V2 math, gas on the snapshot) goes
through the market projection and the reference data like any venue's, and competes with a CEX
book on net cost (price + pool fee in the levels + gas per swap + the expected adverse move
while the swap waits for its block)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from events.graph import ExecutionSpec, GraphSubmitted, Instrument, NodeSpec
from events.market import BookSnapshot
from projections.market import MarketBooks
from services.edges.evm.pools import PoolSpec, Token, V2State, buy_cost_raw
from services.edges.evm.venues import Listing, book_snapshot, feed_refdata, gas_quote_1e9
from services.refdata import instrument_rules, reference_data
from services.risk import rules_book
from services.sor import plan_order
from services.sor.books import DEFAULT_LATENCY_NS, venue_books
from services.sor.config import ROUTER_PARAMS
from services.sor.cost import block_wait_ppm
from services.sor.policy import RoutingPolicy

U, P = 10**8, 10**9
SYMBOL = "ETH-USDT"
WETH, USDT = Token("0x0000000000000000000000000000000000000001", "WETH", 18), \
    Token("0x0000000000000000000000000000000000000002", "USDT", 6)
POOL = Listing(PoolSpec(kind="v2", address="0x00000000000000000000000000000000000000aa", token0=WETH, token1=USDT,
                        base_is_token0=True), SYMBOL)
STATE = V2State(reserve0=1_000 * 10**18, reserve1=2_000_000 * 10**6)  # 2000 USDT per ETH
GWEI = 10**9


@pytest.fixture
def pool_refdata() -> Iterator[None]:
    data = reference_data()
    feed_refdata(data, [POOL], block_time_ns=0)  # a local chain mines each transaction at once
    try:
        yield
    finally:
        data.feed(POOL.venue, [], None)  # the process's reference data as it was


def cex(asks: list[tuple[int, int]]) -> BookSnapshot:
    return BookSnapshot(event_id="cex-1", ts_ns=1, venue="binance", symbol=SYMBOL,
                        bids=[(1_990 * P, 100 * U)], asks=asks)


def market(gas_price_wei: int, cex_asks: list[tuple[int, int]]) -> MarketBooks:
    books = MarketBooks()
    books.apply(cex(cex_asks))
    books.apply(book_snapshot(POOL, STATE, gas_price_wei=gas_price_wei, ts_ns=2))
    return books


def test_pool_levels_are_market_data_under_their_venue(pool_refdata: None) -> None:
    snap = book_snapshot(POOL, STATE, gas_price_wei=20 * GWEI, ts_ns=5)
    assert snap.venue == "uniswap_v2_ethereum" and snap.symbol == SYMBOL
    # gas of one swap in quote at the pool's own mid: 100k gas x 20 gwei x ~2000 = ~4 USDT
    mid = (snap.bids[0][0] + snap.asks[0][0]) // 2
    assert snap.order_cost_quote_1e9 == gas_quote_1e9(100_000, 20 * GWEI, mid)
    assert 3_990_000_000 <= snap.order_cost_quote_1e9 <= 4_020_000_000
    # walking the asks to a quoted size costs what the pair's own math charges (to a tick)
    qty = 10 * U
    walked, left = 0, qty
    for px, q in snap.asks:
        take = min(q, left)
        walked, left = walked + px * take, left - take
        if not left:
            break
    exact = buy_cost_raw(POOL.spec, STATE, qty) * 10**3 * U  # raw 1e-6 USDT -> px_1e9 * qty_1e8
    assert exact <= walked <= exact + len(snap.asks) * U
    books = market(20 * GWEI, [(2_010 * P, U)])
    nbbo = books.nbbo(SYMBOL)
    assert nbbo is not None and nbbo.ask_venue == nbbo.bid_venue == "uniswap_v2_ethereum"  # the pool is inside
    _, asks = books.consolidated(SYMBOL, 50)
    assert {v for _, _, v in asks} == {"binance", "uniswap_v2_ethereum"}
    assert books.by_symbol[SYMBOL]["uniswap_v2_ethereum"].order_cost_quote_1e9 == snap.order_cost_quote_1e9


def test_a_buy_whose_best_net_cost_is_split_takes_the_cex_and_the_pool(pool_refdata: None) -> None:
    # The CEX has one ETH cheaper than the pool after its 10 bp fee, then a wall far above.
    books = market(10 * GWEI, [(2_001 * P, U), (2_100 * P, 100 * U)])
    rules = rules_book(instrument_rules())
    vb = venue_books(books, rules, SYMBOL, "buy", qty_1e8=4 * U)
    pool = next(b for b in vb if b.venue == "uniswap_v2_ethereum")
    gas = books.by_symbol[SYMBOL]["uniswap_v2_ethereum"].order_cost_quote_1e9
    # gas charged as a fee over the notional of the whole order at the pool (about 4 x 2009 USDT)
    assert pool.taker_fee_ppm == -(-gas * 1_000_000 // (sum(px * q for px, q in _take(pool.levels, 4 * U)) // U))
    assert pool.latency_ns == DEFAULT_LATENCY_NS and pool.min_qty_1e8 > 0
    plan = plan_order("buy", 4 * U, vb, arrival_mid_px_1e9=2_000 * P, params=ROUTER_PARAMS)
    legs = {a.venue: a.qty_1e8 for a in plan.allocations if a.qty_1e8}
    assert legs["binance"] == U and legs["uniswap_v2_ethereum"] == 3 * U
    assert plan.filled_qty_1e8 == 4 * U


def test_gas_that_would_eat_the_trade_keeps_the_order_on_the_cex(pool_refdata: None) -> None:
    books = market(50_000 * GWEI, [(2_001 * P, U), (2_100 * P, 100 * U)])  # 10,000 USDT a swap
    vb = venue_books(books, rules_book(instrument_rules()), SYMBOL, "buy", qty_1e8=4 * U)
    assert [b.venue for b in vb] == ["binance"]


def test_a_blocks_wait_is_the_expected_adverse_move_over_it() -> None:
    # ETH at 107 ppm/sqrt(s): 107 x sqrt(12) / sqrt(2 pi) = 147.9 -> 148 ppm; sqrt(2): 60.4 -> 61
    assert block_wait_ppm(12 * 10**9, 107) == 148
    assert block_wait_ppm(2 * 10**9, 107) == 61
    assert block_wait_ppm(0, 107) == 0 and block_wait_ppm(12 * 10**9, 0) == 0
    # four times the wait, twice the cost (a diffusion), where ppm/ms would charge four times
    assert block_wait_ppm(48 * 10**9, 107) in (2 * 148 - 1, 2 * 148)


@pytest.mark.parametrize(("block_s", "winner"), [(12, "binance"), (2, "uniswap_v2_ethereum")])
def test_the_block_wait_decides_between_a_pool_and_a_cex_by_chain(pool_refdata: None, block_s: int,
                                                                  winner: str) -> None:
    """A pool 100 ppm cheaper than the CEX (after the CEX's fee, no gas): an L2's 2 s block
    (61 ppm) leaves it cheaper, mainnet's 12 s (148 ppm) does not. Under the router's linear
    5 ppm/ms the 2 s block alone would have cost 1 % and the 12 s one 6 %."""
    feed_refdata(reference_data(), [POOL], block_time_ns=block_s * 10**9, vol_ppm_per_sqrt_s=107)
    books = market(0, [(2_004_220_000_000, 100 * U)])  # 2006.021 (pool's first level) x 1.0001 / 1.001
    vb = venue_books(books, rules_book(instrument_rules()), SYMBOL, "buy", qty_1e8=10**5)
    pool = next(b for b in vb if b.venue == "uniswap_v2_ethereum")
    assert pool.levels[0][0] == 2_006_021_000_000
    assert pool.taker_fee_ppm == block_wait_ppm(block_s * 10**9, 107)
    assert pool.latency_ns == DEFAULT_LATENCY_NS  # the submission's round trip, as for the CEX
    plan = plan_order("buy", 10**5, vb, arrival_mid_px_1e9=2_000 * P, params=ROUTER_PARAMS)
    assert {a.venue for a in plan.allocations if a.qty_1e8} == {winner}
    assert plan.filled_qty_1e8 == 10**5


def test_the_chain_wait_comes_from_the_environment(pool_refdata: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_BLOCK_TIME_MS", "2000")
    monkeypatch.setenv("CROSSBOOK_DEX_ETHEREUM_VOL_PPM_PER_SQRT_S", "214")
    feed_refdata(reference_data(), [POOL])
    assert reference_data().wait_cost_ppm(POOL.venue) == block_wait_ppm(2 * 10**9, 214) == 121
    monkeypatch.delenv("CROSSBOOK_DEX_ETHEREUM_BLOCK_TIME_MS")
    monkeypatch.delenv("CROSSBOOK_DEX_ETHEREUM_VOL_PPM_PER_SQRT_S")
    feed_refdata(reference_data(), [POOL])  # Ethereum's 12 s slot, ETH's long-run volatility
    assert reference_data().wait_cost_ppm(POOL.venue) == 148


def test_the_policy_routes_a_leg_to_the_pool_and_never_rests_there(pool_refdata: None) -> None:
    books = market(10 * GWEI, [(2_001 * P, U), (2_100 * P, 100 * U)])
    policy = RoutingPolicy(market=books, rules=rules_book(instrument_rules()))
    node = NodeSpec(node_id="n1", instrument=Instrument(symbol=SYMBOL), side="buy", qty_1e8=8 * U,
                    limit_px_1e9=2_030 * P, execution=ExecutionSpec(policy="sweep", tif="gtc"))
    graph = GraphSubmitted(event_id="g-ev", ts_ns=1, tenant="t1", graph_id="g1", nodes=[node], edges=[],
                           is_sandbox=True, body_sha256="x")
    _, plan, _ = policy.plan(node, node.qty_1e8, graph)
    assert plan is not None and {a.venue for a in plan.allocations if a.qty_1e8} == {"binance", "uniswap_v2_ethereum"}
    assert plan.unroutable_qty_1e8 > 0  # the pool's price passes the limit before 8 ETH
    books_ = venue_books(books, policy.rules, SYMBOL, "buy", qty_1e8=8 * U)
    resting = policy.resting_part(node, books_, plan)
    assert resting is not None and resting[0] == "binance"  # a pool only swaps: the rest rests on the CEX


def _take(levels: list[tuple[int, int]] | tuple[tuple[int, int], ...], qty: int) -> list[tuple[int, int]]:
    out, left = [], qty
    for px, q in levels:
        take = min(q, left)
        out.append((px, take))
        left -= take
        if not left:
            break
    return out
