"""Independent re-statements of the cost rules and the LP, used as test oracles.

Written from the documented rules (cost.py's docstring), not by calling the package, so a
bug in the package's arithmetic cannot hide in its own checker.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.sor import Allocation, VenueBook


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def venue_cost(side: str, book: VenueBook, qty: int, pen_ppm_per_ms: int) -> int:
    """Signed cost to us of taking `qty` from the top of `book` (rounded against us)."""
    gross, left = 0, qty
    for px, q in book.levels:
        t = min(q, left)
        gross += px * t
        left -= t
        if left == 0:
            break
    assert left == 0, "oracle: book too thin"
    fee = ceil_div(gross * book.taker_fee_ppm, 10**14)
    pen = ceil_div(gross * pen_ppm_per_ms * book.latency_ns, 10**20)
    price = ceil_div(gross, 10**8) if side == "buy" else -(gross // 10**8)
    return price + fee + pen


def plan_cost(side: str, books: Sequence[VenueBook], allocations: Sequence[Allocation], pen: int) -> int:
    by_name = {b.venue: b for b in books}
    return sum(venue_cost(side, by_name[a.venue], a.qty_1e8, pen) for a in allocations)


def within_limit(side: str, px: int, limit: int | None) -> bool:
    return limit is None or (px <= limit if side == "buy" else px >= limit)


def capacity(side: str, book: VenueBook, limit: int | None) -> int:
    """How much `book` alone can fill: depth within the limit, capped by balance (no lots)."""
    depth = sum(q for px, q in book.levels if within_limit(side, px, limit))
    return depth if book.max_qty_1e8 is None else min(depth, book.max_qty_1e8)


def lp_optimum(side: str, target: int, books: Sequence[VenueBook], pen: int, limit: int | None) -> float:
    """Return the optimal signed cost in USD of filling exactly `target` (scipy's linprog).

    Variables: one per level, 0 <= x <= level size (base units as floats); each venue's sum
    <= its balance cap; the sum equals `target`.
    """
    import numpy as np  # here, so the scipy-free oracles import without scipy installed
    from scipy.optimize import linprog

    c: list[float] = []
    bounds: list[tuple[float, float]] = []
    cap_rows: list[list[int]] = []
    caps: list[float] = []
    for b in books:
        charge = b.taker_fee_ppm / 1e6 + pen * b.latency_ns / 1e12
        cols = []
        for px, q in b.levels:
            if not within_limit(side, px, limit):
                continue
            cols.append(len(c))
            c.append(px / 1e9 * (1 + charge) if side == "buy" else -px / 1e9 * (1 - charge))
            bounds.append((0.0, q / 1e8))
        if b.max_qty_1e8 is not None and cols:
            cap_rows.append(cols)
            caps.append(b.max_qty_1e8 / 1e8)
    n = len(c)
    a_ub = np.zeros((len(cap_rows), n))
    for r, cols in enumerate(cap_rows):
        a_ub[r, cols] = 1.0
    res = linprog(
        np.array(c),
        A_ub=a_ub if cap_rows else None,
        b_ub=np.array(caps) if cap_rows else None,
        A_eq=np.ones((1, n)),
        b_eq=np.array([target / 1e8]),
        bounds=bounds,
        method="highs",
    )
    assert res.status == 0, res.message
    return float(res.fun)
