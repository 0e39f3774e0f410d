"""Values the router takes and returns. All money is integer: px_1e9, qty_1e8, usd_1e9, ppm."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from events.base import Side
from services.sor.errors import InvalidBook


class VenueBook(msgspec.Struct, frozen=True, kw_only=True):
    """What one venue offers for this order: the side we take from, its fee and its limits.

    `levels` is the opposite side best-first as (px_1e9, qty_1e8): asks ascending for a buy,
    bids descending for a sell (the order `events.market.BookSnapshot` already uses).
    `lot_1e8` is the quantity increment, `min_qty_1e8` the smallest order the venue takes,
    `max_qty_1e8` the available balance already converted to base units by the caller
    (None = unlimited), `latency_ns` the EMA round trip (`latency.ema_step`), `region_rtt_ns`
    the measured round trip from the router's region to the region of the venue's edge (0 for a
    local venue): it is added to the venue's latency, measured or estimated.
    `taker_fee_ppm` may be negative (a taker rebate) but above -1_000_000.
    """

    venue: str
    levels: Sequence[tuple[int, int]]
    taker_fee_ppm: int
    latency_ns: int = 0
    region_rtt_ns: int = 0
    min_qty_1e8: int = 0
    lot_1e8: int = 1
    tick_1e9: int = 1
    max_qty_1e8: int | None = None

    def __post_init__(self) -> None:
        # Validated once at construction so `plan_order` only has to check the direction.
        v = self.venue
        if not v:
            raise InvalidBook("venue must be a non-empty name, got ''")
        if self.lot_1e8 < 1:
            raise InvalidBook(f"{v}: lot_1e8 must be >= 1, got {self.lot_1e8}")
        if self.tick_1e9 < 1:
            raise InvalidBook(f"{v}: tick_1e9 must be >= 1, got {self.tick_1e9}")
        if self.min_qty_1e8 < 0:
            raise InvalidBook(f"{v}: min_qty_1e8 must be >= 0, got {self.min_qty_1e8}")
        if self.max_qty_1e8 is not None and self.max_qty_1e8 < 0:
            raise InvalidBook(f"{v}: max_qty_1e8 must be >= 0 or None, got {self.max_qty_1e8}")
        if self.latency_ns < 0:
            raise InvalidBook(f"{v}: latency_ns must be >= 0, got {self.latency_ns}")
        if self.region_rtt_ns < 0:
            raise InvalidBook(f"{v}: region_rtt_ns must be >= 0, got {self.region_rtt_ns}")
        if not -1_000_000 < self.taker_fee_ppm < 1_000_000:
            raise InvalidBook(f"{v}: taker_fee_ppm must be in (-1e6, 1e6), got {self.taker_fee_ppm}")
        levels = self.levels
        for i, (px, qty) in enumerate(levels):
            if px <= 0 or qty <= 0:
                raise InvalidBook(f"{v}: level {i} must have px_1e9 > 0 and qty_1e8 > 0, got {(px, qty)}")
        if len(levels) >= 2:
            up = levels[1][0] > levels[0][0]
            for i in range(1, len(levels)):
                a, b = levels[i - 1][0], levels[i][0]
                if (b > a) != up or a == b:
                    raise InvalidBook(
                        f"{v}: levels must be strictly monotonic best-first, level {i} px_1e9={b} after {a}"
                    )


class VenueScore(msgspec.Struct, frozen=True, kw_only=True):
    """What executing on a venue has shown (from `events.tca.VenueScored`); None = not measured.

    A measured `latency_ns` replaces the book's estimate in the latency penalty; a fill rate
    below 1_000_000 ppm and a positive realised slippage (ppm, worse > 0) raise the venue's cost
    (`cost.score_penalty_ppt`). A venue without a score is costed exactly as without scores.
    """

    latency_ns: int | None = None
    fill_rate_ppm: int | None = None
    realised_slippage_ppm: int | None = None

    def __post_init__(self) -> None:
        if self.latency_ns is not None and self.latency_ns < 0:
            raise InvalidBook(f"score latency_ns must be >= 0 or None, got {self.latency_ns}")
        if self.fill_rate_ppm is not None and not 0 <= self.fill_rate_ppm <= 1_000_000:
            raise InvalidBook(f"score fill_rate_ppm must be in [0, 1e6] or None, got {self.fill_rate_ppm}")


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    """One child of the plan: take `qty_1e8` from the top of `venue`'s book.

    Signed "cost to us": `est_cost_usd_1e9` = +notional (buy) or -notional (sell), plus fee
    plus latency penalty plus the venue score's penalty (0 without a score). Costs round up
    against us, proceeds round down (see `cost.py`).
    `worst_px_1e9` is the last level touched: a marketable IOC limit at it fills the plan.
    """

    venue: str
    qty_1e8: int
    est_avg_px_1e9: int
    worst_px_1e9: int
    fee_ppm: int
    notional_usd_1e9: int  # unsigned price part: paid (buy, rounded up) or received (sell, down)
    fee_usd_1e9: int
    latency_penalty_usd_1e9: int
    est_cost_usd_1e9: int
    gross_1e17: int  # exact sum(px_1e9 * qty_1e8) over the levels taken, before rounding
    score_penalty_usd_1e9: int = 0  # fill-rate and slippage charge of a scored venue

    @property
    def traded_cost_usd_1e9(self) -> int:
        """Price and fee alone, without the router's penalties: what the venue would charge,
        on the same cost model as the fills' actual cost (TCA compares the two)."""
        return self.est_cost_usd_1e9 - self.latency_penalty_usd_1e9 - self.score_penalty_usd_1e9


class RoutePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The chosen split and what it is expected to cost.

    `qty_1e8` is what was asked; `filled_qty_1e8` what the allocations sum to; the rest is
    `unroutable_qty_1e8` (books too thin, limit price, balances, lots or minimums).
    Bps are floats (ratios, not money), signed so worse than `arrival_mid_px_1e9` is positive:
    `expected_slippage_bps` is price only, `expected_cost_bps` includes fees and penalty.
    With nothing routed, avg px is 0 and both bps are 0.0.
    `best_single_venue*` describe the venue that alone fills the most, cheapest on a tie; its
    `best_single_venue_cost_usd_1e9` is on the router's model (penalties included, comparable
    with `expected_cost_usd_1e9`), `best_single_venue_traded_cost_usd_1e9` is its price and fee
    alone: the counterfactual a TCA report compares the order's actual price and fees with.
    """

    side: Side
    qty_1e8: int
    allocations: tuple[Allocation, ...]
    filled_qty_1e8: int
    unroutable_qty_1e8: int
    arrival_mid_px_1e9: int
    limit_px_1e9: int | None
    expected_avg_px_1e9: int
    expected_cost_usd_1e9: int
    expected_slippage_bps: float
    expected_cost_bps: float
    expected_slippage_ppm: int = 0  # expected_slippage_bps as integer ppm (rounded up), what events carry
    best_single_venue: str | None
    best_single_venue_qty_1e8: int
    best_single_venue_cost_usd_1e9: int | None
    best_single_venue_traded_cost_usd_1e9: int | None = None
