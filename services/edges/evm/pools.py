"""Pools as books: a V2 or V3 pool's state turned into the equivalent L2 levels for given sizes.

The SOR walks price levels; an AMM has a curve. For sizes s1 < s2 < ... (base units, _1e8) we
quote the exact cost of each size with the contracts' own integer math and emit one level per
increment: walking the levels to s_k costs what the pool charges for s_k (to a price tick). The
pool fee is inside the prices (it is taken from the input), so the book's taker fee is zero; gas
is a fixed cost per swap, carried beside the levels for the SOR to weigh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from services.edges.evm import v2math, v3math

PX_SCALE = 10**9  # px_1e9
QTY_SCALE = 10**8  # qty_1e8

# Gas one swap uses through the routers, measured on the local chain (bench/dex.py prints it):
# the SOR needs a figure before a swap; the receipt's gasUsed replaces it afterwards.
V2_SWAP_GAS = 100_000  # 98,404 measured (swapExactTokensForTokens)
V3_SWAP_GAS = 130_000  # 101,871 without a tick crossed, ~131,700 with one


class InsufficientLiquidity(ValueError):
    """The pool cannot pay the asked size."""


@dataclass(frozen=True, slots=True)
class Token:
    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True, slots=True)
class PoolSpec:
    """Which pool, and which of its tokens is the base of the canonical symbol."""

    kind: Literal["v2", "v3"]
    address: str
    token0: Token
    token1: Token
    base_is_token0: bool
    fee_pips: int = 3000  # V2 is always 0.30 %

    @property
    def base(self) -> Token:
        return self.token0 if self.base_is_token0 else self.token1

    @property
    def quote(self) -> Token:
        return self.token1 if self.base_is_token0 else self.token0

    @property
    def symbol(self) -> str:
        return f"{self.base.symbol}-{self.quote.symbol}"

    @property
    def swap_gas(self) -> int:
        return V2_SWAP_GAS if self.kind == "v2" else V3_SWAP_GAS

    # unit conversions (integers; raw = token's smallest unit)
    def base_raw(self, qty_1e8: int) -> int:
        return qty_1e8 * 10**self.base.decimals // QTY_SCALE

    def base_qty_1e8(self, raw: int) -> int:
        return raw * QTY_SCALE // 10**self.base.decimals

    def quote_value_1e9(self, raw: int) -> int:
        """Raw quote units as quote-currency amount x 1e9 (floor)."""
        return raw * PX_SCALE // 10**self.quote.decimals


class PoolState(Protocol):
    def exact_in(self, zero_for_one: bool, amount_in: int) -> int: ...

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int: ...


@dataclass(slots=True)
class V2State:
    reserve0: int
    reserve1: int

    def exact_in(self, zero_for_one: bool, amount_in: int) -> int:
        r_in, r_out = (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        return v2math.get_amount_out(amount_in, r_in, r_out)

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int:
        r_in, r_out = (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        try:
            return v2math.get_amount_in(amount_out, r_in, r_out)
        except ValueError as exc:
            raise InsufficientLiquidity(str(exc)) from exc


@dataclass(slots=True)
class V3State:
    pool: v3math.V3PoolState

    def exact_in(self, zero_for_one: bool, amount_in: int) -> int:
        return v3math.quote_exact_input(self.pool, zero_for_one, amount_in)

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int:
        try:
            return v3math.quote_exact_output(self.pool, zero_for_one, amount_out)
        except v3math.V3MathError as exc:
            raise InsufficientLiquidity(str(exc)) from exc


def buy_cost_raw(spec: PoolSpec, state: PoolState, qty_1e8: int) -> int:
    """Raw quote units paid to receive `qty_1e8` base (exact output, quote in)."""
    return state.exact_out(not spec.base_is_token0, spec.base_raw(qty_1e8))


def sell_proceeds_raw(spec: PoolSpec, state: PoolState, qty_1e8: int) -> int:
    """Raw quote units received for selling `qty_1e8` base (exact input, base in)."""
    return state.exact_in(spec.base_is_token0, spec.base_raw(qty_1e8))


@dataclass(frozen=True, slots=True)
class PoolBook:
    """The equivalent book of one pool for the sizes asked, with the gas a swap costs."""

    venue: str
    symbol: str
    pool: str
    bids: list[tuple[int, int]]  # (px_1e9, qty_1e8), best first
    asks: list[tuple[int, int]]
    swap_gas: int
    gas_price_wei: int

    def gas_cost_wei(self) -> int:
        return self.swap_gas * self.gas_price_wei


def _levels(cum: list[tuple[int, int]], spec: PoolSpec, round_up: bool) -> list[tuple[int, int]]:
    """Cumulative (qty_1e8, quote_raw) -> incremental levels; equal prices merge (the SOR wants
    strictly monotonic levels)."""
    out: list[tuple[int, int]] = []
    prev_q = prev_v = 0
    den_scale = 10**spec.quote.decimals
    for qty, value in cum:
        dq, dv = qty - prev_q, value - prev_v
        prev_q, prev_v = qty, value
        if dq <= 0:
            continue
        # px_1e9 = (dv / 10^qdec) / (dq / 1e8) * 1e9
        num, den = dv * PX_SCALE * QTY_SCALE, dq * den_scale
        px = -(-num // den) if round_up else num // den
        if px <= 0:
            continue
        if out and out[-1][0] == px:
            out[-1] = (px, out[-1][1] + dq)
        elif out and ((px < out[-1][0]) if round_up else (px > out[-1][0])):
            # Integer rounding of a tiny increment can invert the curve by a tick: fold it into
            # the level before so the book stays monotonic and the cumulative cost stays exact.
            out[-1] = (out[-1][0], out[-1][1] + dq)
        else:
            out.append((px, dq))
    return out


def pool_book(
    venue: str, spec: PoolSpec, state: PoolState, sizes_1e8: list[int], gas_price_wei: int = 0
) -> PoolBook:
    """Levels for `sizes_1e8` (ascending): walking the asks to a size costs at least what the pool
    charges for it (asks round up), walking the bids yields at most what it pays (bids round down).
    Sizes the pool cannot fill (or that round to zero raw units) end the side."""
    asks: list[tuple[int, int]] = []
    bids: list[tuple[int, int]] = []
    for qty in sorted(set(s for s in sizes_1e8 if s > 0)):
        if spec.base_raw(qty) == 0:
            continue
        try:
            asks.append((qty, buy_cost_raw(spec, state, qty)))
        except (InsufficientLiquidity, v3math.V3MathError, ValueError):
            break
    for qty in sorted(set(s for s in sizes_1e8 if s > 0)):
        if spec.base_raw(qty) == 0:
            continue
        try:
            proceeds = sell_proceeds_raw(spec, state, qty)
        except (v3math.V3MathError, ValueError):
            break
        if proceeds <= 0:
            continue
        bids.append((qty, proceeds))
    return PoolBook(
        venue=venue,
        symbol=spec.symbol,
        pool=spec.address,
        bids=_levels(bids, spec, round_up=False),
        asks=_levels(asks, spec, round_up=True),
        swap_gas=spec.swap_gas,
        gas_price_wei=gas_price_wei,
    )
