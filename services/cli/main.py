"""The `crossbook` CLI entry point: one typer app per command group, joined here."""

from __future__ import annotations

import asyncio
import os
import sys

import typer
from rich.console import Console

from services.settings import PROJECT_ROOT, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Crossbook: one execution layer for every venue.")
console = Console()


@app.command()
def up() -> None:
    """Start the local cluster (NATS, simulated venues, edges, projections, API)."""
    from services.cli.cluster import up as run_up

    run_up(load_settings(), console)


@app.command()
def natsd() -> None:
    """Run the project's nats-server in the foreground (JetStream, loopback)."""
    from services.natsd import nats_server_binary

    settings = load_settings()
    store = settings.data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    binary = nats_server_binary()
    conf = PROJECT_ROOT / "nats" / "dev.conf"
    os.execv(binary, [binary, "-c", str(conf), "-p", str(settings.nats_port), "-sd", str(store)])


@app.command()
def projection(
    name: str = typer.Argument(..., help="stream_health"),
    stream: str = typer.Option("LEDGER", help="stream to fold"),
) -> None:
    """Run one durable projection forever."""
    from services.runtime import run_projection

    asyncio.run(run_projection(load_settings(), name, stream))


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
