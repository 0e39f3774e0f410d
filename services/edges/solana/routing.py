"""Paths through Solana pools (one hop or two, A->B->C), order splits between paths, and the
equivalent L2 levels for the sizes the SOR asks about. Integers throughout.

A pool quotes raw token units in either direction (`exact_in`, `exact_out`). A path chains pools:
exact input runs forwards, exact output backwards (each hop asks the next for what it must
deliver), as a router program executes it. For sizes s1 < s2 < ... (base, _1e8) a path's book has
one level per increment: walking the levels to s_k costs what the path charges for s_k, rounded
against the taker to the price unit. Pool fees are inside the prices (taken from the input), so
the taker fee is zero; the network fee per transaction is carried beside the levels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

PX_SCALE = 10**9  # px_1e9
QTY_SCALE = 10**8  # qty_1e8
LAMPORTS_PER_SIGNATURE = 5_000


class Pool(Protocol):
    def exact_in(self, zero_for_one: bool, amount_in: int) -> int: ...

    def exact_out(self, zero_for_one: bool, amount_out: int) -> int: ...


@dataclass(frozen=True, slots=True)
class Token:
    mint: str
    symbol: str
    decimals: int


@dataclass(frozen=True, slots=True)
class PoolRef:
    """A pool and its two tokens in the pool's own order (token 0 / A first)."""

    venue: str  # "raydium_cpmm" | "orca_whirlpool"
    address: str
    token0: Token
    token1: Token
    pool: Pool
    compute_units: int  # what one swap through it costs, for the priority fee


@dataclass(frozen=True, slots=True)
class Hop:
    ref: PoolRef
    zero_for_one: bool

    @property
    def token_in(self) -> Token:
        return self.ref.token0 if self.zero_for_one else self.ref.token1

    @property
    def token_out(self) -> Token:
        return self.ref.token1 if self.zero_for_one else self.ref.token0


class NoRoute(ValueError):
    """The pools do not connect the two tokens, or cannot pay the size."""


@dataclass(frozen=True, slots=True)
class Path:
    hops: tuple[Hop, ...]

    @staticmethod
    def through(token_in: Token, refs: Sequence[PoolRef]) -> Path:
        """The path that starts with `token_in` and goes through `refs` in order."""
        hops = []
        cur = token_in
        for ref in refs:
            if ref.token0.mint == cur.mint:
                hop = Hop(ref, True)
            elif ref.token1.mint == cur.mint:
                hop = Hop(ref, False)
            else:
                raise NoRoute(f"{ref.address} does not trade {cur.symbol}")
            hops.append(hop)
            cur = hop.token_out
        return Path(tuple(hops))

    @property
    def token_in(self) -> Token:
        return self.hops[0].token_in

    @property
    def token_out(self) -> Token:
        return self.hops[-1].token_out

    @property
    def compute_units(self) -> int:
        return sum(h.ref.compute_units for h in self.hops)

    @property
    def label(self) -> str:
        return ">".join(f"{h.ref.venue}:{h.ref.address}" for h in self.hops)

    def reversed(self) -> Path:
        return Path(tuple(Hop(h.ref, not h.zero_for_one) for h in reversed(self.hops)))

    def exact_in(self, amount_in: int) -> int:
        amount = amount_in
        for hop in self.hops:
            amount = hop.ref.pool.exact_in(hop.zero_for_one, amount)
        return amount

    def exact_out(self, amount_out: int) -> int:
        amount = amount_out
        for hop in reversed(self.hops):
            amount = hop.ref.pool.exact_out(hop.zero_for_one, amount)
        return amount


def _raw(qty_1e8: int, token: Token) -> int:
    return qty_1e8 * 10**token.decimals // QTY_SCALE


def _price_1e9(quote_raw: int, quote: Token, base_qty_1e8: int, round_up: bool) -> int:
    """(quote_raw / 10^qdec) / (qty / 1e8) * 1e9, rounded against the taker."""
    num = quote_raw * QTY_SCALE * PX_SCALE
    den = 10**quote.decimals * base_qty_1e8
    q, r = divmod(num, den)
    return q + 1 if round_up and r else q


@dataclass(frozen=True, slots=True)
class PathBook:
    """A path's equivalent book for the sizes asked (best first), with its network fee."""

    venue: str
    symbol: str
    route: str
    bids: list[tuple[int, int]]  # (px_1e9, qty_1e8)
    asks: list[tuple[int, int]]
    compute_units: int
    fee_lamports: int  # base fee + priority fee for one transaction carrying the swap


def _levels(cum: list[tuple[int, int]], quote: Token, asks: bool) -> list[tuple[int, int]]:
    """Cumulative (qty_1e8, quote_raw) -> incremental levels. Prices are made monotonic against
    the taker (an ask never cheaper than the one before) and equal prices merge."""
    out: list[tuple[int, int]] = []
    prev_q = prev_v = 0
    for qty, value in cum:
        dq, dv = qty - prev_q, value - prev_v
        prev_q, prev_v = qty, value
        if dq <= 0:
            continue
        px = _price_1e9(dv, quote, dq, round_up=asks)
        if out and (px < out[-1][0] if asks else px > out[-1][0]):
            px = out[-1][0]
        if out and out[-1][0] == px:
            out[-1] = (px, out[-1][1] + dq)
        elif px > 0:
            out.append((px, dq))
    return out


def path_book(
    buy_path: Path,
    sizes_1e8: Sequence[int],
    *,
    cu_price_micro_lamports: int = 0,
) -> PathBook:
    """Levels for buying (asks) and selling (bids) the base along `buy_path` (quote -> ... -> base)
    and its reverse. A size the path cannot pay ends that side's levels."""
    base, quote = buy_path.token_out, buy_path.token_in
    sell_path = buy_path.reversed()
    asks_cum: list[tuple[int, int]] = []
    bids_cum: list[tuple[int, int]] = []
    ask_open = bid_open = True
    for size in sorted(set(sizes_1e8)):
        raw = _raw(size, base)
        if raw <= 0:
            continue
        if ask_open:
            try:
                asks_cum.append((size, buy_path.exact_out(raw)))
            except ArithmeticError:
                ask_open = False
        if bid_open:
            try:
                bids_cum.append((size, sell_path.exact_in(raw)))
            except ArithmeticError:
                bid_open = False
    cu = buy_path.compute_units
    return PathBook(
        venue=buy_path.hops[0].ref.venue if len(buy_path.hops) == 1 else "solana",
        symbol=f"{base.symbol}-{quote.symbol}",
        route=buy_path.label,
        bids=_levels(bids_cum, quote, asks=False),
        asks=_levels(asks_cum, quote, asks=True),
        compute_units=cu,
        fee_lamports=LAMPORTS_PER_SIGNATURE + priority_fee_lamports(cu, cu_price_micro_lamports),
    )


def priority_fee_lamports(compute_unit_limit: int, cu_price_micro_lamports: int) -> int:
    """The runtime charges ceil(limit * price / 1e6) lamports on top of the signature fee."""
    return -(-compute_unit_limit * cu_price_micro_lamports // 1_000_000)


@dataclass(frozen=True, slots=True)
class Split:
    """How much output each path delivers and what it costs (exact output: buying `amount_out`)."""

    parts: list[tuple[Path, int, int]]  # (path, amount_out_raw, amount_in_raw)

    @property
    def amount_in(self) -> int:
        return sum(p[2] for p in self.parts)

    @property
    def amount_out(self) -> int:
        return sum(p[1] for p in self.parts)


def split_exact_out(paths: Sequence[Path], amount_out: int, chunks: int = 32) -> Split:
    """Buy `amount_out` (raw units of the common output token) across `paths` at least input.

    Greedy over equal chunks: each chunk goes to the path whose input rises least for it. Swap
    costs along a constant-product or concentrated-liquidity curve are convex in size, so the
    greedy allocation is optimal at the chunk's granularity. A path that cannot pay the next
    chunk drops out."""
    if not paths:
        raise NoRoute("no path")
    if len({(p.token_in.mint, p.token_out.mint) for p in paths}) != 1:
        raise NoRoute("paths must share their input and output tokens")
    chunks = max(1, min(chunks, amount_out))
    base, extra = divmod(amount_out, chunks)
    steps = [base + (1 if i < extra else 0) for i in range(chunks)]
    alloc = [0] * len(paths)
    cost = [0] * len(paths)
    for step in steps:
        best: tuple[int, int, int] | None = None  # (marginal, index, new cost)
        for i, path in enumerate(paths):
            try:
                new_cost = path.exact_out(alloc[i] + step)
            except ArithmeticError:
                continue
            marginal = new_cost - cost[i]
            if best is None or marginal < best[0]:
                best = (marginal, i, new_cost)
        if best is None:
            raise NoRoute("the paths cannot pay the size")
        _, i, new_cost = best
        alloc[i] += step
        cost[i] = new_cost
    return Split([(p, a, c) for p, a, c in zip(paths, alloc, cost, strict=True) if a > 0])


def split_exact_in(paths: Sequence[Path], amount_in: int, chunks: int = 32) -> list[tuple[Path, int, int]]:
    """Sell `amount_in` across `paths` for most output (the same greedy on concave proceeds)."""
    if not paths:
        raise NoRoute("no path")
    chunks = max(1, min(chunks, amount_in))
    base, extra = divmod(amount_in, chunks)
    alloc = [0] * len(paths)
    got = [0] * len(paths)
    for k in range(chunks):
        step = base + (1 if k < extra else 0)
        best: tuple[int, int, int] | None = None
        for i, path in enumerate(paths):
            try:
                new_out = path.exact_in(alloc[i] + step)
            except ArithmeticError:
                continue
            gain = new_out - got[i]
            if best is None or gain > best[0]:
                best = (gain, i, new_out)
        if best is None:
            raise NoRoute("the paths cannot take the size")
        _, i, new_out = best
        alloc[i] += step
        got[i] = new_out
    return [(p, a, g) for p, a, g in zip(paths, alloc, got, strict=True) if a > 0]
