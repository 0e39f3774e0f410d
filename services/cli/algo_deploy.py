"""`crossbook algo deploy|start|stop|status|logs [-f]|undeploy`: thin clients of /v1/deployments.

Registered on the `algo` sub-app (services/cli/algo.py). A deployment is named by its id
(`dep_…`, printed by deploy) or by its name when that is unique in the account.
"""

from __future__ import annotations

import base64
import time
import tomllib
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from services.cli.trade import _call, _emit, console

FOLLOW_POLL_S = 1.0  # `logs -f` polls the API: no event reaches a CLI across processes


def _resolve(target: str) -> str:
    if target.startswith("dep_"):
        return target
    found = [d for d in _call("GET", "/v1/deployments")["deployments"] if d["name"] == target]
    if len(found) != 1:
        console.print(f"[red]{'no' if not found else 'more than one'} deployment is named {target!r}; use its id[/red]")
        raise typer.Exit(3)
    return str(found[0]["deployment_id"])


def _module(path: Path) -> tuple[Path, str, list[str]]:
    """(the .wasm, a default name, default symbols) for a file or a project directory."""
    if path.is_file():
        return path, path.stem, []
    manifest = path / "Crossbook.toml"
    if not manifest.is_file():
        console.print(f"[red]{path} has no Crossbook.toml; give the .wasm file[/red]")
        raise typer.Exit(2)
    conf = tomllib.loads(manifest.read_text())
    name = str(conf.get("name") or path.resolve().name)
    wasm = path / str(conf.get("output") or f"build/{name}.wasm")
    if not wasm.is_file():
        console.print(f"[red]{wasm} is not built yet: run `crossbook algo build {path}`[/red]")
        raise typer.Exit(2)
    return wasm, name, [str(s) for s in conf.get("symbols", [])]


def _table(deployment: dict[str, Any]) -> Table:
    table = Table(title=f"{deployment['name']} ({deployment['deployment_id']}): {deployment['status']}")
    for column in ("instance", "label", "edge", "status", "updates", "p50 µs", "position", "realized", "pause reason"):
        table.add_column(column)
    for e in deployment["edges"]:
        table.add_row(e["instance_id"], e["label"], e["edge_id"], e["status"], str(e["update_count"]),
                      f"{e['callback_latency_ns'] / 1000:.1f}", f"{e['position_1e8'] / 1e8:g}",
                      f"{e['realized_pnl_1e9'] / 1e9:.2f}", e["pause_reason"] or "")
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def deploy(
        path: Path = typer.Argument(Path("."), exists=True, help="a built .wasm, or a project (its Crossbook.toml)"),
        symbols: list[str] = typer.Option(None, "--symbol", "-s", help="[label=]SYMBOL[@venue], once per instance"),
        name: str = typer.Option(None, help="deployment name (default: the project's or the file's)"),
        start: bool = typer.Option(True, "--start/--no-start", help="start the instances at once"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Deploy a module: one instance per --symbol, beside that symbol's venue edge."""
        wasm, default_name, default_symbols = _module(path)
        if not (symbols or default_symbols):
            console.print("[red]give --symbol (or `symbols` in Crossbook.toml)[/red]")
            raise typer.Exit(2)
        body = {"name": name or default_name, "wasm_base64": base64.b64encode(wasm.read_bytes()).decode(),
                "symbols": symbols or default_symbols, "start_immediately": start}
        deployment = _call("POST", "/v1/deployments", json=body)
        _emit(deployment, as_json, _table(deployment))
        if not as_json:
            console.print(f"deployment_id {deployment['deployment_id']}")

    @app.command("start")
    def start_(target: str = typer.Argument(..., help="deployment id or name"),
               as_json: bool = typer.Option(False, "--json")) -> None:
        """Start a deployment's instances (a paused one starts again)."""
        _emit(_call("POST", f"/v1/deployments/{_resolve(target)}/start"), as_json)

    @app.command()
    def stop(target: str = typer.Argument(..., help="deployment id or name"),
             as_json: bool = typer.Option(False, "--json")) -> None:
        """Stop calling the instances (on_shutdown runs; resting orders stay unless it cancels them)."""
        _emit(_call("POST", f"/v1/deployments/{_resolve(target)}/stop"), as_json)

    @app.command()
    def status(target: str = typer.Argument(None, help="deployment id or name (default: all)"),
               as_json: bool = typer.Option(False, "--json")) -> None:
        """Show deployments, their instances, stats and pause reasons."""
        if target is None:
            deployments = _call("GET", "/v1/deployments")["deployments"]
            if as_json:
                _emit(deployments, True)
            for d in deployments if not as_json else []:
                console.print(_table(d))
            return
        deployment = _call("GET", f"/v1/deployments/{_resolve(target)}")
        _emit(deployment, as_json, _table(deployment))

    @app.command()
    def logs(
        target: str = typer.Argument(..., help="deployment id or name"),
        limit: int = typer.Option(200, min=1, max=5000),
        follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new lines"),
    ) -> None:
        """Print the instances' log lines (newest last)."""
        deployment_id = _resolve(target)
        seen = 0
        while True:
            lines = _call("GET", f"/v1/deployments/{deployment_id}/logs", params={"limit": limit})["logs"]
            fresh = [x for x in lines if x["ts_ns"] > seen]
            for x in fresh:
                console.print(f"{x['ts_ns']} {x['level']:5} {x['instance_id']}: {x['message']}", markup=False,
                              highlight=False)
            seen = max([seen, *(x["ts_ns"] for x in fresh)])
            if not follow:
                return
            time.sleep(FOLLOW_POLL_S)

    @app.command()
    def undeploy(target: str = typer.Argument(..., help="deployment id or name"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
        """Stop and delete a deployment (its resting orders stay)."""
        _emit(_call("DELETE", f"/v1/deployments/{_resolve(target)}"), as_json)
