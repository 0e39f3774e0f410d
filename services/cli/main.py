"""The `crossbook` CLI entry point: one typer app per command group, joined here."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import typer
from rich.console import Console

from services.cli import algo, data, keys, trade
from services.settings import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Crossbook: one execution layer for every venue.")
console = Console()
app.add_typer(keys.app, name="keys")
app.add_typer(algo.app, name="algo")
trade.register(app)
data.register(app)


@app.command()
def up(
    cluster: bool = typer.Option(False, "--cluster", help="a 3-node JetStream cluster (TLS, R3 streams) instead of one server"),
    regions: bool = typer.Option(
        False, "--regions", help="the three-region supercluster (nats/regions/layout.json): 3 nodes per region, gateways"
    ),
) -> None:
    """Start the local cluster (NATS, simulated venues, edges, projections, API)."""
    from services.cli.cluster import up as run_up

    if cluster and regions:
        raise typer.BadParameter("choose --cluster or --regions")
    run_up(load_settings(), console, cluster_mode=cluster, regions_mode=regions)


@app.command()
def natsd(
    node: int = typer.Option(0, help="run node 1, 2 or 3 of the 3-node cluster (nats/cluster/nN.conf, TLS); 0 = one dev server"),
    region: str = typer.Option("", help="with --node: node N of this region of the supercluster (nats/regions/layout.json)"),
) -> None:
    """Run the project's nats-server in the foreground (JetStream, loopback, the data dir's users)."""
    from services.bus.credentials import ensure_tls
    from services.natsd import DEV_CONF, nats_server_binary, node_conf, server_conf

    settings = load_settings()
    users = settings.data_dir if settings.nats_auth else None
    binary = nats_server_binary()
    if region:
        from services.regions import default_layout
        from services.regions.natsconf import node_conf as region_node_conf
        from services.regions.natsconf import write_node_conf

        if users is None:
            raise typer.BadParameter("the supercluster's regions are NATS accounts: it needs users (CROSSBOOK_NATS_AUTH=1)")
        layout = default_layout()
        if not 1 <= node <= len(layout.region(region).nodes):
            raise typer.BadParameter(f"--node must be 1..{len(layout.region(region).nodes)} for region {region}")
        store = settings.data_dir / "nats" / f"{region}{node}"
        conf = write_node_conf(
            region_node_conf(layout, region, node - 1, tls=ensure_tls(settings.data_dir), data_dir=users),
            store / "server.conf",
        )
        os.execv(binary, [binary, "-c", str(conf), "-sd", str(store)])
    if node:
        store = settings.data_dir / "nats" / f"n{node}"
        conf = server_conf(node_conf(node), store / "server.conf", data_dir=users, tls=ensure_tls(settings.data_dir))
        os.execv(binary, [binary, "-c", str(conf), "-sd", str(store)])
    store = settings.data_dir / "nats"
    conf = server_conf(DEV_CONF, store / "server.conf", data_dir=users)
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
def prober() -> None:
    """Measure the RTT to the other regions (CROSSBOOK_REGION) and answer theirs; first, as the
    region's admin, source the other regions' market data once their streams exist."""
    from services.regions.prober import run_prober

    asyncio.run(run_prober(load_settings()))


@app.command()
def nbbo() -> None:
    """Fold market data into books and publish NBBO changes."""
    from services.md.service import run_nbbo

    asyncio.run(run_nbbo(load_settings()))


@app.command()
def trader(
    role: str = typer.Option(
        "all",
        help="graph, router, sandbox, tca, live (needs CROSSBOOK_LIVE_ORDERS=1), or all of them in this one process",
    ),
) -> None:
    """Run the graph engine, router (risk + SOR), sandbox execution, TCA and live entry (or one)."""
    from services.runtime import run_trader

    asyncio.run(run_trader(load_settings(), role))


@app.command()
def algos(venue: list[str] = typer.Option(None, help="only instances on these venues' edges (default: all)")) -> None:
    """Run the deployed WASM algos beside this host's venue edges (services/algos/runner.py)."""
    from services.algos.runner import run_algos

    asyncio.run(run_algos(load_settings(), venue or None))


@app.command()
def api() -> None:
    """Serve the REST/WebSocket API."""
    from services.api.app import run_api

    run_api(load_settings())


@app.command()
def export(
    out: Path = typer.Argument(..., help="JSON-lines file to write"),
    stream: str = typer.Option("LEDGER", help="stream to read"),
    subjects: str = typer.Option(">", help="subject filter"),
    start_seq: int = typer.Option(1, help="first stream sequence"),
) -> None:
    """Export a stream range as JSON lines (one event per line, ids kept)."""
    from replay.export import export_stream
    from services.bus import Bus

    async def run() -> int:
        bus = await Bus.connect(load_settings(), name="export", user="reader")
        try:
            return await export_stream(bus, stream, subjects, out, start_seq=start_seq)
        finally:
            await bus.close()

    console.print(f"exported {asyncio.run(run())} events from {stream} to {out}")


@app.command()
def audit(
    name: str = typer.Argument("stream_health", help="a projection (stream_health, positions, orders), or `order`"),
    target: str = typer.Argument("", help="with `order`: a node_order_id or a graph_id"),
    stream: str = typer.Option("LEDGER"),
) -> None:
    """Rebuild a durable projection from the log and diff it with the live view (exit 1 on a diff),
    or print one order's causal chain (`audit order <node_order_id|graph_id>`; exit 1 if unknown)."""
    if name == "order":
        from services.cli.data import audit_order

        if not target:
            console.print("audit order needs a node_order_id or a graph_id")
            raise typer.Exit(2)
        audit_order(target, stream)
        return
    from projections.store import open_store
    from replay.audit import AuditReport, differences
    from replay.audit import audit as run_audit
    from services.bus import Bus
    from services.runtime import durable_projection

    async def run() -> AuditReport:
        settings = load_settings()
        bus = await Bus.connect(settings, name="audit", user="reader")
        store = open_store(settings)
        try:
            return await run_audit(bus, store, durable_projection(name, stream))
        finally:
            store.close()
            await bus.close()

    report = asyncio.run(run())
    console.print(
        f"{report.projection}: live position {report.live_position}, rebuilt {report.rebuilt_position}; "
        f"missing {len(report.missing)}, extra {len(report.extra)}, changed {len(report.changed)}"
    )
    for line in differences(report):
        console.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if report.clean else 1)


@app.command()
def mcp(
    api_key: str = typer.Option(..., envvar="CROSSBOOK_API_KEY", help="the key every tool acts with"),
    api_url: str = typer.Option("", help="default: http://<api_host>:<api_port>"),
    transport: str = typer.Option("stdio", help="stdio or streamable-http"),
    port: int = typer.Option(8701, help="streamable-http: the loopback port (path /mcp)"),
    allow_live: bool = typer.Option(False, help="let a live key place live orders"),
) -> None:
    """Serve Crossbook's tools over MCP for AI agents."""
    from services.mcp.server import build_server

    settings = load_settings()
    url = api_url or f"http://{settings.api_host}:{settings.api_port}"
    server = build_server(url, api_key, allow_live=allow_live)
    if transport == "streamable-http":
        # Loopback only: every caller acts with the key this server was started with.
        server.run(transport="streamable-http", host="127.0.0.1", port=port)
    elif transport == "stdio":
        server.run(transport="stdio")
    else:
        Console(stderr=True).print(f"unknown transport {transport!r}: stdio or streamable-http")
        raise typer.Exit(2)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
