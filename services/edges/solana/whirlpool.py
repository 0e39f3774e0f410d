"""Orca Whirlpool pool state, tick arrays and the swap loop, plus the on-chain account layouts.

The loop is the program's `swap_manager::swap` over a `SwapTickSequence` of tick arrays (up to
three in the swap direction, as the swap instruction takes): same tick search, same crossing
rule, same fee split, so `amount_a`/`amount_b` equal what the program would move. Pools with an
adaptive fee (fee_tier_index_seed != tick_spacing) need the oracle account; they are refused here
rather than quoted with the wrong fee.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from solders.pubkey import Pubkey

from services.edges.solana.whirlpool_math import (
    MAX_SQRT_PRICE_X64,
    MAX_TICK_INDEX,
    MIN_SQRT_PRICE_X64,
    MIN_TICK_INDEX,
    PROTOCOL_FEE_RATE_MUL_VALUE,
    U64_MAX,
    U128_MAX,
    WhirlpoolMathError,
    compute_swap,
    sqrt_price_from_tick_index,
    tick_index_from_sqrt_price,
)

WHIRLPOOL_PROGRAM_ID = Pubkey.from_string("whirLbMiicVdio4qvUfM5KAg6Ct8VwpYzGff3uctyCc")
TICK_ARRAY_SIZE = 88
NO_EXPLICIT_SQRT_PRICE_LIMIT = 0
# Anchor account discriminators: sha256("account:<Name>")[:8].
WHIRLPOOL_DISCRIMINATOR = bytes.fromhex("3f95d10ce1806309")
FIXED_TICK_ARRAY_DISCRIMINATOR = bytes.fromhex("4561bdbe6e0742bb")
WHIRLPOOL_LEN = 653
TICK_LEN = 113
FIXED_TICK_ARRAY_LEN = 8 + 4 + TICK_ARRAY_SIZE * TICK_LEN + 32


class LayoutError(ValueError):
    """Account data is not the layout it claims to be."""


@dataclass(frozen=True, slots=True)
class Tick:
    initialized: bool = False
    liquidity_net: int = 0  # i128
    liquidity_gross: int = 0


_EMPTY_TICKS: tuple[Tick, ...] = (Tick(),) * TICK_ARRAY_SIZE


@dataclass(frozen=True, slots=True)
class TickArray:
    start_tick_index: int
    ticks: tuple[Tick, ...] = _EMPTY_TICKS

    def offset(self, tick_index: int, tick_spacing: int) -> int:
        return (tick_index - self.start_tick_index) // tick_spacing  # floor, as get_offset

    def in_search_range(self, tick_index: int, tick_spacing: int, shifted: bool) -> bool:
        lower = self.start_tick_index
        upper = lower + TICK_ARRAY_SIZE * tick_spacing
        if shifted:
            lower -= tick_spacing
            upper -= tick_spacing
        return lower <= tick_index < upper

    def next_init_tick_index(self, tick_index: int, tick_spacing: int, a_to_b: bool) -> int | None:
        if not self.in_search_range(tick_index, tick_spacing, not a_to_b):
            raise WhirlpoolMathError("InvalidTickArraySequence")
        off = self.offset(tick_index, tick_spacing)
        if not a_to_b:  # moving right: the current offset cannot be the next tick
            off += 1
        step = -1 if a_to_b else 1
        while 0 <= off < TICK_ARRAY_SIZE:
            if self.ticks[off].initialized:
                return off * tick_spacing + self.start_tick_index
            off += step
        return None

    def is_min_tick_array(self) -> bool:
        return self.start_tick_index <= MIN_TICK_INDEX

    def is_max_tick_array(self, tick_spacing: int) -> bool:
        return self.start_tick_index + TICK_ARRAY_SIZE * tick_spacing > MAX_TICK_INDEX


def tick_array_start_index(tick_index: int, tick_spacing: int) -> int:
    span = TICK_ARRAY_SIZE * tick_spacing
    return (tick_index // span) * span


@dataclass(slots=True)
class Whirlpool:
    """The fields of a Whirlpool account a quote needs (and where its tokens live)."""

    tick_spacing: int
    fee_rate: int  # hundredths of a bip of the input
    protocol_fee_rate: int  # bps of the fee
    liquidity: int
    sqrt_price: int  # Q64.64
    tick_current_index: int
    fee_growth_global_a: int = 0
    fee_growth_global_b: int = 0
    fee_tier_index_seed: int = 0  # 0 = same as tick_spacing
    token_mint_a: Pubkey = field(default_factory=Pubkey.default)
    token_mint_b: Pubkey = field(default_factory=Pubkey.default)
    token_vault_a: Pubkey = field(default_factory=Pubkey.default)
    token_vault_b: Pubkey = field(default_factory=Pubkey.default)
    whirlpools_config: Pubkey = field(default_factory=Pubkey.default)

    @property
    def adaptive_fee(self) -> bool:
        return self.fee_tier_index_seed not in (0, self.tick_spacing)


@dataclass(frozen=True, slots=True)
class PostSwap:
    amount_a: int
    amount_b: int
    next_liquidity: int
    next_tick_index: int
    next_sqrt_price: int
    next_fee_growth_global: int
    next_protocol_fee: int
    fee_sum: int


def _next_initialized(
    arrays: list[TickArray], tick_index: int, tick_spacing: int, a_to_b: bool, start: int
) -> tuple[int, int]:
    span = TICK_ARRAY_SIZE * tick_spacing
    search = tick_index
    i = start
    while True:
        if i >= len(arrays):
            raise WhirlpoolMathError("TickArraySequenceInvalidIndex")
        arr = arrays[i]
        found = arr.next_init_tick_index(search, tick_spacing, a_to_b)
        if found is not None:
            return i, found
        if a_to_b and arr.is_min_tick_array():
            return i, MIN_TICK_INDEX
        if not a_to_b and arr.is_max_tick_array(tick_spacing):
            return i, MAX_TICK_INDEX
        if i + 1 == len(arrays):
            return i, arr.start_tick_index if a_to_b else arr.start_tick_index + span - 1
        search = arr.start_tick_index - 1 if a_to_b else arr.start_tick_index + span - 1
        i += 1


def swap(
    pool: Whirlpool,
    arrays: list[TickArray],
    amount: int,
    sqrt_price_limit: int,
    amount_specified_is_input: bool,
    a_to_b: bool,
) -> PostSwap:
    """The program's swap over `arrays` (ordered in the swap direction, the first holding the
    current tick). Raises WhirlpoolMathError with the program's error name where it would fail."""
    if pool.adaptive_fee:
        raise WhirlpoolMathError("AdaptiveFeeNotSupported")
    limit = sqrt_price_limit
    if limit == NO_EXPLICIT_SQRT_PRICE_LIMIT:
        limit = MIN_SQRT_PRICE_X64 if a_to_b else MAX_SQRT_PRICE_X64
    if not MIN_SQRT_PRICE_X64 <= limit <= MAX_SQRT_PRICE_X64:
        raise WhirlpoolMathError("SqrtPriceOutOfBounds")
    if (a_to_b and limit >= pool.sqrt_price) or (not a_to_b and limit <= pool.sqrt_price):
        raise WhirlpoolMathError("InvalidSqrtPriceLimitDirection")
    if amount == 0:
        raise WhirlpoolMathError("ZeroTradableAmount")

    ts = pool.tick_spacing
    remaining = amount
    calculated = 0
    price = pool.sqrt_price
    tick = pool.tick_current_index
    liquidity = pool.liquidity
    protocol_fee = 0
    fee_growth = pool.fee_growth_global_a if a_to_b else pool.fee_growth_global_b
    fee_sum = 0
    array_index = 0

    while remaining > 0 and limit != price:
        next_array, next_tick = _next_initialized(arrays, tick, ts, a_to_b, array_index)
        next_tick_price = sqrt_price_from_tick_index(next_tick)
        target = max(limit, next_tick_price) if a_to_b else min(limit, next_tick_price)
        # Static fee: the program's inner loop runs once per outer step (no tick groups).
        step = compute_swap(remaining, pool.fee_rate, liquidity, price, target, amount_specified_is_input, a_to_b)
        if amount_specified_is_input:
            remaining -= step.amount_in
            if remaining < 0:
                raise WhirlpoolMathError("AmountRemainingOverflow")
            remaining -= step.fee_amount
            if remaining < 0:
                raise WhirlpoolMathError("AmountRemainingOverflow")
            calculated += step.amount_out
        else:
            remaining -= step.amount_out
            if remaining < 0:
                raise WhirlpoolMathError("AmountRemainingOverflow")
            calculated += step.amount_in
            if calculated > U64_MAX:
                raise WhirlpoolMathError("AmountCalcOverflow")
            calculated += step.fee_amount
        if calculated > U64_MAX:
            raise WhirlpoolMathError("AmountCalcOverflow")
        fee_sum += step.fee_amount
        if fee_sum > U64_MAX:
            raise WhirlpoolMathError("AmountCalcOverflow")

        global_fee = step.fee_amount
        if pool.protocol_fee_rate > 0:
            delta = global_fee * pool.protocol_fee_rate // PROTOCOL_FEE_RATE_MUL_VALUE
            global_fee -= delta
            protocol_fee = (protocol_fee + delta) & U64_MAX  # wrapping_add
        if liquidity > 0:
            fee_growth = (fee_growth + (global_fee << 64) // liquidity) & U128_MAX

        if step.next_price == next_tick_price:
            arr = arrays[next_array]
            off = arr.offset(next_tick, ts)
            if next_tick % ts == 0 and 0 <= off < TICK_ARRAY_SIZE and arr.ticks[off].initialized:
                net = arr.ticks[off].liquidity_net
                liquidity += -net if a_to_b else net
                if liquidity < 0:
                    raise WhirlpoolMathError("LiquidityUnderflow")
                if liquidity > U128_MAX:
                    raise WhirlpoolMathError("LiquidityOverflow")
            if (a_to_b and off == 0) or (not a_to_b and off == TICK_ARRAY_SIZE - 1):
                array_index = next_array + 1
            else:
                array_index = next_array
            tick = next_tick - 1 if a_to_b else next_tick
        elif step.next_price != price:
            tick = tick_index_from_sqrt_price(step.next_price)
        price = step.next_price

    if remaining > 0 and not amount_specified_is_input and sqrt_price_limit == NO_EXPLICIT_SQRT_PRICE_LIMIT:
        raise WhirlpoolMathError("PartialFillError")
    if a_to_b == amount_specified_is_input:
        amount_a, amount_b = amount - remaining, calculated
    else:
        amount_a, amount_b = calculated, amount - remaining
    return PostSwap(amount_a, amount_b, liquidity, tick, price, fee_growth, protocol_fee, fee_sum)


@dataclass(slots=True)
class WhirlpoolBook:
    """A pool and the tick arrays we hold for it: quotes pick the sequence a swap would pass.

    The sequence stops at the first array not held (an uninitialised array on chain should be
    stored as an empty `TickArray`), so a quote never assumes liquidity it has not seen."""

    pool: Whirlpool
    arrays: dict[int, TickArray] = field(default_factory=dict)  # start_tick_index -> array
    max_arrays: int = 3  # the swap instruction's tick_array_0..2

    def sequence(self, a_to_b: bool) -> list[TickArray]:
        ts = self.pool.tick_spacing
        span = TICK_ARRAY_SIZE * ts
        # b_to_a searches are shifted by one tick spacing (the program's in_search_range).
        first = tick_array_start_index(self.pool.tick_current_index + (0 if a_to_b else ts), ts)
        out = []
        for k in range(self.max_arrays):
            start = first - k * span if a_to_b else first + k * span
            arr = self.arrays.get(start)
            if arr is None:
                break  # not held: a quote must not guess what lies beyond
            out.append(arr)
        return out

    def exact_in(self, a_to_b: bool, amount_in: int) -> int:
        """Output for `amount_in` (token A in when a_to_b); the program's exact-input swap."""
        r = swap(self.pool, self.sequence(a_to_b), amount_in, 0, True, a_to_b)
        if (r.amount_a if a_to_b else r.amount_b) != amount_in:
            raise WhirlpoolMathError("InsufficientLiquidity")  # the pool's range ran out
        return r.amount_b if a_to_b else r.amount_a

    def exact_out(self, a_to_b: bool, amount_out: int) -> int:
        """Input needed to receive `amount_out` (PartialFillError when the pool cannot pay it)."""
        r = swap(self.pool, self.sequence(a_to_b), amount_out, 0, False, a_to_b)
        return r.amount_a if a_to_b else r.amount_b


# --- account layouts ----------------------------------------------------------------------------


def _u128(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 16], "little")


def _pk(data: bytes, off: int) -> Pubkey:
    return Pubkey.from_bytes(data[off : off + 32])


def decode_whirlpool(data: bytes) -> Whirlpool:
    """A Whirlpool account (Anchor zero-copy, packed, 653 bytes)."""
    if len(data) != WHIRLPOOL_LEN or data[:8] != WHIRLPOOL_DISCRIMINATOR:
        raise LayoutError("not a Whirlpool account")
    tick_spacing, seed, fee_rate, protocol_fee_rate = struct.unpack_from("<HHHH", data, 41)
    (tick_current_index,) = struct.unpack_from("<i", data, 81)
    return Whirlpool(
        whirlpools_config=_pk(data, 8),
        tick_spacing=tick_spacing,
        fee_tier_index_seed=seed,
        fee_rate=fee_rate,
        protocol_fee_rate=protocol_fee_rate,
        liquidity=_u128(data, 49),
        sqrt_price=_u128(data, 65),
        tick_current_index=tick_current_index,
        token_mint_a=_pk(data, 101),
        token_vault_a=_pk(data, 133),
        fee_growth_global_a=_u128(data, 165),
        token_mint_b=_pk(data, 181),
        token_vault_b=_pk(data, 213),
        fee_growth_global_b=_u128(data, 245),
    )


def decode_fixed_tick_array(data: bytes) -> tuple[TickArray, Pubkey]:
    """A fixed TickArray account (88 ticks of 113 bytes) -> (array, its whirlpool)."""
    if len(data) != FIXED_TICK_ARRAY_LEN or data[:8] != FIXED_TICK_ARRAY_DISCRIMINATOR:
        raise LayoutError("not a fixed TickArray account")
    (start,) = struct.unpack_from("<i", data, 8)
    ticks = []
    for i in range(TICK_ARRAY_SIZE):
        off = 12 + i * TICK_LEN
        if data[off]:
            net = int.from_bytes(data[off + 1 : off + 17], "little", signed=True)
            ticks.append(Tick(True, net, _u128(data, off + 17)))
        else:
            ticks.append(_EMPTY_TICKS[0])
    return TickArray(start, tuple(ticks)), _pk(data, 12 + TICK_ARRAY_SIZE * TICK_LEN)
