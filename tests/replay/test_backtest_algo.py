"""`crossbook backtest --algo`: a WASM module inside the backtest loop. The same module, data and
seed twice give byte-identical output dirs and it really trades; another seed changes the output;
a module that spins forever pauses (the reason in the report) and the backtest still completes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from events import decode_json
from events.algos import AlgoInstancePaused
from events.commands import SubmitGraph
from events.execution import FillRecorded
from services.algos.build import build
from services.cli.main import app as cli
from tests.replay.test_import import write_tardis
from tests.services.algos.guests import INFINITE_LOOP, ROUND_TRIP, wasm_file

EXAMPLES = Path(__file__).parents[2] / "examples" / "algos"


def run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def events_of(out: Path) -> list[object]:
    return [decode_json(json.dumps(json.loads(line)["event"])) for line in (out / "events.jsonl").read_bytes().splitlines()]


def recording(tmp_path: Path) -> Path:
    book, trades = write_tardis(tmp_path, levels=10, updates=400)
    rec = tmp_path / "rec.parquet"
    run(["import", "tardis", str(book), str(trades), "--out", str(rec)])
    return rec


def test_the_same_algo_twice_is_byte_identical_and_trades(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    algo = wasm_file(tmp_path, ROUND_TRIP, "round_trip")

    def backtest(seed: int, out: str) -> str:
        return run(["backtest", "--data", str(rec), "--algo", algo, "--symbols", "BTC-USDT@binance",
                    "--seed", str(seed), "--out", str(tmp_path / out)])

    output = backtest(1, "a")
    backtest(1, "b")
    backtest(2, "c")
    a, b, c = tree(tmp_path / "a"), tree(tmp_path / "b"), tree(tmp_path / "c")
    assert set(a) == {"events.jsonl", "report.json"}
    assert a == b  # byte for byte
    assert a["events.jsonl"] != c["events.jsonl"]  # the seed draws the venue latency

    report = json.loads(a["report.json"])
    events = events_of(tmp_path / "a")
    submits = [e for e in events if isinstance(e, SubmitGraph)]
    fills = [e for e in events if isinstance(e, FillRecorded)]
    # The module buys 0.02 IOC, then sells half of what it holds: two orders of its own, both filled.
    assert [s.nodes[0].side for s in submits] == ["buy", "sell"]
    assert all(s.graph_id.startswith("algo_") for s in submits)
    assert report["orders"] == 2 and report["fills"] == len(fills) > 0
    assert report["bought_qty_1e8"] == 2_000_000 and report["sold_qty_1e8"] == 1_000_000
    (instance,) = report["algo"]["instances"]
    assert instance["instance_id"] == "BTC-USDT@binance" and instance["paused"] is None
    assert instance["fills"] == len(fills) and instance["position_1e8"] == 1_000_000
    assert instance["orders_sent"] == 2 and instance["books"] == 401
    assert instance["callbacks"] > instance["books"]  # + fills and heartbeats
    assert "algo BTC-USDT@binance" in output and "ran to the end" in output


def test_an_infinite_loop_pauses_with_its_reason_and_the_backtest_completes(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    algo = wasm_file(tmp_path, INFINITE_LOOP, "spin")
    orders = tmp_path / "orders.jsonl"
    orders.write_text(json.dumps({"offset_ms": 100, "order": {"symbol": "BTC-USDT", "side": "buy", "qty": 0.5}}) + "\n")
    output = run(["backtest", "--data", str(rec), "--algo", algo, "--orders", str(orders), "--seed", "1",
                  "--out", str(tmp_path / "o")])
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (instance,) = report["algo"]["instances"]
    assert "fuel" in instance["paused"] and instance["books"] == 1 and instance["orders_sent"] == 0
    paused = [e for e in events_of(tmp_path / "o") if isinstance(e, AlgoInstancePaused)]
    assert len(paused) == 1 and "fuel" in paused[0].reason
    # The rest of the run went on: the order of ORDERS.jsonl still filled, the whole recording was read.
    assert report["orders"] == 1 and report["filled_qty_1e8"] == 50_000_000 and report["market_events"] == 801
    assert report["algo"]["paused"] == 1 and "PAUSED" in output


def test_a_module_the_host_refuses_is_named_before_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wat"
    bad.write_text('(module (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))')
    result = CliRunner().invoke(cli, ["backtest", "--data", "x.parquet", "--algo", str(bad), "--seed", "1",
                                      "--out", str(tmp_path / "o")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "not a usable algo module" in result.output


def test_the_twap_example_built_from_c_slices_its_target_on_virtual_time(tmp_path: Path) -> None:
    book, trades = write_tardis(tmp_path, levels=10, updates=1200)  # 12 s of book time
    rec = tmp_path / "rec.parquet"
    run(["import", "tardis", str(book), str(trades), "--out", str(rec)])
    twap = build([EXAMPLES / "twap.c"], tmp_path / "twap.wasm")
    for out in ("a", "b"):
        run(["backtest", "--data", str(rec), "--algo", str(twap), "--seed", "5", "--out", str(tmp_path / out)])
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    submits = [e for e in events_of(tmp_path / "a") if isinstance(e, SubmitGraph)]
    # 0.1 in 10 IOC slices, one per second of book time (the recording's, not the wall clock's).
    assert len(submits) == report["orders"] == 10
    assert [s.ts_ns - submits[0].ts_ns for s in submits] == [i * 10**9 for i in range(10)]
    assert all(s.nodes[0].execution.tif == "ioc" for s in submits)
    assert report["bought_qty_1e8"] == 10_000_000 and report["sold_qty_1e8"] == 0
    assert report["algo"]["instances"][0]["position_1e8"] == 10_000_000


def test_symbols_pick_the_instances_a_symbol_without_venue_binds_to_its_first_book(tmp_path: Path) -> None:
    rec = recording(tmp_path)
    algo = wasm_file(tmp_path, ROUND_TRIP, "round_trip")
    run(["backtest", "--data", str(rec), "--algo", algo, "--symbols", "ETH-USDT,BTC-USDT", "--seed", "1",
         "--out", str(tmp_path / "o")])
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    # ETH-USDT never trades in this recording: no instance of it is loaded, nothing of it happens.
    assert [i["instance_id"] for i in report["algo"]["instances"]] == ["BTC-USDT@binance"]
    assert report["orders"] == 2 and report["fills"] > 0
    result = CliRunner().invoke(cli, ["backtest", "--data", str(rec), "--algo", algo, "--symbols", "@okx", "--seed", "1",
                                      "--out", str(tmp_path / "p")], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "empty symbol" in result.output
