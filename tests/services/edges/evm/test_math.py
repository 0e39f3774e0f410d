"""V2/V3 integer math against the published vectors (v2-core, v3-core test suites) and against
properties the contracts guarantee (exact-in/exact-out consistency, monotonic books)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.edges.evm import v2math, v3math
from services.edges.evm.pools import PoolSpec, Token, V2State, V3State, pool_book
from tests.shared_fixtures import fixture_json


def test_v2_vectors() -> None:
    data = fixture_json("venues", "uniswap", "v2_getAmountOut_vectors.json")
    for case in data["getInputPrice_cases"]:
        got = v2math.get_amount_out(int(case["amountIn"]), int(case["reserveIn"]), int(case["reserveOut"]))
        assert got == int(case["expectedAmountOut"])
    for case in data["library_cases"]:
        if case["fn"] == "getAmountOut":
            got = v2math.get_amount_out(int(case["amountIn"]), int(case["reserveIn"]), int(case["reserveOut"]))
        else:
            got = v2math.get_amount_in(int(case["amountOut"]), int(case["reserveIn"]), int(case["reserveOut"]))
        assert got == int(case["expected"])
    with pytest.raises(ValueError):
        v2math.get_amount_in(100, 100, 100)  # the pool cannot pay all its reserve


def test_tickmath_vectors() -> None:
    data = fixture_json("venues", "uniswap", "v3_tickmath_vectors.json")
    assert len(data["sqrt_ratio_at_tick"]) > 5
    for case in data["sqrt_ratio_at_tick"]:
        assert v3math.sqrt_ratio_at_tick(case["tick"]) == int(case["sqrtPriceX96"]), case
    for case in data["tick_at_sqrt_ratio"]:
        assert v3math.tick_at_sqrt_ratio(int(case["sqrtPriceX96"])) == case["tick"], case
    assert v3math.sqrt_ratio_at_tick(v3math.MIN_TICK) == v3math.MIN_SQRT_RATIO
    assert v3math.sqrt_ratio_at_tick(v3math.MAX_TICK) == v3math.MAX_SQRT_RATIO
    with pytest.raises(v3math.V3MathError):
        v3math.sqrt_ratio_at_tick(v3math.MAX_TICK + 1)


@given(st.integers(v3math.MIN_TICK, v3math.MAX_TICK - 1))
@settings(max_examples=300, deadline=None)
def test_tick_at_sqrt_ratio_inverts(tick: int) -> None:
    r = v3math.sqrt_ratio_at_tick(tick)
    assert v3math.tick_at_sqrt_ratio(r) == tick
    assert v3math.tick_at_sqrt_ratio(v3math.sqrt_ratio_at_tick(tick + 1) - 1) == tick


def test_sqrtpricemath_vectors() -> None:
    data = fixture_json("venues", "uniswap", "v3_sqrtpricemath_vectors.json")
    fns = {
        "getNextSqrtPriceFromInput": lambda i: v3math.next_sqrt_price_from_input(
            int(i["sqrtP"]), int(i["liquidity"]), int(i["amount"]), i["zeroForOne"]
        ),
        "getNextSqrtPriceFromOutput": lambda i: v3math.next_sqrt_price_from_output(
            int(i["sqrtP"]), int(i["liquidity"]), int(i["amount"]), i["zeroForOne"]
        ),
        "getAmount0Delta(roundUp)": lambda i: v3math.amount0_delta(
            int(i["sqrtA"]), int(i["sqrtB"]), int(i["liquidity"]), True
        ),
        "getAmount1Delta(roundUp)": lambda i: v3math.amount1_delta(
            int(i["sqrtA"]), int(i["sqrtB"]), int(i["liquidity"]), True
        ),
    }
    for case in data["cases"]:
        assert fns[case["fn"]](case["inputs"]) == int(case["expected"]), case


def test_swap_step_vectors_from_v3_core() -> None:
    # SwapMath.spec.ts: "exact amount in that gets capped at price target in one for zero"
    price = 79228162514264337593543950336
    target = 79623317895830914510639640423  # encodePriceSqrt(101, 100)
    nxt, a_in, a_out, fee = v3math.compute_swap_step(price, target, 2 * 10**18, 10**18, 600)
    assert (a_in, a_out, fee) == (9975124224178055, 9925619580021728, 5988667735148)
    assert nxt == target
    # "exact amount out that gets capped at price target in one for zero"
    nxt, a_in, a_out, fee = v3math.compute_swap_step(price, target, 2 * 10**18, -(10**18), 600)
    assert (a_in, a_out, fee) == (9975124224178055, 9925619580021728, 5988667735148)
    # "amount out is capped at the desired amount out"
    nxt, a_in, a_out, fee = v3math.compute_swap_step(
        417332158212080721273783715441582, 1452870262520218020823638996, 159344665391607089467575320103, -1, 1
    )
    assert (a_in, a_out, fee, nxt) == (1, 1, 1, 417332158212080721273783715441581)


def _pool(ticks: dict[int, int], liquidity: int = 10**18, tick: int = 0, fee: int = 3000) -> v3math.V3PoolState:
    return v3math.V3PoolState(
        sqrt_price_x96=v3math.sqrt_ratio_at_tick(tick), tick=tick, liquidity=liquidity, fee_pips=fee,
        tick_spacing=v3math.TICK_SPACING[fee], liquidity_net=ticks,
    )


@given(st.integers(1, 10**21), st.booleans())
@settings(max_examples=200, deadline=None)
def test_exact_out_covers_exact_in(amount_in: int, zero_for_one: bool) -> None:
    """Asking exactly what an exact-in swap paid costs no more than that input (the pool
    rounds in its own favour both ways), across tick crossings."""
    pool = _pool({-600: 10**18, -120: 5 * 10**17, 120: -5 * 10**17, 600: -(10**18)}, liquidity=15 * 10**17)
    try:
        out = v3math.quote_exact_input(pool, zero_for_one, amount_in)
    except v3math.V3MathError:
        return
    if out == 0:
        return
    need = v3math.quote_exact_output(pool, zero_for_one, out)
    assert need <= amount_in
    assert v3math.quote_exact_input(pool, zero_for_one, need) >= out


def test_next_initialized_tick_stays_in_word() -> None:
    pool = _pool({-60: 1, 60 * 300: -1}, fee=3000)
    assert pool.next_initialized_tick(0, lte=True) == (0, False)  # tick 0 starts word 0
    assert pool.next_initialized_tick(-1, lte=True) == (-60, True)
    assert pool.next_initialized_tick(0, lte=False) == (255 * 60, False)  # word end, not initialized
    assert pool.next_initialized_tick(255 * 60, lte=False) == (300 * 60, True)
    assert pool.next_initialized_tick(-61, lte=True) == (-256 * 60, False)


def test_pool_book_walks_to_the_exact_cost() -> None:
    t0, t1 = Token("0x01", "WETH", 18), Token("0x02", "USDC", 6)
    spec = PoolSpec(kind="v2", address="0xp", token0=t0, token1=t1, base_is_token0=True)
    state = V2State(reserve0=1_000 * 10**18, reserve1=3_000_000 * 10**6)  # 3000 USDC per WETH
    sizes = [10**6, 10**7, 10**8, 5 * 10**8, 10**9, 5 * 10**9, 10**10, 5 * 10**10]
    book = pool_book("dex_ethereum", spec, state, sizes, gas_price_wei=10**9)
    assert book.asks[0][0] > 3000 * 10**9 > book.bids[0][0]  # the fee and impact on both sides
    assert all(a[0] < b[0] for a, b in zip(book.asks, book.asks[1:]))
    assert all(a[0] > b[0] for a, b in zip(book.bids, book.bids[1:]))
    assert sum(q for _, q in book.asks) == sizes[-1]
    # walking the asks to 500 WETH costs what the pool charges, to within a price tick per level
    walked = sum(px * q for px, q in book.asks) // 10**8
    exact = v2math.get_amount_in(500 * 10**18, state.reserve1, state.reserve0) * 10**9 // 10**6
    assert 0 <= walked - exact <= len(book.asks) * 1000
    # a pool too small for the largest size ends the ask side there, it does not invent depth
    thin = V2State(reserve0=10 * 10**18, reserve1=30_000 * 10**6)
    assert sum(q for _, q in pool_book("d", spec, thin, sizes).asks) == 5 * 10**8  # 5 of its 10 WETH


def test_v3_book_crosses_ticks() -> None:
    t0, t1 = Token("0x01", "AAA", 18), Token("0x02", "BBB", 18)
    spec = PoolSpec(kind="v3", address="0xq", token0=t0, token1=t1, base_is_token0=False, fee_pips=3000)
    pool = _pool({-600: 10**18, 600: -(10**18)}, liquidity=10**18)
    sizes = [10**k for k in range(4, 12)]
    book = pool_book("dex_ethereum", spec, V3State(pool), sizes)
    assert book.asks and book.bids
    # beyond the position's range there is no liquidity: the sides stop short of 1000 base
    assert sum(q for _, q in book.asks) < 10**11
    assert book.asks[0][0] > 10**9 > book.bids[0][0]
