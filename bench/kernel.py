"""Kernel throughput on a synthetic L2 stream (replay/synthetic.py), each figure beside a bare
loop decoding the same events in the same run.

Run: .venv/bin/python bench/kernel.py [--events 1000000] [--order-every 1000]

1. baseline: decode each encoded event (msgpack -> Struct), nothing else.
2. (a) book + NBBO: decode and fold into projections/market.py `NbboFold` (the books, and the
   NBBO recomputed when a venue's top of book changed); (a') the same books with the NBBO
   recomputed after every event, as the NBBO service does today.
3. full kernel: decode and run the backtest (replay/backtest.py: graph engine, risk, router,
   sandbox matching with latency and queue position, TCA) with a market order every
   `--order-every` events, alternating buy and sell.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from events import decode, encode  # noqa: E402
from projections.market import MarketBooks, NbboFold  # noqa: E402
from replay.backtest import run_backtest  # noqa: E402
from replay.synthetic import synthetic_l2  # noqa: E402
from services.risk import RiskLimits  # noqa: E402

STEP_NS = 1_000_000  # one synthetic event per ms


def timed(label: str, n: int, run: object, baseline_s: float | None) -> float:
    wall0, cpu0 = time.perf_counter(), time.process_time()
    run()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    ratio = "" if baseline_s is None else f"   {wall / baseline_s:5.1f} x baseline time"
    print(f"{label:<34} {n / wall:>12,.0f} events/s  (cpu {n / cpu:>12,.0f}/s){ratio}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--order-every", type=int, default=1_000)
    args = parser.parse_args()
    n, every = args.events, args.order_every
    print(f"load average {os.getloadavg()[0]:.2f}; {n:,} events (2 venues, BTC-USDT), an order every {every:,}")
    market = list(synthetic_l2(events=n, seed=1, step_ns=STEP_NS))
    blobs = [encode(e) for e in market]
    t0 = market[0].ts_ns
    offsets = [market[i].ts_ns - t0 for i in range(every, n, every)]  # an order every `every` events
    del market

    def baseline() -> None:
        for blob in blobs:
            decode(blob)

    def book_and_nbbo() -> None:
        fold = NbboFold()
        for blob in blobs:
            fold.apply(decode(blob))

    def book_and_nbbo_every_event() -> None:
        books = MarketBooks()
        for blob in blobs:
            books.apply(decode(blob))
            books.nbbo("BTC-USDT")

    orders = [(offset, {"symbol": "BTC-USDT", "side": "buy" if i % 2 else "sell", "qty": 0.02})
              for i, offset in enumerate(offsets)]
    summary = None

    def full_kernel() -> None:
        nonlocal summary
        limits = RiskLimits(max_order_notional_usd_1e9=None, max_position_usd_1e9=None, daily_loss_limit_usd_1e9=None)
        summary = run_backtest((decode(b) for b in blobs), orders, seed=1, limits=limits).run()

    base = timed("baseline: decode", n, baseline, None)
    timed("(a) book + NBBO fold", n, book_and_nbbo, base)
    timed("(a') book + NBBO recomputed each time", n, book_and_nbbo_every_event, base)
    timed("(b) full kernel with orders", n, full_kernel, base)
    assert summary is not None
    print(f"    orders {summary.orders:,}, fills {summary.fills:,}, graphs {summary.graphs}, "
          f"events out {summary.events_out:,}")


if __name__ == "__main__":
    main()
