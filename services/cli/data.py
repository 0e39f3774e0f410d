"""Market-data commands: `crossbook record`, `crossbook import fixtures|tardis`, `crossbook recording`.

Recordings are Parquet files (replay/recording.py, schema in replay/RECORDING.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from services.settings import PROJECT_ROOT, load_settings

console = Console()
import_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Turn other data into recordings.")
DEFAULT_FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures" / "venues"


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def record_command(
    symbols: str = typer.Option(..., help="comma-separated canonical symbols, e.g. BTC-USDT,ETH-USDT"),
    venues: str = typer.Option("", help="comma-separated venues (default: every venue)"),
    seconds: float = typer.Option(..., min=0.1, help="how long to record"),
    out: Path = typer.Option(..., help="recording (.parquet) to write"),
) -> None:
    """Record a running cluster's market data (books, trades, venue status) into a recording."""
    from replay.record import RecordStats, record
    from services.bus import Bus

    async def run() -> RecordStats:
        bus = await Bus.connect(load_settings(), name="record", user="reader")
        try:
            with Progress(
                TextColumn("[bold]recording"),
                BarColumn(),
                TextColumn("{task.fields[events]:>9,} events  {task.fields[rate]:>8,.0f}/s"),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("record", total=seconds, events=0, rate=0.0)

                def show(stats: RecordStats, elapsed: float) -> None:
                    rate = stats.events / elapsed if elapsed > 0 else 0.0
                    progress.update(task, completed=min(elapsed, seconds), events=stats.events, rate=rate)

                stats = await record(bus, out, symbols=_csv(symbols), venues=_csv(venues) or None, seconds=seconds,
                                     on_progress=show)
                progress.update(task, completed=seconds)
                return stats
        finally:
            await bus.close()

    stats = asyncio.run(run())
    kinds = ", ".join(f"{k} {n:,}" for k, n in sorted(stats.by_kind.items()))
    console.print(f"wrote {stats.events:,} events to {out} ({kinds}); MD sequences {stats.start_seq}..{stats.last_seq}")


@import_app.command("fixtures")
def import_fixtures_command(
    out: Path = typer.Option(..., help="recording (.parquet) to write"),
    root: Path = typer.Option(DEFAULT_FIXTURES, help="folder of venue folders with ws_*.json[l] payloads"),
    venues: str = typer.Option("", help="only these fixture folders (comma-separated)"),
) -> None:
    """Replay recorded venue payloads through the real venue parsers into a recording."""
    from replay.importers import FileImport, import_fixtures
    from replay.recording import RecordingWriter

    if not root.is_dir():
        console.print(f"[red]no fixture folder at {root}[/red]")
        raise typer.Exit(2)

    async def run() -> list[FileImport]:
        with RecordingWriter(out) as writer:
            return await import_fixtures(root, writer, venues=_csv(venues) or None)

    reports = asyncio.run(run())
    table = Table("file", "venue", "frames", "events", "bad frames", "integrity failures")
    for r in reports:
        if r.venue:
            table.add_row(f"{r.path.parent.name}/{r.path.name}", r.venue, str(r.frames), str(r.events),
                          str(r.bad_frames), str(r.integrity_failures))
    console.print(table)
    skipped = sum(1 for r in reports if not r.venue)
    console.print(f"wrote {sum(r.events for r in reports):,} events to {out}; {skipped} files carried no market data")


@import_app.command("tardis")
def import_tardis_command(
    files: list[Path] = typer.Argument(..., help="incremental_book_L2 and/or trades CSV files"),
    out: Path = typer.Option(..., help="recording (.parquet) to write"),
) -> None:
    """Import Tardis-style CSV (incremental_book_L2, trades) into a recording."""
    from replay.importers import ImportError_, import_tardis
    from replay.recording import RecordingWriter

    try:
        with RecordingWriter(out) as writer:
            count = import_tardis(files, writer)
    except ImportError_ as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"wrote {count:,} events to {out}")


def recording_command(path: Path = typer.Argument(..., help="a recording")) -> None:
    """Describe a recording: schema version, events, time range, venues and symbols."""
    from replay.recording import RecordingError, recording_info

    try:
        info = recording_info(path)
    except RecordingError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(
        f"{path}: schema v{info.schema_version}, {info.events:,} events in {info.row_groups} row groups, "
        f"ts_ns {info.start_ns}..{info.end_ns}\nvenues: {', '.join(info.venues)}\nsymbols: {', '.join(info.symbols)}"
    )


def register(app: typer.Typer) -> None:
    app.command("record")(record_command)
    app.command("recording")(recording_command)
    app.command("backtest")(backtest_command)
    app.command("backtest-job", hidden=True)(backtest_job_command)
    app.add_typer(import_app, name="import")


def audit_order(target: str, stream: str = "LEDGER") -> None:
    """Print one order's causal chain from the ledger (exit 1 when the log does not know it)."""
    from replay.audit import OrderChain, order_chain
    from services.bus import Bus

    async def run() -> OrderChain | None:
        bus = await Bus.connect(load_settings(), name="audit-order", user="reader")
        try:
            return await order_chain(bus, target, stream=stream)
        finally:
            await bus.close()

    chain = asyncio.run(run())
    if chain is None:
        console.print(f"[red]{stream} has no order or graph {target!r}[/red]")
        raise typer.Exit(1)
    what = f"node {chain.node_id} of graph {chain.graph_id}" if chain.node_id else f"graph {chain.graph_id}"
    table = Table("seq", "subject", "event", "event_id", "caused by", "ts_ns", "+µs", title=f"{target}: {what}")
    first_ns = chain.links[0].event.ts_ns
    for link in chain.links:
        e = link.event
        table.add_row(str(link.seq), link.subject, link.type, e.event_id, e.causation_id or "-", str(e.ts_ns),
                      f"{(e.ts_ns - first_ns) / 1_000:,.0f}")
    console.print(table)
    console.print(f"{len(chain.links)} events")


def backtest_command(
    data: list[Path] = typer.Option(..., "--data", help="recording(s) (.parquet); repeat for several"),
    orders: Path = typer.Option(None, help='ORDERS.jsonl: {"offset_ms": ..., "order": <POST /v1/orders body>} per line'),
    algo: list[Path] = typer.Option(None, help="a WASM algo (.wasm, or .wat) run inside the backtest; with or without "
                                                "--orders; repeat for several modules (their instances share a mesh)"),
    symbols: list[str] = typer.Option(None, help="--algo: [label=]SYM[@venue],... one instance each (default: the "
                                                  "first book's); one --symbols per --algo, in the same order"),
    seed: int = typer.Option(..., help="seeds the simulated venues' latency draws"),
    out: Path = typer.Option(..., help="output directory (report.json, events.jsonl, plot.png)"),
    plot: bool = typer.Option(False, "--plot", help="draw the equity curve and fills over the NBBO"),
    status_file: Path = typer.Option(None, hidden=True, help="API jobs: write progress here as JSON"),
) -> None:
    """Replay recordings through the kernel with a virtual clock; same inputs + seed = same DIR."""
    from replay.recording import RecordingError
    from replay.runs import AlgoInput, BacktestError, TimedOrder, load_orders, parse_symbols, run_to_dir

    if orders is None and not algo:
        console.print("[red]give --orders ORDERS.jsonl and/or --algo ALGO.wasm[/red]")
        raise typer.Exit(2)
    symbols = symbols or []
    if symbols and len(symbols) != len(algo or []):
        console.print(f"[red]{len(symbols)} --symbols for {len(algo or [])} --algo: give one per --algo, or none[/red]")
        raise typer.Exit(2)
    algo_input: list[AlgoInput] = []
    try:
        for i, path in enumerate(algo or []):
            algo_input.append(AlgoInput(_module_bytes(path), path.name, parse_symbols(symbols[i] if symbols else None)))
    except (BacktestError, OSError) as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc
    try:
        timed: list[TimedOrder] = load_orders(orders) if orders is not None else []
        with Progress(
            TextColumn("[bold]backtest"), BarColumn(), TextColumn("{task.completed:>11,.0f} events"),
            TimeRemainingColumn(), console=console, disable=status_file is not None,
        ) as progress:
            task = progress.add_task("backtest", total=None)

            def show(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)
                if status_file is not None:
                    _write_status(status_file, {"status": "running", "progress": done / total if total else 1.0,
                                                "events_done": done, "events_total": total})

            result = run_to_dir(data, timed, seed, out, plot=plot, on_progress=show, algo=algo_input)
    except (BacktestError, RecordingError, OSError) as exc:
        console.print(str(exc), style="red", markup=False)
        raise typer.Exit(2) from exc
    console.print(summary_table(result.report))
    console.print(f"wrote {out}/report.json and {out}/events.jsonl ({result.report['output_events']:,} events)")


def _module_bytes(path: Path) -> bytes:
    """The module's binary (.wat assembled), checked as the host checks a deploy."""
    from services.algos.module import load_module, new_engine, to_binary

    try:
        wasm = to_binary(path.read_bytes())
        load_module(new_engine(), wasm)
    except OSError:
        raise
    except Exception as exc:  # the host's refusal (imports, exports, memory), said as it says it
        raise OSError(f"{path}: not a usable algo module: {exc}") from exc
    return wasm


def _write_status(path: Path, status: dict[str, object]) -> None:
    import json
    import os

    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, path)  # readers never see half a file


def summary_table(report: dict[str, Any]) -> Table:
    def q(v: int | None, scale: int) -> str:
        return "-" if v is None else f"{v / scale:,.6f}".rstrip("0").rstrip(".")

    table = Table(title=f"backtest (seed {report['seed']}, {report['market_events']:,} market events)",
                  show_header=False)
    table.add_row("orders", f"{report['orders']}  " + " ".join(f"{k}:{n}" for k, n in report["orders_by_status"].items()))
    table.add_row("fills", f"{report['fills']}  qty {q(report['filled_qty_1e8'], 10**8)}  avg px "
                           f"{q(report['avg_fill_px_1e9'], 10**9)}")
    table.add_row("PnL (USD, at mid)", q(report["pnl_usd_1e9"], 10**9))
    shortfall = report["implementation_shortfall_ppm"]
    table.add_row("shortfall", "-" if shortfall is None else f"{shortfall / 100:.2f} bps")
    table.add_row("fees (USD)", q(report["fees_usd_1e9"], 10**9))
    table.add_row("venue mix", "  ".join(f"{m['venue']} {m['share_ppm'] / 10_000:.1f}% ({m['fills']} fills)"
                                         for m in report["venue_mix"]) or "-")
    algo = report.get("algo")
    for inst in algo["instances"] if algo else []:
        state = f"PAUSED: {inst['paused']}" if inst["paused"] else "ran to the end"
        table.add_row(f"algo {inst['instance_id']}", f"{inst['orders_sent']} orders  {inst['fills']} fills  "
                                                     f"{inst['callbacks']} callbacks  {state}")
    return table


def backtest_job_command(job: Path = typer.Argument(..., help="a job directory under <data_dir>/backtests")) -> None:
    """Run one API backtest job (started by the API; writes the job's status.json and out/)."""
    from services.backtest.jobs import run_job

    raise typer.Exit(run_job(job))
