"""Uniswap V2 constant-product math, integer only, exactly as UniswapV2Library computes it."""

from __future__ import annotations

FEE_NUM = 997  # 0.30 % fee, taken from the input
FEE_DEN = 1000


def get_amount_out(amount_in: int, reserve_in: int, reserve_out: int) -> int:
    if amount_in <= 0:
        raise ValueError("INSUFFICIENT_INPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError("INSUFFICIENT_LIQUIDITY")
    with_fee = amount_in * FEE_NUM
    return with_fee * reserve_out // (reserve_in * FEE_DEN + with_fee)


def get_amount_in(amount_out: int, reserve_in: int, reserve_out: int) -> int:
    """Input needed for `amount_out`; raises when the pool cannot pay that much."""
    if amount_out <= 0:
        raise ValueError("INSUFFICIENT_OUTPUT_AMOUNT")
    if reserve_in <= 0 or reserve_out <= amount_out:
        raise ValueError("INSUFFICIENT_LIQUIDITY")
    return reserve_in * amount_out * FEE_DEN // ((reserve_out - amount_out) * FEE_NUM) + 1
