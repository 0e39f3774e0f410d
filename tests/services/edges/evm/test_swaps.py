"""Swaps end to end over JSON-RPC against a ganache node running the published Uniswap V2/V3
contracts: the edge signs with a wallet key, the node estimates gas, assigns nonces and returns
receipts; receipts become fills; a swap whose bound cannot be met is one rejected child."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from events.execution import ChildAcked, ChildRejected, ChildSubmitted, FillRecorded
from services.edges.evm import chain, v3math
from services.edges.evm.devchain import Deployment, Ganache, contract
from services.edges.evm.executor import Routers, SignedSwap, SwapExecutor
from services.edges.evm.pools import PoolSpec

FUND = 5_000_000 * 10**18


@pytest.fixture(scope="module")
def setup(ganache_chain: tuple[Ganache, Deployment]) -> Iterator[tuple[Web3, Deployment, SwapExecutor]]:
    node, d = ganache_chain
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
    wallet = Account.from_key(keccak(b"crossbook dex swap test wallet"))
    me = d.deployer
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": me, "to": wallet.address, "value": 10**20}))
    for tok in (d.token_a, d.token_b):
        fn = contract(w3, "ERC20", tok).functions.transfer(wallet.address, FUND)
        w3.eth.wait_for_transaction_receipt(fn.transact({"from": me}))
    yield w3, d, SwapExecutor(w3, wallet, Routers(v2=d.v2_router, v3=d.swap_router), venue="dex_ethereum")


def child(n: int, side: str, qty_1e8: int, symbol: str) -> ChildSubmitted:
    return ChildSubmitted(
        event_id=f"ev-{n}", ts_ns=1, tenant="t1", child_id=f"c-{n}", client_order_id=f"co-{n}", graph_id="g",
        node_id="n", venue="dex_ethereum", symbol=symbol, side=side, qty_1e8=qty_1e8, limit_px_1e9=None,  # type: ignore[arg-type]
    )


def balances(w3: Web3, spec: PoolSpec, who: str) -> tuple[int, int]:
    return (chain.erc20(w3, spec.base.address).functions.balanceOf(who).call(),
            chain.erc20(w3, spec.quote.address).functions.balanceOf(who).call())


def move_pool(w3: Web3, d: Deployment, amount: int) -> None:
    """Someone else sells `amount` token0 into both pools (moves both prices down)."""
    me = d.deployer
    r2 = contract(w3, "UniswapV2Router02", d.v2_router)
    w3.eth.wait_for_transaction_receipt(r2.functions.swapExactTokensForTokens(
        amount, 0, [d.token_a, d.token_b], me, 2**32).transact({"from": me, "gas": 500_000}))
    r3 = contract(w3, "SwapRouter", d.swap_router)
    for tok in (d.token_a, d.token_b):
        w3.eth.wait_for_transaction_receipt(
            contract(w3, "ERC20", tok).functions.approve(d.swap_router, 2**255).transact({"from": me}))
    w3.eth.wait_for_transaction_receipt(r3.functions.exactInputSingle(
        (d.token_a, d.token_b, d.v3_fee, me, 2**32, amount, 0, 0)).transact({"from": me, "gas": 1_000_000}))


def test_v2_sell_fills_and_reserves_agree(setup: tuple[Web3, Deployment, SwapExecutor]) -> None:
    w3, d, ex = setup
    spec = chain.discover(w3, "v2", d.v2_pair, base=d.token_a)
    before = chain.read_v2(w3, spec)
    wallet_before = balances(w3, spec, ex.address)
    expected = before.exact_in(spec.base_is_token0, 3 * 10**18)
    events = ex.execute(child(1, "sell", 3 * 10**8, spec.symbol), spec, before, max_slippage_bps=50)
    assert [type(e) for e in events] == [ChildAcked, FillRecorded]
    fill = events[1]
    assert isinstance(fill, FillRecorded)
    assert fill.qty_1e8 == 3 * 10**8 and fill.venue == "dex_ethereum" and fill.side == "sell"
    assert fill.px_1e9 == expected * 10**9 // (3 * 10**18)  # the pool paid exactly the quote
    assert fill.fee_asset == "ETH" and fill.fee_qty_1e8 > 0  # gas, from the receipt
    after = chain.read_v2(w3, spec)
    wallet_after = balances(w3, spec, ex.address)
    # the ledger (fill) and the pool agree: base in, quote out, to the wei
    assert wallet_before[0] - wallet_after[0] == 3 * 10**18
    assert wallet_after[1] - wallet_before[1] == expected
    r_base = (after.reserve0 - before.reserve0) if spec.base_is_token0 else (after.reserve1 - before.reserve1)
    r_quote = (before.reserve1 - after.reserve1) if spec.base_is_token0 else (before.reserve0 - after.reserve0)
    assert (r_base, r_quote) == (3 * 10**18, expected)


def test_v3_buy_exact_output_within_bound(setup: tuple[Web3, Deployment, SwapExecutor]) -> None:
    w3, d, ex = setup
    spec = chain.discover(w3, "v3", d.v3_pool, base=d.token_a)
    state = chain.read_v3(w3, spec)
    assert spec.base_is_token0  # buying base = buying token0: the price moves up
    # enough base to take the pool past the next initialized tick above, whatever ran before
    pool = state.pool
    upper = min(t for t in pool.liquidity_net if t > pool.tick)
    to_cross = v3math.amount0_delta(pool.sqrt_price_x96, v3math.sqrt_ratio_at_tick(upper), pool.liquidity, False)
    qty_1e8 = to_cross // 10**10 + 5 * 10**8
    raw = qty_1e8 * 10**10
    cost = state.exact_out(False, raw)
    nonce = w3.eth.get_transaction_count(ex.account.address)
    quote_before = balances(w3, spec, ex.address)[1]
    events = ex.execute(child(2, "buy", qty_1e8, spec.symbol), spec, state, max_slippage_bps=30)
    assert [type(e) for e in events] == [ChildAcked, FillRecorded]
    fill = events[1]
    assert isinstance(fill, FillRecorded) and fill.qty_1e8 == qty_1e8
    assert quote_before - balances(w3, spec, ex.address)[1] == cost  # paid exactly the edge's quote
    assert fill.px_1e9 == -(-cost * 10**9 // raw)
    # the pool's new price, tick and liquidity are what the edge's swap loop predicted
    predicted = v3math.swap(state.pool, False, -raw)
    now = chain.read_v3(w3, spec).pool
    assert (now.sqrt_price_x96, now.tick, now.liquidity) == (predicted.sqrt_price_x96, predicted.tick, predicted.liquidity)
    assert predicted.liquidity != state.pool.liquidity  # it crossed an initialized tick
    # approval once: the quote token's approval plus the swap (the next swap sends only itself)
    assert w3.eth.get_transaction_count(ex.account.address) == nonce + 2
    events = ex.execute(child(3, "buy", 10**8, spec.symbol), spec, chain.read_v3(w3, spec), max_slippage_bps=30)
    assert isinstance(events[-1], FillRecorded)
    assert w3.eth.get_transaction_count(ex.account.address) == nonce + 3


def test_reverted_swap_is_one_rejected_child(setup: tuple[Web3, Deployment, SwapExecutor]) -> None:
    w3, d, ex = setup
    for kind, address in (("v2", d.v2_pair), ("v3", d.v3_pool)):
        spec = chain.discover(w3, kind, address, base=d.token_a)  # type: ignore[arg-type]
        state = chain.read_state(w3, spec)
        n = 10 if kind == "v2" else 20
        built = ex.build(child(n, "sell", 2 * 10**8, spec.symbol), spec, state, max_slippage_bps=10)
        assert isinstance(built, SignedSwap)  # signed while the pool still matched the quote
        move_pool(w3, d, 200 * 10**18)  # the price drops past the 10 bp bound before it lands
        base_before = balances(w3, spec, ex.address)[0]
        events = ex.submit(built)
        assert [type(e) for e in events] == [ChildAcked, ChildRejected]
        rejected = events[1]
        assert isinstance(rejected, ChildRejected) and rejected.code == "reverted"
        assert ex.submit(built) == []  # reported once, never resent
        assert balances(w3, spec, ex.address)[0] == base_before  # nothing swapped
        receipt = w3.eth.get_transaction_receipt(built.tx_hash)  # type: ignore[arg-type]
        assert receipt["status"] == 0
        # a stale quote the node already refuses at estimation is rejected without sending
        nonce = w3.eth.get_transaction_count(ex.account.address)
        events2 = ex.execute(child(n + 1, "sell", 2 * 10**8, spec.symbol), spec, state, max_slippage_bps=0)
        assert [type(e) for e in events2] == [ChildRejected]
        assert isinstance(events2[0], ChildRejected) and events2[0].code == "would_revert"
        assert w3.eth.get_transaction_count(ex.account.address) == nonce


def test_restart_between_send_and_receipt_ends_with_one_fill(setup: tuple[Web3, Deployment, SwapExecutor]) -> None:
    w3, d, ex = setup
    spec = chain.discover(w3, "v2", d.v2_pair, base=d.token_a)
    built = ex.build(child(30, "sell", 10**8, spec.symbol), spec, chain.read_v2(w3, spec), max_slippage_bps=50)
    assert isinstance(built, SignedSwap)
    base_before = balances(w3, spec, ex.address)[0]
    w3.eth.send_raw_transaction(built.raw_tx)  # sent; then the process dies before the receipt
    restarted = SwapExecutor(w3, ex.account, ex.routers, venue="dex_ethereum")
    events = restarted.resume(built.child, spec, built.tx_hash, built.bound)
    assert [type(e) for e in events] == [FillRecorded]
    fill = events[0]
    assert isinstance(fill, FillRecorded) and fill.qty_1e8 == 10**8 and fill.venue_order_id == built.tx_hash
    assert restarted.resume(built.child, spec, built.tx_hash) == []  # once
    assert base_before - balances(w3, spec, ex.address)[0] == 10**18  # exactly one swap
    # a swap signed but never sent before the crash: its nonce is unused, so nothing can run
    unsent = ex.build(child(31, "sell", 10**8, spec.symbol), spec, chain.read_v2(w3, spec), max_slippage_bps=50)
    assert isinstance(unsent, SignedSwap)
    again = SwapExecutor(w3, ex.account, ex.routers, venue="dex_ethereum").resume(unsent.child, spec, unsent.tx_hash)
    assert [(type(e), getattr(e, "code", "")) for e in again] == [(ChildRejected, "not_sent")]
    assert balances(w3, spec, ex.address)[0] == base_before - 10**18


def test_fill_waits_for_confirmations(setup: tuple[Web3, Deployment, SwapExecutor]) -> None:
    """With 2 confirmations the fill comes only once a block lands on top of the swap's."""
    w3, d, ex = setup
    spec = chain.discover(w3, "v2", d.v2_pair, base=d.token_a)
    confirming = SwapExecutor(w3, ex.account, ex.routers, venue="dex_ethereum", confirmations=2)
    built = confirming.build(child(40, "sell", 10**8, spec.symbol), spec, chain.read_v2(w3, spec), max_slippage_bps=50)
    assert isinstance(built, SignedSwap)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        done = pool.submit(confirming.submit, built)
        receipt = w3.eth.wait_for_transaction_receipt(built.tx_hash, timeout=30)  # type: ignore[arg-type]
        # mined, but nothing on top of it yet: the fill cannot have been reported
        assert w3.eth.block_number == receipt["blockNumber"] and not done.done()
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        events = done.result(timeout=30)
    assert [type(e) for e in events] == [ChildAcked, FillRecorded]
