"""Routing over Solana pools: one-hop and two-hop paths, splits between pools, and the book levels
the SOR reads. The pools are a CPMM and a Whirlpool built from states the tests choose."""

from __future__ import annotations

from math import isqrt

import pytest

from services.edges.solana import raydium_cpmm as rc
from services.edges.solana import whirlpool_math as wm
from services.edges.solana.routing import (
    NoRoute,
    Path,
    PoolRef,
    Token,
    path_book,
    priority_fee_lamports,
    split_exact_in,
    split_exact_out,
)
from services.edges.solana.whirlpool import TICK_ARRAY_SIZE, Tick, TickArray, Whirlpool, WhirlpoolBook

SOL = Token("So11111111111111111111111111111111111111112", "SOL", 9)
USDC = Token("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", "USDC", 6)
BONK = Token("DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263", "BONK", 5)


class _Cpmm:
    """A CPMM pool from two reserves (no fees owed), quoting through the program's curve."""

    def __init__(self, r0: int, r1: int, fees: rc.Fees) -> None:
        self.r0, self.r1, self.fees = r0, r1, fees

    def exact_in(self, zero_for_one: bool, amount_in: int) -> int:
        r_in, r_out = (self.r0, self.r1) if zero_for_one else (self.r1, self.r0)
        return rc.swap_base_input(amount_in, r_in, r_out, self.fees).output_amount

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int:
        r_in, r_out = (self.r0, self.r1) if zero_for_one else (self.r1, self.r0)
        return rc.swap_base_output(amount_out, r_in, r_out, self.fees).input_amount


RAYDIUM_FEES = rc.Fees(trade_fee_rate=2500, protocol_fee_rate=120_000, fund_fee_rate=40_000)


def raydium_sol_usdc() -> PoolRef:
    # 10,000 SOL against 1,500,000 USDC: 150 USDC per SOL
    return PoolRef("raydium_cpmm", "RaySolUsdc", SOL, USDC, _Cpmm(10**13, 15 * 10**11, RAYDIUM_FEES), 60_000)


def orca_sol_usdc(price_raw_num: int = 15, price_raw_den: int = 100, liquidity: int = 10**13) -> PoolRef:
    """A Whirlpool (A = SOL, B = USDC, tick spacing 64, 0.04 % fee) with one position over
    +-6000 ticks around the price; the arrays around it are held."""
    ts = 64
    sqrt_price = isqrt(price_raw_num * (1 << 128) // price_raw_den)
    tick = wm.tick_index_from_sqrt_price(sqrt_price)
    lo, hi = (tick - 6000) // ts * ts, (tick + 6000) // ts * ts
    span = TICK_ARRAY_SIZE * ts
    arrays: dict[int, TickArray] = {}
    for start in range((tick // span - 3) * span, (tick // span + 4) * span, span):
        ticks = [Tick()] * TICK_ARRAY_SIZE
        for t, net in ((lo, liquidity), (hi, -liquidity)):
            if start <= t < start + span:
                ticks[(t - start) // ts] = Tick(True, net, liquidity)
        arrays[start] = TickArray(start, tuple(ticks))
    pool = Whirlpool(
        tick_spacing=ts,
        fee_rate=400,
        protocol_fee_rate=1300,
        liquidity=liquidity,
        sqrt_price=sqrt_price,
        tick_current_index=tick,
    )
    return PoolRef("orca_whirlpool", "OrcaSolUsdc", SOL, USDC, WhirlpoolBook(pool, arrays), 90_000)


def raydium_bonk_sol() -> PoolRef:
    # token0 = BONK (5 dp), token1 = SOL: 4e11 BONK against 1,000 SOL
    return PoolRef("raydium_cpmm", "RayBonkSol", BONK, SOL, _Cpmm(4 * 10**16, 10**12, RAYDIUM_FEES), 60_000)


def test_two_hop_path_chains_the_pools() -> None:
    usdc_sol, sol_bonk = orca_sol_usdc(), raydium_bonk_sol()
    path = Path.through(USDC, [usdc_sol, sol_bonk])
    assert (path.token_in, path.token_out) == (USDC, BONK)
    amount_in = 1_000 * 10**6  # 1,000 USDC
    sol = usdc_sol.pool.exact_in(False, amount_in)  # B -> A on the Whirlpool
    bonk = sol_bonk.pool.exact_in(False, sol)  # SOL (token1) -> BONK
    assert path.exact_in(amount_in) == bonk > 0
    # exact output runs backwards; its input, sent forwards, buys at least that much
    want = bonk // 2
    need = path.exact_out(want)
    assert path.exact_in(need) >= want
    assert path.exact_in(need - need // 1000) < want  # and 0.1 % less input is not enough
    assert path.compute_units == 150_000
    back = path.reversed()
    assert (back.token_in, back.token_out) == (BONK, USDC)
    with pytest.raises(NoRoute):
        Path.through(BONK, [usdc_sol])


def test_split_beats_either_pool_alone() -> None:
    ray, orca = raydium_sol_usdc(), orca_sol_usdc()
    paths = [Path.through(USDC, [ray]), Path.through(USDC, [orca])]
    want = 2_000 * 10**9  # buy 2,000 SOL
    split = split_exact_out(paths, want, chunks=40)
    assert split.amount_out == want
    assert len(split.parts) == 2  # both pools get a share at this size
    for path, out, cost in split.parts:
        assert cost == path.exact_out(out)
    singles = [p.exact_out(want) for p in paths]
    assert split.amount_in < min(singles)
    # a small order goes to one pool only: the cheaper at the margin
    small = split_exact_out(paths, 10**9, chunks=4)
    assert len(small.parts) == 1
    assert small.amount_in == min(p.exact_out(10**9) for p in paths)
    # selling splits too, and gets more than either pool alone
    sell_paths = [p.reversed() for p in paths]
    parts = split_exact_in(sell_paths, want, chunks=40)
    assert sum(a for _, a, _ in parts) == want
    assert sum(g for _, _, g in parts) > max(p.exact_in(want) for p in sell_paths)


def test_split_of_a_two_hop_against_a_direct_pool() -> None:
    # BONK bought with SOL directly, or with SOL -> USDC -> ... is not a path; use USDC -> SOL -> BONK
    # against a (thin) direct USDC/BONK CPMM
    direct = PoolRef("raydium_cpmm", "RayBonkUsdc", BONK, USDC, _Cpmm(4 * 10**15, 15 * 10**9, RAYDIUM_FEES), 60_000)
    two_hop = Path.through(USDC, [orca_sol_usdc(), raydium_bonk_sol()])
    one_hop = Path.through(USDC, [direct])
    want = 10**14  # 1e9 BONK
    split = split_exact_out([one_hop, two_hop], want, chunks=20)
    assert split.amount_out == want
    assert split.amount_in <= min(one_hop.exact_out(want), two_hop.exact_out(want))
    with pytest.raises(NoRoute):
        split_exact_out([one_hop, Path.through(SOL, [raydium_bonk_sol()])], want)


SIZES = [10**6, 10**7, 10**8, 5 * 10**8, 10**9, 5 * 10**9, 10**10, 5 * 10**10, 10**11, 10**12]  # _1e8 SOL


@pytest.mark.parametrize("maker", [raydium_sol_usdc, orca_sol_usdc])
def test_path_book_levels_cost_what_the_pool_charges(maker: object) -> None:
    ref = maker()  # type: ignore[operator]
    path = Path.through(USDC, [ref])
    book = path_book(path, SIZES, cu_price_micro_lamports=1_000_000)
    assert (book.symbol, book.venue) == ("SOL-USDC", ref.venue)
    assert book.fee_lamports == 5_000 + priority_fee_lamports(ref.compute_units, 1_000_000)
    for side in (book.asks, book.bids):
        assert side and all(isinstance(p, int) and isinstance(q, int) and q > 0 for p, q in side)
    asks_px = [p for p, _ in book.asks]
    bids_px = [p for p, _ in book.bids]
    assert asks_px == sorted(set(asks_px)) and bids_px == sorted(set(bids_px), reverse=True)
    assert bids_px[0] < 150 * 10**9 < asks_px[0]
    # walking the asks to each size costs the pool's exact-output price, rounded up per level
    cum_q = cum_cost = 0
    walked: dict[int, int] = {}
    for px, qty in book.asks:
        cum_q += qty
        cum_cost += px * qty  # px_1e9 * qty_1e8 = quote * 1e17
        walked[cum_q] = cum_cost
    for size in SIZES:
        if size in walked:
            exact = path.exact_out(size * 10**9 // 10**8) * 10**17 // 10**6
            assert exact <= walked[size] <= exact + len(book.asks) * size * 1  # < 1 price unit per level
    # the bids: selling each size returns at least what walking them promises
    cum_q = cum_value = 0
    for px, qty in book.bids:
        cum_q += qty
        cum_value += px * qty
        if cum_q in SIZES:
            got = path.reversed().exact_in(cum_q * 10**9 // 10**8) * 10**17 // 10**6
            assert cum_value <= got


def test_path_book_stops_where_the_pool_runs_dry() -> None:
    ref = orca_sol_usdc(liquidity=10**11)  # thin: the position's range ends within the sizes
    path = Path.through(USDC, [ref])
    book = path_book(path, SIZES)
    total_ask = sum(q for _, q in book.asks)
    assert total_ask < SIZES[-1]
    with pytest.raises(ArithmeticError):
        path.exact_out(SIZES[-1] * 10)


def test_path_books_feed_the_sor() -> None:
    """The levels are what the SOR's planner takes: a buy split by `plan_order` over the two pool
    books and a CEX book gets each pool's share at what that pool charges for it."""
    from services.sor import VenueBook, plan_order

    paths = {"raydium_cpmm": Path.through(USDC, [raydium_sol_usdc()]),
             "orca_whirlpool": Path.through(USDC, [orca_sol_usdc()])}
    books = [VenueBook(venue=v, levels=path_book(p, SIZES).asks, taker_fee_ppm=0) for v, p in paths.items()]
    cex = VenueBook(venue="cex", levels=[(150_100_000_000, 20 * 10**8), (150_500_000_000, 200 * 10**8)],
                    taker_fee_ppm=1000)
    plan = plan_order("buy", 100 * 10**8, [*books, cex], arrival_mid_px_1e9=150 * 10**9)
    assert plan.filled_qty_1e8 == 100 * 10**8
    by_venue = {a.venue: a for a in plan.allocations}
    assert "orca_whirlpool" in by_venue  # the deep, cheap pool takes part
    for venue, alloc in by_venue.items():
        if venue in paths:
            # the plan's notional for a pool is at least what the pool charges for that size
            charged = paths[venue].exact_out(alloc.qty_1e8 * 10) * 1000  # USDC raw (6 dp) -> 1e9
            assert alloc.notional_usd_1e9 >= charged
