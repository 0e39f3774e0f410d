"""Backtest throughput on one synthetic L2 recording (same data for every figure):

  (a) the book + NBBO projection alone: `replay.fast_nbbo.fold_recording_nbbo` (Parquet columns
      decoded in bulk, the level loop in C: replay/nbbo_kernel.c, built with zig cc before the
      timing), beside, in the same run, (a1) the same fast path with its level loop in Python
      (flat per-side dicts with cached best levels, the NBBO recomputed only when a top moved)
      and (a0) `NbboFold.apply` over decoded events (all three give the same NBBO changes:
      tests/replay/test_fast_nbbo.py);
  (b) the full backtest path with orders (decode, kernel with sandbox matching, output log,
      report): `replay.runs.run_to_dir`, exactly what `crossbook backtest` runs;
  (c) NautilusTrader's BacktestEngine on the same L2 deltas with the same orders, logging off, in
      a bench-only venv (`--nautilus-venv`, created with `pip install nautilus_trader` if absent;
      never a project dependency); its data is converted before the timed `engine.run()`.
  (d) peak RSS of the full backtest over `--rss-events` events, in a child process.

Figures are events/s by wall clock and by CPU time of the process doing the work (the machine is
shared: CPU time is what other load does not move). Run:

    .venv/bin/python bench/backtest.py [--events 1000000] [--rss-events 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from projections.market import NbboFold  # noqa: E402
from replay.fast_nbbo import fold_recording_nbbo  # noqa: E402
from replay.nbbo_compiled import kernel  # noqa: E402
from replay.recording import read_recording  # noqa: E402
from replay.runs import TimedOrder, run_to_dir  # noqa: E402
from replay.synthetic_recording import write_synthetic  # noqa: E402

VENUE = "binance"  # one venue: NautilusTrader backtests one book per instrument and venue
SEED = 7
STEP_NS = 1_000_000  # 1 ms between events


def orders(n_events: int, count: int = 20) -> list[TimedOrder]:
    """Market orders of 0.2 BTC, alternating buy/sell, spread evenly over the data."""
    span_ms = n_events * STEP_NS // 1_000_000
    return [
        TimedOrder(offset_ns=(k + 1) * span_ms // (count + 1) * 1_000_000,
                   body={"symbol": "BTC-USDT", "side": "buy" if k % 2 == 0 else "sell", "qty": 0.2}, line=k + 1)
        for k in range(count)
    ]


def timed(fn: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def projection_only(path: Path) -> int:
    fold = NbboFold()  # the books and each symbol's NBBO, kept current event by event
    n = 0
    for event in read_recording(path):
        n += 1
        fold.apply(event)
    return n


def nautilus(venv: Path, path: Path, n_events: int) -> dict[str, float] | None:
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} and installing nautilus_trader (bench only)...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "nautilus_trader"], check=True)
    spec = json.dumps({"path": str(path), "orders": [
        {"offset_ns": o.offset_ns, "side": o.body["side"], "qty": o.body["qty"]} for o in orders(n_events)]})
    done = subprocess.run([str(python), str(ROOT / "bench" / "nautilus_backtest.py"), spec],
                          capture_output=True, text=True)
    if done.returncode != 0:
        print("NautilusTrader run failed:\n" + done.stderr[-3000:])
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rss_child(path: Path, n_events: int) -> None:
    """In a child process: the full backtest over `path`; prints peak RSS (MB) and time."""
    out = Path(tempfile.mkdtemp(prefix="crossbook-bt-rss."))
    wall, cpu = timed(lambda: run_to_dir([path], orders(n_events), SEED, out))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": peak_mb, "wall_s": wall, "cpu_s": cpu}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rss-events", type=int, default=10_000_000, help="0 skips the peak-RSS run")
    parser.add_argument("--nautilus-venv", type=Path, default=Path("/tmp/nt_btdata"))
    parser.add_argument("--no-nautilus", action="store_true")
    parser.add_argument("--rss-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.events)
        return
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="crossbook-bench.") as tmp:
        path = Path(tmp) / "l2.parquet"
        write_synthetic(path, args.events, venues=(VENUE,), seed=SEED, step_ns=STEP_NS)
        n = args.events
        results: dict[str, tuple[float, float]] = {}
        results["decode only"] = timed(lambda: sum(1 for _ in read_recording(path)))
        results["(a0) NbboFold over decoded events"] = timed(lambda: projection_only(path))
        build, _ = timed(kernel)
        if kernel() is None:
            print("the C level loop could not be built: (a) is the Python loop")
        print(f"C level loop built or loaded in {build:.2f} s (not timed below)")
        results["(a1) fast path, Python loop"] = timed(lambda: fold_recording_nbbo(path, compiled=False))
        results["(a) book + NBBO, fast path, C"] = timed(lambda: fold_recording_nbbo(path))
        out = Path(tmp) / "out"
        report: dict[str, object] = {}
        results["(b) full backtest with orders"] = timed(
            lambda: report.update(run_to_dir([path], orders(n), SEED, out).report))
        print(f"\n{n:,} events, {report['orders']} orders, {report['fills']} fills, "
              f"{report['output_events']:,} output events")
        print(f"{'path':<36} {'wall':>12} {'by CPU':>12}")
        for name, (wall, cpu) in results.items():
            print(f"{name:<36} {n / wall:>10,.0f}/s {n / cpu:>10,.0f}/s")
        (w0, c0), (w1, c1) = results["(a0) NbboFold over decoded events"], results["(a) book + NBBO, fast path, C"]
        (wp, cp) = results["(a1) fast path, Python loop"]
        print(f"ratio (a) / (a0): wall {w0 / w1:.2f}, CPU {c0 / c1:.2f}; (a) / (a1): wall {wp / w1:.2f}, "
              f"CPU {cp / c1:.2f}")
        if not args.no_nautilus:
            nt = nautilus(args.nautilus_venv, path, n)
            if nt is not None:
                print(f"{'(c) NautilusTrader engine.run()':<34} {n / nt['wall_s']:>10,.0f}/s {n / nt['cpu_s']:>10,.0f}/s"
                      f"   ({nt['fills']} fills, version {nt['version']}; per its own data object: "
                      f"{nt['data_objects']:,} objects, {nt['data_objects'] / nt['cpu_s']:,.0f}/s CPU)")
                wall_b, cpu_b = results["(b) full backtest with orders"]
                print(f"ratio (b) / (c): wall {nt['wall_s'] / wall_b:.2f}, CPU {nt['cpu_s'] / cpu_b:.2f}")
        if args.rss_events:
            big = Path(tmp) / "big.parquet"
            write_synthetic(big, args.rss_events, venues=(VENUE,), seed=SEED, step_ns=STEP_NS)
            done = subprocess.run([sys.executable, __file__, "--rss-child", str(big), "--events", str(args.rss_events)],
                                  capture_output=True, text=True, check=True)
            rss = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"(d) full backtest over {args.rss_events:,} events: peak RSS {rss['peak_rss_mb']:.0f} MB, "
                  f"{args.rss_events / rss['wall_s']:,.0f}/s wall, {args.rss_events / rss['cpu_s']:,.0f}/s CPU")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
