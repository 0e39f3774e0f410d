"""A WASM algo inside the backtest: throughput beside the same backtest with plain orders.

One synthetic single-venue BTC-USDT recording (`replay/synthetic_recording.py`, 1 ms between
rows); every figure is `replay.runs.run_to_dir`, exactly what `crossbook backtest` runs:

  baseline  the recording with 20 market orders (`--orders`), no algo;
  twap      `--algo examples/algos/twap.c` (on_book on every book, OnlineFeatures, heartbeats);
  mm        `--algo examples/algos/market_maker.c` (post-only quotes re-placed as the touch moves).

Figures are recording events/s by wall clock and by CPU time of this process (the machine is
shared: CPU time is what other load does not move), and each algo run's ratio to the baseline.
Each run is done twice and the output directories compared byte for byte. Run:

    .venv/bin/python bench/backtest_algo.py [--events 200000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replay.runs import AlgoInput, TimedOrder, run_to_dir  # noqa: E402
from replay.synthetic_recording import write_synthetic  # noqa: E402
from services.algos.build import build  # noqa: E402

VENUE = "binance"
SEED = 7
STEP_NS = 1_000_000
EXAMPLES = ROOT / "examples" / "algos"


def orders(n_events: int, count: int = 20) -> list[TimedOrder]:
    span_ms = n_events * STEP_NS // 1_000_000
    return [
        TimedOrder(offset_ns=(k + 1) * span_ms // (count + 1) * 1_000_000,
                   body={"symbol": "BTC-USDT", "side": "buy" if k % 2 == 0 else "sell", "qty": 0.2}, line=k + 1)
        for k in range(count)
    ]


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "rec.parquet"
        write_synthetic(data, args.events, venues=(VENUE,), seed=SEED, step_ns=STEP_NS)
        runs: dict[str, tuple[list[TimedOrder], AlgoInput | None]] = {"baseline (--orders, no algo)": (orders(args.events), None)}
        for name in ("twap", "market_maker"):
            wasm = build([EXAMPLES / f"{name}.c"], work / f"{name}.wasm").read_bytes()
            runs[f"--algo {name}.c"] = ([], AlgoInput(wasm, f"{name}.wasm"))
        figures: dict[str, tuple[float, float]] = {}
        print(f"{args.events:,} recording events, seed {SEED}")
        for label, (timed_orders, algo) in runs.items():
            outs = []
            for attempt in range(2):
                out = work / f"{len(figures)}_{attempt}"
                wall, cpu = time.perf_counter(), time.process_time()
                report = run_to_dir([data], timed_orders, SEED, out, algo=algo).report
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                outs.append(out)
            identical = tree(outs[0]) == tree(outs[1])
            figures[label] = (args.events / wall, args.events / cpu)
            base = next(iter(figures.values()))
            print(f"{label:34} {figures[label][0]:>10,.0f}/s wall {figures[label][1]:>10,.0f}/s CPU  "
                  f"ratio vs baseline (CPU) {figures[label][1] / base[1]:.2f}  orders {report['orders']} "
                  f"fills {report['fills']}  byte-identical twice: {identical}")


if __name__ == "__main__":
    main()
