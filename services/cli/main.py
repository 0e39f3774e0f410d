"""The `crossbook` CLI entry point: one typer app per command group, joined here."""

from __future__ import annotations

import asyncio
import os
import sys

import typer
from rich.console import Console

from services.cli import keys
from services.settings import PROJECT_ROOT, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Crossbook: one execution layer for every venue.")
console = Console()
app.add_typer(keys.app, name="keys")


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


@app.command()
def edge(venue: str = typer.Option(None, envvar="VENUE", help="venue name, e.g. okx")) -> None:
    """Stream one venue's books into JetStream (one process per venue)."""
    from services.edges.service import run_edge

    if not venue:
        raise typer.BadParameter("set --venue or VENUE")
    asyncio.run(run_edge(load_settings(), venue))


@app.command()
def sim(venue: list[str] = typer.Option(None, help="only these venues (default: all)")) -> None:
    """Run the local venue servers (each venue's own protocol on loopback)."""
    from services.edges.sim.service import run_sims

    asyncio.run(run_sims(load_settings(), venue or None))


@app.command()
def nbbo() -> None:
    """Fold market data into books and publish NBBO changes."""
    from services.md.service import run_nbbo

    asyncio.run(run_nbbo(load_settings()))


@app.command()
def trader() -> None:
    """Run the graph engine, the router (risk + SOR) and sandbox execution."""
    from services.runtime import run_trader

    asyncio.run(run_trader(load_settings()))


@app.command()
def api() -> None:
    """Serve the REST/WebSocket API."""
    from services.api.app import run_api

    run_api(load_settings())


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
