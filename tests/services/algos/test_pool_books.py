"""PoolBooks at its documented offset (0x14000): the on-chain pools among an NBBO's venues, with
their PoolMeta, as a guest reads them inside `algo_on_nbbo`; pool_ct 0 when there are none."""

from __future__ import annotations

import wasmtime

from events.market import BookSnapshot
from projections.market import MarketBooks
from services.algos import abi
from services.algos.bridge import protocol_id
from services.algos.host import AlgoInstance
from services.algos.module import load_module
from services.algos.runner import nbbo_input
from services.edges.evm.pools import PoolSpec, Token, V2State
from services.edges.evm.venues import Listing, book_snapshot

# Reports (100 + pool_ct: an order id 0 is skipped, pool 0's best ask, venue_id * 1e6 + protocol_id * 1e5 + gas_cost_1e5).
GUEST = """
(module
  (memory (export "memory") 4)
  (func (export "algo_alloc") (param $n i32) (result i32) (i32.const 0x30000))
  (func (export "algo_on_book") (param $b i32) (param $s i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 0)) (i32.const 0x2F000))
  (func (export "algo_on_nbbo") (param $n i32) (param $s i32) (result i32)
    (i32.store (i32.const 0x2F000) (i32.const 1))
    (i64.store (i32.const 0x2F008) (i64.add (i64.const 100) (i64.extend_i32_u (i32.load8_u (i32.const 0x14000)))))
    (i64.store (i32.const 0x2F010) (i64.load (i32.const 0x14748)))   ;; 0x14000 + 1544 + 320: asks[0].px
    (i64.store (i32.const 0x2F018)
      (i64.add (i64.add
        (i64.mul (i64.extend_i32_u (i32.load8_u (i32.const 0x1402C))) (i64.const 1000000))  ;; venue_id @8+36
        (i64.mul (i64.extend_i32_u (i32.load8_u (i32.const 0x1402D))) (i64.const 100000)))  ;; protocol_id @8+37
        (i64.extend_i32_u (i32.load16_u (i32.const 0x1402E)))))                             ;; gas_cost_1e5 @8+38
    (i32.store (i32.const 0x2F020) (i32.const 1))
    (i32.store (i32.const 0x2F024) (i32.const 0))
    (i32.const 0x2F000)))
"""
SYMBOL = "ETH-USDT"
POOL = Listing(PoolSpec(kind="v3", address="0x00000000000000000000000000000000000000aa",
                        token0=Token("0x01", "WETH", 18), token1=Token("0x02", "USDT", 6), base_is_token0=True), SYMBOL)


def test_the_layout_is_the_documented_one() -> None:
    assert abi.POOL_META.size == abi.POOL_META_SIZE == 48
    assert abi.POOL_BOOKS_SIZE == 22_536  # ends 0x19808, before OnlineFeatures at 0x1A000
    assert abi.POOL_BOOKS_OFFSET + abi.POOL_BOOKS_SIZE <= abi.FEATURES_OFFSET


def test_a_pool_in_the_nbbo_is_in_pool_books_with_its_meta(engine: wasmtime.Engine) -> None:
    # A V2-priced pool listed as the V3 venue is enough here: the layout is what is tested.
    snap = book_snapshot(POOL, V2State(1_000 * 10**18, 2_000_000 * 10**6), gas_price_wei=20 * 10**9, ts_ns=7)
    books = MarketBooks()
    books.apply(snap)
    books.apply(BookSnapshot(event_id="c", ts_ns=8, venue="binance", symbol=SYMBOL, bids=[(1_990 * 10**9, 10**8)],
                             asks=[(2_010 * 10**9, 10**8)]))
    consolidated = books.nbbo(SYMBOL)
    assert consolidated is not None
    nbbo = nbbo_input(books, consolidated.venues, SYMBOL, recv_ns=9, symbol_id=1)
    assert [(v, gas) for v, gas, _ in nbbo.pools] == [("uniswap_v3_ethereum", snap.order_cost_quote_1e9)]
    _, gas, book = nbbo.pools[0]
    meta = abi.PoolMeta(venue="uniswap_v3_ethereum", protocol_id=protocol_id("uniswap_v3_ethereum"),
                        gas_cost_1e5=gas // 10**4)
    inst = AlgoInstance(load_module(engine, GUEST))
    with_pool = abi.NbboSnapshot(venues=(), recv_ns=9, pools=((meta, abi.Book(bids=tuple(book.bids),
                                                                               asks=tuple(book.asks), recv_ns=7)),))
    action = inst.on_nbbo(with_pool, abi.AlgoState()).actions[0]
    assert action.order_id == 101 and action.px_1e9 == snap.asks[0][0]
    # venue 46, protocol 2 (uniswap_v3), gas about 4 USDT = 400,000 x 1e-5: capped at the u16's 65535
    assert action.qty_1e8 == 46 * 1_000_000 + 2 * 100_000 + 65_535
    # the next NBBO without pools: pool_ct 0
    assert inst.on_nbbo(abi.NbboSnapshot(venues=(), recv_ns=10), abi.AlgoState()).actions[0].order_id == 100
