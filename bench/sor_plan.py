"""SOR plan latency: plan_order on 10 venues x 20 levels beside scipy's linprog on the same LP.

Run: .venv/bin/python bench/sor_plan.py [--problems N] [--rounds R] [--seed S]
Prints p50/p99 in µs of `plan_order` (fees, latency penalty, balance caps, no lots: the exact
LP path) and, as the baseline measured in the same run, of scipy.optimize.linprog (HiGHS) solving
the identical level-by-level LP, with the ratio. A second line times the lot/minimum path.
Goal: plan p50 <= 100 µs.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.sor import SorParams, VenueBook, plan_order  # noqa: E402

VENUES = 10
LEVELS = 20
MID = 100_000 * 10**9  # 100k USD


def make_problem(rng: random.Random, lots: bool) -> tuple[str, int, list[VenueBook]]:
    side = rng.choice(["buy", "sell"])
    books = []
    total = 0
    for v in range(VENUES):
        px = MID + rng.randint(1, 50) * 10**9 * (1 if side == "buy" else -1)
        levels = []
        for _ in range(LEVELS):
            q = rng.randint(1, 200) * 10**6  # 0.01 .. 2 BTC
            levels.append((px, q))
            total += q
            px += rng.randint(1, 20) * 10**9 * (1 if side == "buy" else -1)
        books.append(
            VenueBook(
                venue=f"v{v}",
                levels=levels,
                taker_fee_ppm=rng.choice([0, 100, 200, 400, 600, 1000]),
                latency_ns=rng.randint(100_000, 20_000_000),
                max_qty_1e8=rng.choice([None, None, rng.randint(1, 20) * 10**8]),
                lot_1e8=rng.choice([10**3, 10**4, 10**5]) if lots else 1,
                min_qty_1e8=rng.choice([0, 10**5, 10**6]) if lots else 0,
            )
        )
    qty = total * rng.randint(5, 40) // 100  # 5..40% of all depth
    return side, qty, books


def pct(samples: list[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p * len(s)))]


def time_plans(problems: list[tuple[str, int, list[VenueBook]]], rounds: int, params: SorParams) -> list[float]:
    out = []
    for _ in range(rounds):
        for side, qty, books in problems:
            t0 = time.perf_counter_ns()
            plan_order(side, qty, books, arrival_mid_px_1e9=MID, params=params)  # type: ignore[arg-type]
            out.append((time.perf_counter_ns() - t0) / 1000)
    return out


def time_linprog(problems: list[tuple[str, int, list[VenueBook]]], params: SorParams) -> list[float]:
    import numpy as np
    from scipy.optimize import linprog

    out = []
    for side, qty, books in problems:
        t0 = time.perf_counter_ns()
        c, ub, a_ub, b_ub = [], [], [], []
        col = 0
        for b in books:
            charge = (b.taker_fee_ppm * 1_000_000 + params.latency_penalty_ppm_per_ms * b.latency_ns) / 1e12
            row = [0.0] * (VENUES * LEVELS)
            for px, q in b.levels:
                c.append(px / 1e9 * (1 + charge) if side == "buy" else -px / 1e9 * (1 - charge))
                ub.append(q)
                row[col] = 1.0
                col += 1
            if b.max_qty_1e8 is not None:
                a_ub.append(row)
                b_ub.append(b.max_qty_1e8)
        res = linprog(
            np.array(c),
            A_ub=np.array(a_ub) if a_ub else None,
            b_ub=np.array(b_ub) if b_ub else None,
            A_eq=np.ones((1, col)),
            b_eq=np.array([qty]),
            bounds=[(0, u) for u in ub],
            method="highs",
        )
        out.append((time.perf_counter_ns() - t0) / 1000)
        assert res.status in (0, 2), res.message  # 2 = infeasible when caps bind below qty
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    params = SorParams(latency_penalty_ppm_per_ms=20)
    exact = [make_problem(rng, lots=False) for _ in range(args.problems)]
    lotted = [make_problem(rng, lots=True) for _ in range(args.problems)]
    time_plans(exact[:20], 1, params)  # warm-up
    plan = time_plans(exact, args.rounds, params)
    plan_lots = time_plans(lotted, args.rounds, params)
    base = time_linprog(exact, params)
    p50, p99, b50, b99 = pct(plan, 0.5), pct(plan, 0.99), pct(base, 0.5), pct(base, 0.99)
    print(f"SOR plan_order  {VENUES} venues x {LEVELS} levels: p50 {p50:8.1f} µs  p99 {p99:8.1f} µs  (n={len(plan)})")
    print(f"scipy linprog   same LP (baseline):       p50 {b50:8.1f} µs  p99 {b99:8.1f} µs  (n={len(base)})")
    print(f"ratio linprog/plan_order:                 p50 {b50 / p50:8.1f}x    p99 {b99 / p99:8.1f}x")
    print(
        f"SOR plan_order  with lots+minimums:       p50 {pct(plan_lots, 0.5):8.1f} µs  "
        f"p99 {pct(plan_lots, 0.99):8.1f} µs  mean {statistics.fmean(plan_lots):.1f} µs"
    )
    print(f"goal plan_order p50 <= 100 µs: {'met' if p50 <= 100 else 'NOT met'}")


if __name__ == "__main__":
    main()
