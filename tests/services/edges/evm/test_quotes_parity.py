"""The edge's integer quotes equal the contracts' own: UniswapV2Router02.getAmountsOut/In and
QuoterV2.quoteExactInputSingle/OutputSingle, both directions, from dust to most of the pool,
with the pool state read over RPC by the edge's own reader (py-evm via eth-tester)."""

from __future__ import annotations

import pytest
from web3 import Web3

from services.edges.evm import chain
from services.edges.evm.devchain import Deployment, contract
from services.edges.evm.pools import V2State, V3State, pool_book


def _sizes(balance: int) -> list[int]:
    # dust (1 wei), small, then large shares of what the pool holds (py-evm quoter calls are slow)
    return [1, 10**15, balance // 100, balance // 4, balance * 9 // 10]


def test_v2_quotes_equal_router(tester_chain: tuple[Web3, Deployment]) -> None:
    w3, d = tester_chain
    spec = chain.discover(w3, "v2", d.v2_pair, base=d.token_a)
    state = chain.read_state(w3, spec)
    assert isinstance(state, V2State)
    router = contract(w3, "UniswapV2Router02", d.v2_router)
    for zero_for_one, path, reserve_out in ((True, [d.token_a, d.token_b], state.reserve1),
                                            (False, [d.token_b, d.token_a], state.reserve0)):
        for size in _sizes(reserve_out):
            assert state.exact_in(zero_for_one, size) == router.functions.getAmountsOut(size, path).call()[1]
            assert state.exact_out(zero_for_one, size) == router.functions.getAmountsIn(size, path).call()[0]


def test_v3_quotes_equal_quoter_v2(tester_chain: tuple[Web3, Deployment]) -> None:
    w3, d = tester_chain
    spec = chain.discover(w3, "v3", d.v3_pool, base=d.token_a)
    state = chain.read_state(w3, spec)
    assert isinstance(state, V3State)
    assert len(state.pool.liquidity_net) == 6  # three positions: swaps below cross initialized ticks
    quoter = contract(w3, "QuoterV2", d.quoter)
    crossed = 0
    for zero_for_one, tin, tout in ((True, d.token_a, d.token_b), (False, d.token_b, d.token_a)):
        held = chain.erc20(w3, tout).functions.balanceOf(d.v3_pool).call()
        for size in _sizes(held):
            out, _, ticks, _ = quoter.functions.quoteExactInputSingle((tin, tout, size, d.v3_fee, 0)).call()
            assert state.exact_in(zero_for_one, size) == out, (zero_for_one, size)
            try:
                need, _, ticks, _ = quoter.functions.quoteExactOutputSingle((tin, tout, size, d.v3_fee, 0)).call()
            except Exception:  # the quoter reverts when the pool cannot pay that much
                with pytest.raises(Exception):
                    state.exact_out(zero_for_one, size)
                continue
            assert state.exact_out(zero_for_one, size) == need, (zero_for_one, size)
            crossed = max(crossed, ticks)
    assert crossed >= 2  # the large sizes really walked across ticks


def test_pool_books_from_chain_state(tester_chain: tuple[Web3, Deployment]) -> None:
    """The books of both pools at ~2000 B per A: asks above bids, deeper V3 tighter near mid."""
    w3, d = tester_chain
    sizes = [10**k for k in range(4, 12)]  # 0.0001 to 1000 A (qty_1e8)
    books = {}
    for kind, address in (("v2", d.v2_pair), ("v3", d.v3_pool)):
        spec = chain.discover(w3, kind, address, base=d.token_a)  # type: ignore[arg-type]
        assert spec.symbol in ("TKA-TKB", "TKB-TKA")  # token_a is token0, whichever got the lower address
        books[kind] = pool_book("dex_ethereum", spec, chain.read_state(w3, spec), sizes, chain.gas_price(w3))
    for book in books.values():
        assert 1900 * 10**9 < book.bids[0][0] < book.asks[0][0] < 2100 * 10**9
        assert book.gas_price_wei > 0
    assert books["v3"].asks[0][0] - books["v3"].bids[0][0] <= books["v2"].asks[0][0] - books["v2"].bids[0][0]
