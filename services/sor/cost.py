"""Exact integer cost model.

A venue's charge (taker fee plus latency penalty plus, for a scored venue, its score penalty) is
kept in parts per trillion (ppt) of notional so all add without rounding:
fee_ppm * 1e6 + penalty_ppm_per_ms * latency_ns + score_penalty_ppt(...).
The planner ranks levels by `px_1e9 * unit_multiplier`, the exact signed cost to us of one unit
scaled by 1e12: px * (1e12 + charge) for a buy, -px * (1e12 - charge) for a sell (proceeds are
negative cost). Published amounts are rounded once per allocation from the exact gross
`sum(px_1e9 * qty_1e8)` (units 1e-17 USD): fees and penalties round up (against us), the price
part rounds up for a buy and down for a sell. So a published cost is never better than the exact
one, by at most 4 nano-USD per allocation.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import isqrt

from services.sor.errors import SorError
from services.sor.model import Side

PPT = 10**12  # parts per trillion: the unit of a venue's combined charge
_GROSS_PER_USD_1E9 = 10**8  # px_1e9 * qty_1e8 // 1e8 = USD_1e9
_FEE_DIV = 10**8 * 10**6  # gross * ppm -> USD_1e9
_PPT_DIV = 10**8 * PPT  # gross * ppt -> USD_1e9


def penalty_ppt(latency_ns: int, latency_penalty_ppm_per_ms: int) -> int:
    """Return the latency penalty in ppt of notional: ppm/ms * ns = ppm * 1e-6 ms = ppt."""
    return latency_penalty_ppm_per_ms * latency_ns


# 1/sqrt(2*pi) x 1e6: E[max(0, -X)] for X ~ N(0, 1) is 0.3989...
_HALF_ABS_NORMAL_PPM = 398_943


def block_wait_ppm(block_time_ns: int, vol_ppm_per_sqrt_s: int) -> int:
    """The expected adverse move, in ppm of notional, while a swap waits for its block: the price
    moves as a random walk of `vol_ppm_per_sqrt_s` per square-root second, and only a move
    against the order costs it (one in our favour is capped by the pool, and one beyond the
    collar reverts): E[max(0, -dP)] = vol x sqrt(T) / sqrt(2 pi). Rounded up.

    Why not the CEX latency charge (ppm per ms, linear): that prices being picked off by faster
    traders on a round trip of milliseconds; a block's wait is a diffusion over seconds, growing
    with the square root of the wait, and linear ppm/ms would charge 12 s as 6 %."""
    if block_time_ns <= 0 or vol_ppm_per_sqrt_s <= 0:
        return 0
    sqrt_t_1e15 = isqrt(block_time_ns * 10**21)  # sqrt(T in s) x 1e15
    return -(-vol_ppm_per_sqrt_s * sqrt_t_1e15 * _HALF_ABS_NORMAL_PPM // (10**15 * 10**6))


def score_penalty_ppt(fill_rate_ppm: int | None, slippage_ppm: int | None, unfilled_penalty_ppm: int) -> int:
    """Return a scored venue's extra charge in ppt of notional (0 when nothing is scored).

    The unfilled share (ppm) times what an unfilled unit costs (ppm) is ppt; realised slippage
    (ppm, worse > 0) is charged as is. A venue that filled better than expected gets no credit:
    luck on a few fills must not attract the flow.
    """
    unfilled = 0 if fill_rate_ppm is None else (1_000_000 - fill_rate_ppm) * unfilled_penalty_ppm
    slipped = 0 if slippage_ppm is None else max(slippage_ppm, 0) * 1_000_000
    return unfilled + slipped


def unit_multiplier(side: Side, fee_ppm: int, pen_ppt: int) -> int:
    """Return m so that px_1e9 * m is the signed all-in cost to us of a unit at px, times 1e12."""
    charge = fee_ppm * 1_000_000 + pen_ppt
    return PPT + charge if side == "buy" else -(PPT - charge)


def walk(levels: Sequence[tuple[int, int]], qty_1e8: int) -> tuple[int, int]:
    """Return (gross, worst_px_1e9) of taking `qty_1e8` from the top of `levels`.

    gross = sum(px_1e9 * qty_1e8) over the levels touched (exact). The caller guarantees depth.
    """
    gross = 0
    left = qty_1e8
    px = 0
    for px, q in levels:
        if q >= left:
            return gross + px * left, px
        gross += px * q
        left -= q
    if left:
        raise SorError(f"walk: book too thin for qty_1e8={qty_1e8}, short by {left}")
    return gross, px


def split_cost(side: Side, gross: int, fee_ppm: int, pen_ppt: int) -> tuple[int, int, int, int]:
    """Return (notional, fee, penalty, signed cost to us), all USD_1e9, rounded against us."""
    if side == "buy":
        notional = -(-gross // _GROSS_PER_USD_1E9)
    else:
        notional = gross // _GROSS_PER_USD_1E9
    fee = -(-gross * fee_ppm // _FEE_DIV)
    pen = ppt_charge(gross, pen_ppt)
    signed = notional if side == "buy" else -notional
    return notional, fee, pen, signed + fee + pen


def ppt_charge(gross: int, ppt: int) -> int:
    """Return a charge of `ppt` on `gross` (sum px*qty) in USD_1e9, rounded up (against us)."""
    return -(-gross * ppt // _PPT_DIV)


def avg_px(side: Side, gross: int, qty_1e8: int) -> int:
    """Return the volume-weighted price, rounded against us (up for a buy, down for a sell)."""
    return -(-gross // qty_1e8) if side == "buy" else gross // qty_1e8


def slippage_bps(side: Side, gross: int, qty_1e8: int, mid_px_1e9: int) -> float:
    """Return the price-only slippage of `gross` (sum px*qty) vs the mid, in bps, worse > 0."""
    base = mid_px_1e9 * qty_1e8
    diff = gross - base if side == "buy" else base - gross
    return diff * 10_000 / base  # int / int: one correctly rounded float


def slippage_ppm(side: Side, gross: int, qty_1e8: int, mid_px_1e9: int) -> int:
    """`slippage_bps` as integer ppm (100 ppm = 1 bp), rounded up: worse for us, never flattered."""
    base = mid_px_1e9 * qty_1e8
    diff = gross - base if side == "buy" else base - gross
    return -(-diff * 1_000_000 // base)


def cost_bps(side: Side, cost_usd_1e9: int, qty_1e8: int, mid_px_1e9: int) -> float:
    """Return the all-in signed cost to us vs mid notional, in bps, worse > 0."""
    base = mid_px_1e9 * qty_1e8
    diff = cost_usd_1e9 * _GROSS_PER_USD_1E9 - (base if side == "buy" else -base)
    return diff * 10_000 / base


def order_cost_ppm(levels: Sequence[tuple[int, int]], qty_1e8: int, order_cost_quote_1e9: int) -> int | None:
    """A fixed cost per order (a pool's gas per swap, quote x 1e9) as a fee in ppm over the
    notional of taking `qty_1e8` (or the whole depth, if less) from `levels`, rounded up; None
    when nothing can be taken. Exact when the venue takes that whole quantity; when it takes
    part, the cost spreads over less than charged (the venue is favoured), which
    `min_qty_for_cost` bounds."""
    qty = min(qty_1e8, sum(q for _, q in levels))
    if qty <= 0:
        return None
    notional_1e9 = walk(levels, qty)[0] // _GROSS_PER_USD_1E9
    if notional_1e9 <= 0:
        return None
    return -(-order_cost_quote_1e9 * 1_000_000 // notional_1e9)


def min_qty_for_cost(best_px_1e9: int, order_cost_quote_1e9: int, max_share_ppm: int) -> int:
    """The smallest take (qty_1e8) whose fixed cost stays within `max_share_ppm` of its notional
    at the best price: below it the order would be mostly gas."""
    return -(-order_cost_quote_1e9 * 1_000_000 * _GROSS_PER_USD_1E9 // (best_px_1e9 * max_share_ppm))
