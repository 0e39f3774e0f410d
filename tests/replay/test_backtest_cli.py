"""`crossbook backtest` end to end from a generated Tardis CSV: same data + seed -> a byte-identical
output directory; another seed changes it; the report agrees with the output log."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from events import decode_json
from events.execution import FillRecorded
from services.cli.main import app as cli
from tests.replay.test_import import write_tardis

ORDERS = [
    {"offset_ms": 100, "order": {"symbol": "BTC-USDT", "side": "buy", "qty": 0.5}},
    {"offset_ms": 1500, "order": {"symbol": "BTC-USDT", "side": "sell", "qty": 0.2, "order_type": "limit",
                                  "price": 50001.5}},
]


def run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_tardis_csv_imports_and_backtests_byte_identically(tmp_path: Path) -> None:
    book, trades = write_tardis(tmp_path, levels=10, updates=400)
    rec = tmp_path / "rec.parquet"
    run(["import", "tardis", str(book), str(trades), "--out", str(rec)])
    orders = tmp_path / "orders.jsonl"
    orders.write_text("\n".join(json.dumps(o) for o in ORDERS) + "\n")

    def backtest(seed: int, out: str) -> str:
        return run(["backtest", "--data", str(rec), "--orders", str(orders), "--seed", str(seed),
                    "--out", str(tmp_path / out), "--plot"])

    output = backtest(1, "a")
    backtest(1, "b")
    backtest(2, "c")
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert set(a) == {"events.jsonl", "report.json", "plot.png"}
    assert a == b  # byte for byte, plot included
    assert a["events.jsonl"] != c["events.jsonl"]  # the seed draws the venue latency

    report = json.loads(a["report.json"])
    fills = [decode_json(json.dumps(json.loads(line)["event"])) for line in a["events.jsonl"].splitlines()]
    fills = [f for f in fills if isinstance(f, FillRecorded)]
    # The sell rests at 50001.5 behind 1.5 BTC shown there; the data trades only 0.04 there: open.
    assert report["orders"] == 2 and report["orders_by_status"] == {"COMPLETED": 1, "OPEN": 1}
    assert report["fills"] == len(fills) > 0
    assert report["filled_qty_1e8"] == sum(f.qty_1e8 for f in fills) == 50_000_000
    assert report["fees_usd_1e9"] == sum(f.fee_usd_1e9 for f in fills)
    assert sum(m["qty_1e8"] for m in report["venue_mix"]) == 50_000_000
    assert report["market_events"] == 801 and report["implementation_shortfall_ppm"] is not None
    # The market buy sweeps the ask (the snapshot's best ask is 50001.5, then 50002.5...).
    buys = [f for f in fills if f.side == "buy"]
    assert all(f.px_1e9 >= 50_001_500_000_000 for f in buys)
    assert "PnL" in output and "venue mix" in output


def test_missing_inputs_are_refused_clearly_and_a_bad_order_line_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["backtest", "--data", "x.parquet", "--seed", "1", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "give --orders ORDERS.jsonl and/or --algo ALGO.wasm" in result.output
    result = CliRunner().invoke(cli, ["backtest", "--data", "x.parquet", "--algo", "a.wasm", "--seed", "1",
                                      "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "a.wasm" in result.output
    book, trades = write_tardis(tmp_path, updates=5)
    rec = tmp_path / "rec.parquet"
    run(["import", "tardis", str(book), str(trades), "--out", str(rec)])
    orders = tmp_path / "orders.jsonl"
    orders.write_text('{"offset_ms": 1, "order": {"symbol": "BTC-USDT", "side": "buy", "qty": 0.1}}\n'
                      '{"offset_ms": -5, "order": {}}\n')
    result = CliRunner().invoke(cli, ["backtest", "--data", str(rec), "--orders", str(orders), "--seed", "1",
                                      "--out", str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "orders.jsonl:2: offset_ms -5" in result.output


def test_a_resting_order_fills_only_after_the_queue_ahead_of_it_trades(tmp_path: Path) -> None:
    book, _ = write_tardis(tmp_path, levels=3, updates=100)  # best bid 50000.5 showing 1.25 BTC
    trades = tmp_path / "trades.csv"
    t0 = 1_700_000_000_000_000
    sells = [t0 + k * 100_000 for k in (2, 3, 4, 5)]  # 0.5 BTC sold into 50000.5 at 200, 300, 400, 500 ms
    trades.write_text("exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n" + "".join(
        f"binance,BTCUSDT,{ts},{ts},{k},sell,50000.5,0.5\n" for k, ts in enumerate(sells)))
    rec = tmp_path / "rec.parquet"
    run(["import", "tardis", str(book), str(trades), "--out", str(rec)])
    body = {"nodes": [{"node_id": "order", "instrument": {"symbol": "BTC-USDT", "type": "spot"}, "side": "buy",
                       "order_type": {"limit": {"price_1e9": 50_000_500_000_000}},
                       "quantity": {"fixed": {"qty_1e8": 10_000_000}}, "execution": {"policy": "passive"}}],
            "edges": []}
    orders = tmp_path / "orders.jsonl"
    orders.write_text(json.dumps({"offset_ms": 50, "order": body}) + "\n")
    run(["backtest", "--data", str(rec), "--orders", str(orders), "--seed", "4", "--out", str(tmp_path / "o")])
    lines = (tmp_path / "o" / "events.jsonl").read_text().splitlines()
    fills = [e for e in (decode_json(json.dumps(json.loads(x)["event"])) for x in lines) if isinstance(e, FillRecorded)]
    # 1.25 BTC was ahead: the first two sells (1.0) only move the queue; the third (cumulative 1.5)
    # clears it and its excess fills the whole 0.1 at the limit, as maker.
    assert [(f.qty_1e8, f.px_1e9, f.liquidity) for f in fills] == [(10_000_000, 50_000_500_000_000, "maker")]
    assert sells[2] * 1_000 <= fills[0].ts_ns < sells[3] * 1_000
