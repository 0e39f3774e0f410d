"""Uniswap V3 swap math, integer only: TickMath, SqrtPriceMath, SwapMath and the pool's swap loop.

A port of the published v3-core libraries, including their rounding directions and the branch
SqrtPriceMath takes when a 256-bit product would overflow, so quotes equal the contracts' own to
the wei. The swap loop steps at bitmap-word boundaries as the pool does (`nextInitializedTick
WithinOneWord`): a step's rounding depends on where it stops, so skipping them would drift by wei.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

MIN_TICK = -887272
MAX_TICK = 887272
MIN_SQRT_RATIO = 4295128739
MAX_SQRT_RATIO = 1461446703485210103287273052203988822378723970342
Q96 = 1 << 96
U256 = 1 << 256
U160_MAX = (1 << 160) - 1
FEE_DEN = 1_000_000  # fees are in pips (hundredths of a bip)

_TICK_FACTORS = (
    (0x2, 0xFFF97272373D413259A46990580E213A),
    (0x4, 0xFFF2E50F5F656932EF12357CF3C7FDCC),
    (0x8, 0xFFE5CACA7E10E4E61C3624EAA0941CD0),
    (0x10, 0xFFCB9843D60F6159C9DB58835C926644),
    (0x20, 0xFF973B41FA98C081472E6896DFB254C0),
    (0x40, 0xFF2EA16466C96A3843EC78B326B52861),
    (0x80, 0xFE5DEE046A99A2A811C461F1969C3053),
    (0x100, 0xFCBE86C7900A88AEDCFFC83B479AA3A4),
    (0x200, 0xF987A7253AC413176F2B074CF7815E54),
    (0x400, 0xF3392B0822B70005940C7A398E4B70F3),
    (0x800, 0xE7159475A2C29B7443B29C7FA6E889D9),
    (0x1000, 0xD097F3BDFD2022B8845AD8F792AA5825),
    (0x2000, 0xA9F746462D870FDF8A65DC1F90E061E5),
    (0x4000, 0x70D869A156D2A1B890BB3DF62BAF32F7),
    (0x8000, 0x31BE135F97D08FD981231505542FCFA6),
    (0x10000, 0x9AA508B5B7A84E1C677DE54F3E99BC9),
    (0x20000, 0x5D6AF8DEDB81196699C329225EE604),
    (0x40000, 0x2216E584F5FA1EA926041BEDFE98),
    (0x80000, 0x48A170391F7DC42444E8FA2),
)
TICK_SPACING = {100: 1, 500: 10, 3000: 60, 10000: 200}


class V3MathError(ValueError):
    """The contracts would revert (out of range, insufficient liquidity, overflow)."""


def _div_up(a: int, b: int) -> int:
    return -(-a // b)


def mul_div_up(a: int, b: int, d: int) -> int:
    return _div_up(a * b, d)


# --- TickMath -------------------------------------------------------------------------------


def sqrt_ratio_at_tick(tick: int) -> int:
    abs_tick = -tick if tick < 0 else tick
    if abs_tick > MAX_TICK:
        raise V3MathError("T")
    ratio = 0xFFFCB933BD6FAD37AA2D162D1A594001 if abs_tick & 0x1 else 1 << 128
    for bit, factor in _TICK_FACTORS:
        if abs_tick & bit:
            ratio = (ratio * factor) >> 128
    if tick > 0:
        ratio = (U256 - 1) // ratio
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


def tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """The greatest tick whose sqrt ratio is <= the price (TickMath.getTickAtSqrtRatio)."""
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise V3MathError("R")
    # A float estimate lands within a tick or two; the exact table settles it.
    guess = math.floor(2 * math.log(sqrt_price_x96 / Q96) / math.log(1.0001))
    tick = max(MIN_TICK, min(MAX_TICK, guess))
    while tick > MIN_TICK and sqrt_ratio_at_tick(tick) > sqrt_price_x96:
        tick -= 1
    while tick < MAX_TICK and sqrt_ratio_at_tick(tick + 1) <= sqrt_price_x96:
        tick += 1
    return tick


# --- SqrtPriceMath --------------------------------------------------------------------------


def next_sqrt_price_from_amount0_rounding_up(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_p
    numerator1 = liquidity << 96
    product = amount * sqrt_p
    if add:
        if product < U256 and numerator1 + product < U256:
            return mul_div_up(numerator1, sqrt_p, numerator1 + product)
        return _div_up(numerator1, numerator1 // sqrt_p + amount)  # the contract's overflow branch
    if product >= U256 or numerator1 <= product:
        raise V3MathError("insufficient liquidity for the output")
    result = mul_div_up(numerator1, sqrt_p, numerator1 - product)
    if result > U160_MAX:
        raise V3MathError("price overflow")
    return result


def next_sqrt_price_from_amount1_rounding_down(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if add:
        return sqrt_p + (amount << 96) // liquidity
    quotient = _div_up(amount << 96, liquidity)
    if sqrt_p <= quotient:
        raise V3MathError("insufficient liquidity for the output")
    return sqrt_p - quotient


def next_sqrt_price_from_input(sqrt_p: int, liquidity: int, amount_in: int, zero_for_one: bool) -> int:
    if zero_for_one:
        return next_sqrt_price_from_amount0_rounding_up(sqrt_p, liquidity, amount_in, True)
    return next_sqrt_price_from_amount1_rounding_down(sqrt_p, liquidity, amount_in, True)


def next_sqrt_price_from_output(sqrt_p: int, liquidity: int, amount_out: int, zero_for_one: bool) -> int:
    if zero_for_one:
        return next_sqrt_price_from_amount1_rounding_down(sqrt_p, liquidity, amount_out, False)
    return next_sqrt_price_from_amount0_rounding_up(sqrt_p, liquidity, amount_out, False)


def amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    numerator1 = liquidity << 96
    numerator2 = sqrt_b - sqrt_a
    if round_up:
        return _div_up(mul_div_up(numerator1, numerator2, sqrt_b), sqrt_a)
    return numerator1 * numerator2 // sqrt_b // sqrt_a


def amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    if round_up:
        return mul_div_up(liquidity, sqrt_b - sqrt_a, Q96)
    return liquidity * (sqrt_b - sqrt_a) // Q96


# --- SwapMath -------------------------------------------------------------------------------


def compute_swap_step(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """One step towards `sqrt_target`: (sqrt_next, amount_in, amount_out, fee_amount).
    `amount_remaining` > 0 is exact input, < 0 exact output (SwapMath.computeSwapStep)."""
    zero_for_one = sqrt_current >= sqrt_target
    exact_in = amount_remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        less_fee = amount_remaining * (FEE_DEN - fee_pips) // FEE_DEN
        amount_in = (
            amount0_delta(sqrt_target, sqrt_current, liquidity, True)
            if zero_for_one
            else amount1_delta(sqrt_current, sqrt_target, liquidity, True)
        )
        if less_fee >= amount_in:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_input(sqrt_current, liquidity, less_fee, zero_for_one)
    else:
        amount_out = (
            amount1_delta(sqrt_target, sqrt_current, liquidity, False)
            if zero_for_one
            else amount0_delta(sqrt_current, sqrt_target, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_output(sqrt_current, liquidity, -amount_remaining, zero_for_one)
    reached = sqrt_target == sqrt_next
    if zero_for_one:
        if not (reached and exact_in):
            amount_in = amount0_delta(sqrt_next, sqrt_current, liquidity, True)
        if not (reached and not exact_in):
            amount_out = amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    else:
        if not (reached and exact_in):
            amount_in = amount1_delta(sqrt_current, sqrt_next, liquidity, True)
        if not (reached and not exact_in):
            amount_out = amount0_delta(sqrt_current, sqrt_next, liquidity, False)
    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining
    if exact_in and sqrt_next != sqrt_target:
        fee_amount = amount_remaining - amount_in  # the remainder is the fee
    else:
        fee_amount = mul_div_up(amount_in, fee_pips, FEE_DEN - fee_pips)
    return sqrt_next, amount_in, amount_out, fee_amount


# --- the pool -------------------------------------------------------------------------------


@dataclass(slots=True)
class V3PoolState:
    """What the swap loop reads: slot0, active liquidity, fee and the initialized ticks."""

    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee_pips: int
    tick_spacing: int
    liquidity_net: dict[int, int] = field(default_factory=dict)  # initialized tick -> liquidityNet
    _compressed: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        """Call after changing `liquidity_net` (a Mint or Burn crossed a tick)."""
        # An initialized tick stops a step even when its net is zero (liquidityGross > 0).
        self._compressed = sorted(t // self.tick_spacing for t in self.liquidity_net)

    def next_initialized_tick(self, tick: int, lte: bool) -> tuple[int, bool]:
        """TickBitmap.nextInitializedTickWithinOneWord: the search never leaves a 256-tick word."""
        spacing = self.tick_spacing
        compressed = tick // spacing  # floor, as the contract rounds negative ticks down
        ticks = self._compressed
        if lte:
            word_start = (compressed >> 8) << 8
            i = bisect.bisect_right(ticks, compressed) - 1
            if i >= 0 and ticks[i] >= word_start:
                return ticks[i] * spacing, True
            return word_start * spacing, False
        start = compressed + 1
        word_end = ((start >> 8) << 8) + 255
        i = bisect.bisect_left(ticks, start)
        if i < len(ticks) and ticks[i] <= word_end:
            return ticks[i] * spacing, True
        return word_end * spacing, False


@dataclass(slots=True, frozen=True)
class SwapResult:
    amount_in: int  # paid into the pool, fee included
    amount_out: int
    sqrt_price_x96: int  # after the swap
    tick: int
    liquidity: int


def swap(state: V3PoolState, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int = 0) -> SwapResult:
    """Simulate UniswapV3Pool.swap without changing `state`. `amount_specified` > 0 is exact
    input, < 0 exact output. A zero limit means no limit, as QuoterV2 and SwapRouter pass it."""
    if amount_specified == 0:
        raise V3MathError("AS")
    if sqrt_price_limit_x96 == 0:
        sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    if zero_for_one:
        if not (MIN_SQRT_RATIO < sqrt_price_limit_x96 < state.sqrt_price_x96):
            raise V3MathError("SPL")
    elif not (state.sqrt_price_x96 < sqrt_price_limit_x96 < MAX_SQRT_RATIO):
        raise V3MathError("SPL")
    exact_in = amount_specified > 0
    remaining = amount_specified
    calculated = 0
    sqrt_p, tick, liquidity = state.sqrt_price_x96, state.tick, state.liquidity
    fee = state.fee_pips
    while remaining != 0 and sqrt_p != sqrt_price_limit_x96:
        start = sqrt_p
        tick_next, initialized = state.next_initialized_tick(tick, zero_for_one)
        tick_next = max(MIN_TICK, min(MAX_TICK, tick_next))
        sqrt_next = sqrt_ratio_at_tick(tick_next)
        beyond = sqrt_next < sqrt_price_limit_x96 if zero_for_one else sqrt_next > sqrt_price_limit_x96
        target = sqrt_price_limit_x96 if beyond else sqrt_next
        sqrt_p, step_in, step_out, step_fee = compute_swap_step(sqrt_p, target, liquidity, remaining, fee)
        if exact_in:
            remaining -= step_in + step_fee
            calculated -= step_out
        else:
            remaining += step_out
            calculated += step_in + step_fee
        if sqrt_p == sqrt_next:
            if initialized:
                net = state.liquidity_net.get(tick_next, 0)
                liquidity += -net if zero_for_one else net
                if liquidity < 0:
                    raise V3MathError("LS")
            tick = tick_next - 1 if zero_for_one else tick_next
        elif sqrt_p != start:
            tick = tick_at_sqrt_ratio(sqrt_p)
    if exact_in:
        return SwapResult(amount_specified - remaining, -calculated, sqrt_p, tick, liquidity)
    return SwapResult(calculated, -amount_specified + remaining, sqrt_p, tick, liquidity)


def quote_exact_input(state: V3PoolState, zero_for_one: bool, amount_in: int) -> int:
    """What QuoterV2.quoteExactInputSingle returns (amountOut) with no price limit."""
    return swap(state, zero_for_one, amount_in).amount_out


def quote_exact_output(state: V3PoolState, zero_for_one: bool, amount_out: int) -> int:
    """QuoterV2.quoteExactOutputSingle's amountIn; raises when the pool cannot pay `amount_out`
    in full (the quoter requires the whole amount with no price limit)."""
    result = swap(state, zero_for_one, -amount_out)
    if result.amount_out != amount_out:
        raise V3MathError("insufficient liquidity for the output")
    return result.amount_in
