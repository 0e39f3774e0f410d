"""Pool books in the router: a DEX leg competes with a CEX book on price + pool fee + gas."""

from __future__ import annotations

from services.edges.evm.pools import PoolSpec, Token, V2State, pool_book
from services.edges.evm.routing import gas_cost_quote_1e9, venue_book
from services.sor.model import VenueBook
from services.sor.optimizer import plan_order

WETH, USDC = Token("0x01", "WETH", 18), Token("0x02", "USDC", 6)
SPEC = PoolSpec(kind="v2", address="0xp", token0=WETH, token1=USDC, base_is_token0=True)
STATE = V2State(reserve0=5_000 * 10**18, reserve1=10_000_000 * 10**6)  # 2000 USDC per WETH, deep
SIZES = [10**6, 10**7, 10**8, 5 * 10**8, 10**9, 2 * 10**9, 5 * 10**9]
ETH_PX = 2000 * 10**9
# A CEX a little worse than the pool's marginal price once its 10 bp fee is in
CEX = VenueBook(venue="cex", levels=[(2_004 * 10**9, 2 * 10**8), (2_006 * 10**9, 3 * 10**8),
                                     (2_010 * 10**9, 10**10)], taker_fee_ppm=1_000)


def test_gas_is_charged_as_a_fee_over_the_order() -> None:
    book = pool_book("dex_ethereum", SPEC, STATE, SIZES, gas_price_wei=20 * 10**9)
    gas = gas_cost_quote_1e9(book, ETH_PX)
    assert gas == 100_000 * 20 * 10**9 * 2000 // 10**9  # 100k gas x 20 gwei x 2000 = 4 USDC
    vb = venue_book(book, "buy", 10 * 10**8, native_px_1e9=ETH_PX)
    assert vb is not None and vb.venue == "dex_ethereum" and vb.levels == book.asks
    assert 190 <= vb.taker_fee_ppm <= 210  # 4 USDC on ~20,000 USDC = 2 bp = 200 ppm
    assert vb.min_qty_1e8 > 0  # a dust take would be mostly gas


def test_dex_leg_wins_when_cheaper_after_gas() -> None:
    book = pool_book("dex_ethereum", SPEC, STATE, SIZES, gas_price_wei=10 * 10**9)
    vb = venue_book(book, "buy", 10 * 10**8, native_px_1e9=ETH_PX)
    assert vb is not None
    plan = plan_order("buy", 10 * 10**8, [CEX, vb], arrival_mid_px_1e9=2000 * 10**9)
    legs = {a.venue: a.qty_1e8 for a in plan.allocations}
    assert legs.get("dex_ethereum", 0) > 0 and plan.filled_qty_1e8 == 10 * 10**8


def test_expensive_gas_keeps_the_order_on_the_cex() -> None:
    book = pool_book("dex_ethereum", SPEC, STATE, SIZES, gas_price_wei=2_000 * 10**9)  # 400 USDC a swap
    vb = venue_book(book, "buy", 10 * 10**8, native_px_1e9=ETH_PX)
    books = [CEX] + ([vb] if vb is not None else [])
    plan = plan_order("buy", 10 * 10**8, books, arrival_mid_px_1e9=2000 * 10**9)
    assert {a.venue for a in plan.allocations} == {"cex"}
    # a swap whose gas is more than the cap's share of the order is not offered at all
    assert venue_book(book, "buy", 10**6, native_px_1e9=ETH_PX) is None
