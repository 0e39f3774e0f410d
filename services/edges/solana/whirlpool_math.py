"""Orca Whirlpool integer math: Q64.64 sqrt prices, tick <-> price, token deltas, one swap step.

Ported from the on-chain program (orca-so/whirlpools, programs/whirlpool/src/math/*.rs) so a
quote rounds exactly as the program does. Python ints are unbounded, so the program's fixed
widths (u64, u128, U256) are enforced by explicit checks that raise the program's own error
names: a quote that would fail on chain fails here the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

Q64 = 64
Q64_MASK = (1 << 64) - 1
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1

MIN_TICK_INDEX = -443636
MAX_TICK_INDEX = 443636
MIN_SQRT_PRICE_X64 = 4295048016
MAX_SQRT_PRICE_X64 = 79226673515401279992447579055

FEE_RATE_MUL_VALUE = 1_000_000  # fee rate: hundredths of a bip
PROTOCOL_FEE_RATE_MUL_VALUE = 10_000  # protocol fee rate: bps of the fee

_LOG_B_2_X32 = 59543866431248
_BIT_PRECISION = 14
_LOG_B_P_ERR_MARGIN_LOWER_X64 = 184467440737095516
_LOG_B_P_ERR_MARGIN_UPPER_X64 = 15793534762490258745


class WhirlpoolMathError(ArithmeticError):
    """The program would fail with this error code (`code` is its ErrorCode name)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


# --- tick math (exact bit tables of tick_math.rs) --------------------------------------------

_POS_TABLE = (
    (2, 79236085330515764027303304731),
    (4, 79244008939048815603706035061),
    (8, 79259858533276714757314932305),
    (16, 79291567232598584799939703904),
    (32, 79355022692464371645785046466),
    (64, 79482085999252804386437311141),
    (128, 79736823300114093921829183326),
    (256, 80248749790819932309965073892),
    (512, 81282483887344747381513967011),
    (1024, 83390072131320151908154831281),
    (2048, 87770609709833776024991924138),
    (4096, 97234110755111693312479820773),
    (8192, 119332217159966728226237229890),
    (16384, 179736315981702064433883588727),
    (32768, 407748233172238350107850275304),
    (65536, 2098478828474011932436660412517),
    (131072, 55581415166113811149459800483533),
    (262144, 38992368544603139932233054999993551),
)
_NEG_TABLE = (
    (2, 18444899583751176498),
    (4, 18443055278223354162),
    (8, 18439367220385604838),
    (16, 18431993317065449817),
    (32, 18417254355718160513),
    (64, 18387811781193591352),
    (128, 18329067761203520168),
    (256, 18212142134806087854),
    (512, 17980523815641551639),
    (1024, 17526086738831147013),
    (2048, 16651378430235024244),
    (4096, 15030750278693429944),
    (8192, 12247334978882834399),
    (16384, 8131365268884726200),
    (32768, 3584323654723342297),
    (65536, 696457651847595233),
    (131072, 26294789957452057),
    (262144, 37481735321082),
)


@lru_cache(maxsize=8192)  # pure; a swap loop asks for the same boundary ticks quote after quote
def sqrt_price_from_tick_index(tick: int) -> int:
    """Q64.64 sqrt(1.0001^tick), bit for bit as the program computes it."""
    if tick >= 0:
        ratio = 79232123823359799118286999567 if tick & 1 else 79228162514264337593543950336
        for bit, factor in _POS_TABLE:
            if tick & bit:
                ratio = (ratio * factor) >> 96
        # The positive path is Q96 (shared with Uniswap's table); the program shifts to Q64.
        return ratio >> 32
    abs_tick = -tick
    ratio = 18445821805675392311 if abs_tick & 1 else 18446744073709551616
    for bit, factor in _NEG_TABLE:
        if abs_tick & bit:
            ratio = (ratio * factor) >> 64
    return ratio


def tick_index_from_sqrt_price(sqrt_price_x64: int) -> int:
    """The largest tick whose sqrt price is <= `sqrt_price_x64` (the program's log2 estimate)."""
    msb = sqrt_price_x64.bit_length() - 1
    log2p_integer_x32 = (msb - 64) << 32
    bit = 0x8000_0000_0000_0000
    precision = 0
    log2p_fraction_x64 = 0
    r = sqrt_price_x64 >> (msb - 63) if msb >= 64 else sqrt_price_x64 << (63 - msb)
    while bit > 0 and precision < _BIT_PRECISION:
        r *= r
        more_than_two = r >> 127
        r >>= 63 + more_than_two
        log2p_fraction_x64 += bit * more_than_two
        bit >>= 1
        precision += 1
    log2p_x32 = log2p_integer_x32 + (log2p_fraction_x64 >> 32)
    logbp_x64 = log2p_x32 * _LOG_B_2_X32
    tick_low = (logbp_x64 - _LOG_B_P_ERR_MARGIN_LOWER_X64) >> 64
    tick_high = (logbp_x64 + _LOG_B_P_ERR_MARGIN_UPPER_X64) >> 64
    if tick_low == tick_high:
        return tick_low
    return tick_high if sqrt_price_from_tick_index(tick_high) <= sqrt_price_x64 else tick_low


# --- token math (token_math.rs) ---------------------------------------------------------------


def _div_round_up_if(n: int, d: int, round_up: bool) -> int:
    if d == 0:
        raise WhirlpoolMathError("DivideByZero")
    q, r = divmod(n, d)
    return q + 1 if round_up and r else q


def _to_u128(x: int) -> int:
    if x > U128_MAX:
        raise WhirlpoolMathError("NumberDownCastError")
    return x


def try_get_amount_delta_a(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int | str:
    """Token A between two sqrt prices; an error name (str) where the program says ExceedsMax."""
    lower, upper = (sqrt_price_1, sqrt_price_0) if sqrt_price_0 > sqrt_price_1 else (sqrt_price_0, sqrt_price_1)
    product = liquidity * (upper - lower)
    if product >> 192:  # U256 checked_shift_word_left
        raise WhirlpoolMathError("MultiplicationOverflow")
    numerator = product << 64
    denominator = upper * lower
    q, r = divmod(numerator, denominator)
    if round_up and r:
        q += 1
    if q > U128_MAX:
        return "NumberDownCastError"
    if q > U64_MAX:
        return "TokenMaxExceeded"
    return q


def try_get_amount_delta_b(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int | str:
    lower, upper = (sqrt_price_1, sqrt_price_0) if sqrt_price_0 > sqrt_price_1 else (sqrt_price_0, sqrt_price_1)
    n1 = upper - lower
    if liquidity == 0 or n1 == 0:
        return 0
    p = liquidity * n1
    if p > U128_MAX:
        return "MultiplicationShiftRightOverflow"
    result = p >> 64
    should_round = round_up and (p & Q64_MASK) > 0
    if should_round and result == U64_MAX:
        return "MultiplicationOverflow"
    return result + 1 if should_round else result


def _ok(value: int | str) -> int:
    if isinstance(value, str):
        raise WhirlpoolMathError(value)
    return value


def get_amount_delta_a(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int:
    return _ok(try_get_amount_delta_a(sqrt_price_0, sqrt_price_1, liquidity, round_up))


def get_amount_delta_b(sqrt_price_0: int, sqrt_price_1: int, liquidity: int, round_up: bool) -> int:
    return _ok(try_get_amount_delta_b(sqrt_price_0, sqrt_price_1, liquidity, round_up))


def get_next_sqrt_price_from_a_round_up(sqrt_price: int, liquidity: int, amount: int, is_input: bool) -> int:
    if amount == 0:
        return sqrt_price
    product = sqrt_price * amount
    lp = liquidity * sqrt_price
    if lp >> 192:
        raise WhirlpoolMathError("MultiplicationOverflow")
    numerator = lp << 64
    liquidity_shift_left = liquidity << 64
    if not is_input and liquidity_shift_left <= product:
        raise WhirlpoolMathError("DivideByZero")
    denominator = liquidity_shift_left + product if is_input else liquidity_shift_left - product
    q, r = divmod(numerator, denominator)
    price = _to_u128(q + 1 if r else q)
    if price < MIN_SQRT_PRICE_X64:
        raise WhirlpoolMathError("TokenMinSubceeded")
    if price > MAX_SQRT_PRICE_X64:
        raise WhirlpoolMathError("TokenMaxExceeded")
    return price


def get_next_sqrt_price_from_b_round_down(sqrt_price: int, liquidity: int, amount: int, is_input: bool) -> int:
    delta = _div_round_up_if(amount << 64, liquidity, not is_input)
    if is_input:
        out = sqrt_price + delta
        if out > U128_MAX:
            raise WhirlpoolMathError("SqrtPriceOutOfBounds")
        return out
    if delta > sqrt_price:
        raise WhirlpoolMathError("SqrtPriceOutOfBounds")
    return sqrt_price - delta


def get_next_sqrt_price(sqrt_price: int, liquidity: int, amount: int, is_input: bool, a_to_b: bool) -> int:
    if is_input == a_to_b:
        return get_next_sqrt_price_from_a_round_up(sqrt_price, liquidity, amount, is_input)
    return get_next_sqrt_price_from_b_round_down(sqrt_price, liquidity, amount, is_input)


# --- one swap step (swap_math.rs compute_swap) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class SwapStep:
    amount_in: int
    amount_out: int
    next_price: int
    fee_amount: int


def _fixed_delta(cur: int, target: int, liq: int, is_input: bool, a_to_b: bool) -> int | str:
    if a_to_b == is_input:
        return try_get_amount_delta_a(cur, target, liq, is_input)
    return try_get_amount_delta_b(cur, target, liq, is_input)


def _unfixed_delta(cur: int, target: int, liq: int, is_input: bool, a_to_b: bool) -> int:
    if a_to_b == is_input:
        return get_amount_delta_b(cur, target, liq, not is_input)
    return get_amount_delta_a(cur, target, liq, not is_input)


def compute_swap(
    amount_remaining: int,
    fee_rate: int,
    liquidity: int,
    sqrt_price_current: int,
    sqrt_price_target: int,
    amount_specified_is_input: bool,
    a_to_b: bool,
) -> SwapStep:
    """One step towards `sqrt_price_target` with constant liquidity; the fee is taken on input."""
    initial = _fixed_delta(sqrt_price_current, sqrt_price_target, liquidity, amount_specified_is_input, a_to_b)
    exceeds = isinstance(initial, str)
    amount_calc = amount_remaining
    if amount_specified_is_input:
        amount_calc = amount_remaining * (FEE_RATE_MUL_VALUE - fee_rate) // FEE_RATE_MUL_VALUE
    if not exceeds and initial <= amount_calc:  # type: ignore[operator]
        next_price = sqrt_price_target
    else:
        next_price = get_next_sqrt_price(
            sqrt_price_current, liquidity, amount_calc, amount_specified_is_input, a_to_b
        )
    is_max_swap = next_price == sqrt_price_target
    unfixed = _unfixed_delta(sqrt_price_current, next_price, liquidity, amount_specified_is_input, a_to_b)
    if not is_max_swap or exceeds:
        fixed = _ok(_fixed_delta(sqrt_price_current, next_price, liquidity, amount_specified_is_input, a_to_b))
    else:
        fixed = initial  # type: ignore[assignment]
    if amount_specified_is_input:
        amount_in, amount_out = fixed, unfixed
    else:
        amount_in, amount_out = unfixed, fixed
        amount_out = min(amount_out, amount_remaining)
    if amount_specified_is_input and not is_max_swap:
        fee_amount = amount_remaining - amount_in
    else:
        n = amount_in * fee_rate
        d = FEE_RATE_MUL_VALUE - fee_rate
        fee_amount = n // d + (1 if n % d else 0)
        if fee_amount > U64_MAX:
            raise WhirlpoolMathError("NumberCastError")
    return SwapStep(amount_in, amount_out, next_price, fee_amount)
