"""Backtests run algos as the live runner does: mesh messages between instances are delivered (at
the send's virtual time + MESH_LATENCY_NS) and `on_shutdown` is called when the data ends. The
example mesh pair (examples/algos/mesh_pair, C built with `crossbook algo build`) runs as two
modules: every fill of the quoter on binance reaches the hedger as a message, and the hedger offsets
it on okx; at the end the quoter's on_shutdown cancels what still rests. Twice: the same bytes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from typer.testing import CliRunner

from events import decode_json
from events.algos import AlgoInstancePaused, AlgoMeshMessage
from events.commands import CancelGraph, SubmitGraph
from events.execution import FillRecorded
from events.graph import GraphCancelled, GraphCompleted
from replay.algo import MESH_LATENCY_NS, STOP_REASON
from replay.recording import read_recording
from replay.synthetic_recording import write_synthetic
from services.cli.main import app as cli

EXAMPLES = Path(__file__).parents[2] / "examples" / "algos"
ROWS = 20_000  # 20 s of two venues' books: the quoter's post-only quotes fill a few times


def run(args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def events_of(out: Path) -> list[object]:
    return [decode_json(json.dumps(json.loads(line)["event"])) for line in (out / "events.jsonl").read_bytes().splitlines()]


def built(tmp_path: Path, name: str) -> Path:
    wasm = tmp_path / f"{name}.wasm"
    run(["algo", "build", str(EXAMPLES / "mesh_pair" / f"{name}.c"), "-o", str(wasm)])
    return wasm


def test_the_mesh_pair_hedges_each_quoter_fill_by_message_and_shuts_down_the_same_way_twice(tmp_path: Path) -> None:
    rec = tmp_path / "rec.parquet"
    write_synthetic(rec, ROWS, seed=3, venues=("binance", "okx"))
    last_market_ns = max(e.ts_ns for e in read_recording(rec))
    quoter, hedger = built(tmp_path, "quoter"), built(tmp_path, "hedger")

    def backtest(out: str) -> str:
        return run(["backtest", "--data", str(rec), "--algo", str(quoter), "--symbols", "quoter=BTC-USDT@binance",
                    "--algo", str(hedger), "--symbols", "hedger=BTC-USDT@okx", "--seed", "4",
                    "--out", str(tmp_path / out)])

    output = backtest("a")
    backtest("b")
    assert tree(tmp_path / "a") == tree(tmp_path / "b")  # byte for byte, messages and shutdown included

    report = json.loads((tmp_path / "a" / "report.json").read_text())
    q_dep, h_dep = (m["deployment_id"] for m in report["algo"]["modules"])
    events = events_of(tmp_path / "a")
    fills = [e for e in events if isinstance(e, FillRecorded)]
    q_fills = [f for f in fills if f.graph_id.startswith(f"algo_{q_dep}_")]
    h_fills = [f for f in fills if f.graph_id.startswith(f"algo_{h_dep}_")]
    messages = [e for e in events if isinstance(e, AlgoMeshMessage)]
    assert len(q_fills) >= 2 and {f.venue for f in q_fills} == {"binance"}

    # Each quoter fill is one message, sent when the fill lands, telling what it bought or sold.
    assert len(messages) == len(q_fills)
    for fill, message in zip(q_fills, messages, strict=True):
        assert (message.from_label, message.to_label, message.deployment_id, message.to_deployment_id) == (
            "quoter", "hedger", q_dep, h_dep)
        qty, px = struct.unpack("<qQ", message.payload)
        assert (qty, px) == (fill.qty_1e8 if fill.side == "buy" else -fill.qty_1e8, fill.px_1e9)
        assert message.ts_ns >= fill.ts_ns

    # The hedger hears each one MESH_LATENCY_NS later and sends the opposite IOC on okx at once.
    h_submits = [e for e in events if isinstance(e, SubmitGraph) and e.graph_id.startswith(f"algo_{h_dep}_")]
    assert [s.ts_ns for s in h_submits] == [m.ts_ns + MESH_LATENCY_NS for m in messages]
    for submit, message in zip(h_submits, messages, strict=True):
        node = submit.nodes[0]
        qty = struct.unpack("<qQ", message.payload)[0]
        assert (node.side, node.qty_1e8, node.execution.tif, node.instrument.venue) == (
            "sell" if qty > 0 else "buy", abs(qty), "ioc", "okx")
    assert {f.venue for f in h_fills} == {"okx"}
    q_inst, h_inst = report["algo"]["instances"]
    assert (q_inst["label"], h_inst["label"]) == ("quoter", "hedger")
    assert q_inst["mesh_messages_sent"] == h_inst["mesh_messages_received"] == report["algo"][
        "mesh_messages_delivered"] == len(messages)
    assert h_inst["position_1e8"] == -q_inst["position_1e8"] != 0  # every fill hedged

    # The data ends: on_shutdown runs on both (the quoter cancels its resting quotes), each is stopped
    # as a user's stop stops it live, and nothing of theirs is left working after the drain.
    stops = [e for e in events if isinstance(e, AlgoInstancePaused)]
    assert [(s.deployment_id, s.by_user, s.reason, s.ts_ns) for s in stops] == [
        (q_dep, True, STOP_REASON, last_market_ns), (h_dep, True, STOP_REASON, last_market_ns)]
    assert q_inst["stopped_ns"] == h_inst["stopped_ns"] == last_market_ns and q_inst["paused"] is None
    at_end = [e for e in events if isinstance(e, CancelGraph) and e.ts_ns == last_market_ns]
    assert at_end and all(c.graph_id.startswith(f"algo_{q_dep}_") for c in at_end)
    ended = {e.graph_id for e in events if isinstance(e, (GraphCompleted, GraphCancelled))}
    algo_graphs = {e.graph_id for e in events if isinstance(e, SubmitGraph)}
    assert algo_graphs <= ended  # the shutdown's cancels ended every resting quote
    assert {c.graph_id for c in at_end} <= {e.graph_id for e in events if isinstance(e, GraphCancelled)}
    assert "ran to the end" in output and "algo BTC-USDT@okx" in output


def test_symbols_must_pair_with_each_algo(tmp_path: Path) -> None:
    quoter = built(tmp_path, "quoter")
    result = CliRunner().invoke(cli, ["backtest", "--data", "x.parquet", "--algo", str(quoter), "--algo", str(quoter),
                                      "--symbols", "BTC-USDT", "--seed", "1", "--out", str(tmp_path / "o")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "1 --symbols for 2 --algo" in result.output
