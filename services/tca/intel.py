"""Execution-intelligence maths: venue shares, spreads, cost percentiles, venue mix. Pure: no I/O.

Money stays integer (px_1e9, qty_1e8, usd_1e9); a bps figure is one float of an exact integer
ratio, except `shares_bps`, which are whole basis points summing to exactly 10_000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.tca.report import half_up

BPS_ONE = 10_000
_QTY_ONE = 10**8


def shares_bps(weights: Mapping[str, int]) -> dict[str, int]:
    """Each key's share of the summed weights in whole bps, summing to exactly 10_000.

    Largest remainder: every share is floored, and the bps left over go one each to the largest
    remainders (ties to the key that sorts first). All-zero (or empty) weights give all zeros.
    """
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must be >= 0, got {dict(weights)}")
    total = sum(weights.values())
    if not total:
        return {k: 0 for k in weights}
    floors = {k: w * BPS_ONE // total for k, w in weights.items()}
    left = BPS_ONE - sum(floors.values())
    by_remainder = sorted(weights, key=lambda k: (-(weights[k] * BPS_ONE % total), k))
    for k in by_remainder[:left]:
        floors[k] += 1
    return floors


def spread_bps(bid_px_1e9: int, ask_px_1e9: int) -> float | None:
    """Quoted spread over the (floored) mid in bps; None without both sides."""
    if bid_px_1e9 <= 0 or ask_px_1e9 <= 0:
        return None
    mid = (bid_px_1e9 + ask_px_1e9) // 2
    return (ask_px_1e9 - bid_px_1e9) * BPS_ONE / mid


def levels_notional_usd_1e9(levels: Iterable[tuple[int, int]]) -> int:
    """Displayed value of (px_1e9, qty_1e8) levels in USD_1e9, rounded down once."""
    return sum(px * qty for px, qty in levels) // _QTY_ONE


def nearest_rank(values: Sequence[float], pct: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `pct`% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-pct * len(ordered) // 100))  # ceil(pct/100 * n), exact in integers
    return ordered[rank - 1]


def p90_cost_bps(expected_bps: float, realised_bps: Sequence[float]) -> float | None:
    """Downside (P90) cost: the book's expected cost plus how far realised costs spread above
    their median (p90 - p50 of realised implementation shortfall). None without realised costs."""
    p50, p90 = nearest_rank(realised_bps, 50), nearest_rank(realised_bps, 90)
    if p50 is None or p90 is None:
        return None
    return expected_bps + max(0.0, p90 - p50)


def vwap_1e9(gross: int, qty_1e8: int) -> int | None:
    """Volume-weighted price from gross = sum(px_1e9 * qty_1e8), rounded half up (as TCA's
    achieved VWAP); None for no quantity."""
    return half_up(gross, qty_1e8) if qty_1e8 else None


def venue_mix(fills: Iterable[tuple[str, int, int, int]]) -> list[dict[str, Any]]:
    """Aggregate (venue, qty_1e8, px_1e9, fee_usd_1e9) fills per venue, sorted by venue.

    Per venue: fill count, qty, notional (sum px*qty, rounded down once), fees, VWAP (rounded
    half up, like TCA's achieved VWAP) and `share_bps` of the total notional (`shares_bps`)."""
    acc: dict[str, list[int]] = {}
    for venue, qty, px, fee in fills:
        row = acc.setdefault(venue, [0, 0, 0, 0])  # count, qty, gross (px*qty), fees
        row[0] += 1
        row[1] += qty
        row[2] += px * qty
        row[3] += fee
    shares = shares_bps({v: row[2] for v, row in acc.items()})
    return [
        {
            "venue": venue,
            "fill_count": count,
            "qty_1e8": qty,
            "notional_usd_1e9": gross // _QTY_ONE,
            "fees_usd_1e9": fees,
            "vwap_1e9": vwap_1e9(gross, qty),
            "share_bps": shares[venue],
        }
        for venue, (count, qty, gross, fees) in sorted(acc.items())
    ]
