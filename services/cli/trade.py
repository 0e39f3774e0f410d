"""Trading commands: quote, buy/sell, status, cancel, orders, fills, positions, tca, kill-switch,
edges. Thin clients of the REST API (the same endpoints any SDK uses).

Exit codes: 0 ok, 1 the order ended without filling (REJECTED/FAILED/CANCELLED),
2 usage error, 3 the API refused the request (4xx), 4 the API could not be reached or failed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote as quote_path

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from services.cli.health import readiness_problems
from services.graph.schema import SIMPLE_NODE_ID
from services.settings import load_settings

console = Console()
TERMINAL = {"COMPLETED", "CANCELLED", "REJECTED", "FAILED"}
EXIT_NOT_FILLED, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 3, 4
READY_WAIT_S = 60.0  # how long an order waits for a starting system (health 503) before giving up


def _client() -> httpx.Client:
    settings = load_settings()
    key = os.environ.get("CROSSBOOK_API_KEY", "")
    if not key:
        console.print("set CROSSBOOK_API_KEY (make run prints one; or: crossbook keys create --tenant NAME --sandbox)")
        raise typer.Exit(2)
    url = os.environ.get("CROSSBOOK_API_URL", f"http://{settings.api_host}:{settings.api_port}")
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


def _call(method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client() as client:
            response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        console.print(f"[red]cannot reach the API: {exc}[/red]")
        raise typer.Exit(EXIT_UNREACHABLE) from exc
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:200]
        console.print(f"[red]{response.status_code}: {message}[/red]")
        raise typer.Exit(EXIT_REFUSED if response.status_code < 500 else EXIT_UNREACHABLE)
    return response.json() if response.content else None


def _wait_until_ready() -> None:
    """While the API says the system cannot trade yet (GET /v1/health 503), wait with a spinner.
    Anything else (ready, or an error the order request will report itself) ends the wait."""
    deadline = time.monotonic() + READY_WAIT_S
    with _client() as client, console.status("waiting for the system to be ready") as spinner:
        while True:
            try:
                response = client.get("/v1/health")
            except httpx.HTTPError:
                return  # unreachable: the order request says so (exit 4)
            if response.status_code != 503:
                return
            if time.monotonic() >= deadline:
                console.print(f"[red]not ready after {READY_WAIT_S:g}s: {'; '.join(_problems_of(response))}[/red]")
                raise typer.Exit(EXIT_UNREACHABLE)
            spinner.update(f"waiting for the system to be ready: {'; '.join(_problems_of(response))}")
            time.sleep(0.2)  # polling the API: no event to wait on across processes



def _problems_of(response: httpx.Response) -> list[str]:
    try:
        return readiness_problems(response.json())
    except ValueError:
        return ["starting"]


def _emit(data: Any, as_json: bool, table: Table | None = None) -> None:
    if as_json or table is None:
        typer.echo(json.dumps(data))
    else:
        console.print(table)


def _fmt(px_1e9: int | None) -> str:
    return "" if px_1e9 is None else f"{px_1e9 / 1e9:,.9f}".rstrip("0").rstrip(".")


def _qty(qty_1e8: int | None) -> str:
    return "" if qty_1e8 is None else f"{qty_1e8 / 1e8:,.8f}".rstrip("0").rstrip(".")


def _plot_tca(data: dict[str, Any], path: Path, one_order: bool) -> None:
    """Draw the TCA of one order (fills against the NBBO over its life) or of many to `path`."""
    from services.tca.plot import aggregate_png, order_png, write_png  # matplotlib loads only to plot

    reports = list(reversed(data.get("reports", [])))  # the API lists newest first
    if not reports:
        console.print("[red]no TCA report to plot (no completed fills yet)[/red]")
        raise typer.Exit(EXIT_NOT_FILLED)
    if not one_order:
        write_png(path, aggregate_png(reports, title=f"TCA {data.get('symbol') or 'all symbols'}"))
        return
    report = reports[0]  # a graph's first node; the others share its chart's window
    page = _call("GET", "/v1/fills", params={"limit": 10_000, "symbol": report["symbol"]})
    fills = [f for f in page["fills"] if f["graph_id"] == report["graph_id"]]
    start_ns = report.get("interval_start_ns") or min((f["ts_ns"] for f in fills), default=report["completed_ns"])
    end_ns = report.get("interval_end_ns") or report["completed_ns"]
    seconds = (end_ns - start_ns) // 10**9 + 2
    history = _call(
        "GET",
        f"/v1/price_history/{quote_path(report['symbol'], safe='')}",
        params={
            "source": "nbbo",
            "fidelity_secs": 0 if seconds <= 60 else seconds // 500 + 1,  # ticks, or about 500 bars
            "start_ts": start_ns // 10**9 - 1,
            "end_ts": end_ns // 10**9 + 1,
            "limit": 5000,
        },
    )
    write_png(path, order_png(report, fills, history["points"]))


def register(app: typer.Typer) -> None:
    @app.command()
    def quote(
        symbol: str, depth: int = 5, as_json: bool = typer.Option(False, "--json"),
        instrument_type: str = typer.Option("spot", "--instrument-type", "--type", help="spot|perp"),
    ) -> None:
        """NBBO and per-venue best bid/offer for SYMBOL (its perps with --type perp)."""
        q = _call("GET", f"/v1/quotes/{symbol}", params={"depth": depth, "instrument_type": instrument_type})
        table = Table(title=f"{symbol}  bid {q['nbbo'].get('bid')}  ask {q['nbbo'].get('ask')}  ({q['source']})")
        for col in ("venue", "bid", "bid size", "ask", "ask size", "age ms"):
            table.add_column(col, justify="right" if col != "venue" else "left")
        for venue, v in sorted(q["venues"].items()):
            table.add_row(venue, str(v["bid"]), str(v["bid_size"]), str(v["ask"]), str(v["ask_size"]), str(v["age_ms"]))
        _emit(q, as_json, table)

    def _order(
        side: str, symbol: str, qty: float, limit: float | None, venue: str | None, as_json: bool, wait: bool,
        urgency: str = "medium", instrument_type: str = "spot",
    ) -> None:
        body: dict[str, Any] = {"symbol": symbol, "side": side, "qty": qty, "sandbox": True, "urgency": urgency,
                                "instrument_type": instrument_type}
        if limit is not None:
            body["price"] = limit
        if venue:
            body["venue"] = venue
        _wait_until_ready()
        submitted = _call("POST", "/v1/orders", json=body)
        graph_id = submitted["graph_id"]
        status = _call("GET", f"/v1/execution_graphs/{graph_id}")
        if wait and status["status"] not in TERMINAL:
            with Live(console=console, transient=True) as live:
                deadline = time.monotonic() + 60
                while status["status"] not in TERMINAL and time.monotonic() < deadline:
                    node = status["nodes"][SIMPLE_NODE_ID]
                    live.update(f"{graph_id}  {status['status']}  filled {_qty(node['filled_qty_1e8'])} / {_qty(node['qty_1e8'])}")
                    time.sleep(0.2)  # polling the API for the live display
                    status = _call("GET", f"/v1/execution_graphs/{graph_id}")
        if as_json:
            typer.echo(json.dumps(status))
        else:
            node = status["nodes"][SIMPLE_NODE_ID]
            console.print(
                f"{graph_id}  {status['status']}  filled {_qty(node['filled_qty_1e8'])} @ {_fmt(node['avg_fill_price_1e9'])}"
            )
        if status["status"] in ("REJECTED", "FAILED", "CANCELLED"):
            raise typer.Exit(EXIT_NOT_FILLED)

    def order_command(side: str) -> None:
        def command(
            symbol: str,
            qty: float,
            limit: float = typer.Option(None, help="limit price (default: market)"),
            venue: str = typer.Option(None, help="pin one venue (default: SOR across venues)"),
            instrument_type: str = typer.Option(
                "spot", "--instrument-type", "--type", help="spot|perp: a venue's perps share its venue id"
            ),
            urgency: str = typer.Option(
                "medium", help="low|medium|high: high sweeps now; low slices over a minute (cheaper, slower)"
            ),
            sandbox: bool = typer.Option(True, help="simulated fills against live books"),
            wait: bool = typer.Option(True, help="show progress until the order ends"),
            as_json: bool = typer.Option(False, "--json"),
        ) -> None:
            _order(side, symbol, qty, limit, venue, as_json, wait, urgency, instrument_type)

        command.__doc__ = f"{side.capitalize()} QTY of SYMBOL (sandbox)."
        app.command(side)(command)

    order_command("buy")
    order_command("sell")

    @app.command()
    def status(graph_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
        """Status of an order graph and its nodes."""
        s = _call("GET", f"/v1/execution_graphs/{graph_id}")
        table = Table(title=f"{graph_id}  {s['status']}")
        for col in ("node", "status", "side", "symbol", "qty", "filled", "avg price"):
            table.add_column(col)
        for n in s["nodes"].values():
            table.add_row(n["node_id"], n["status"], n["side"], n["symbol"], _qty(n["qty_1e8"]),
                          _qty(n["filled_qty_1e8"]), _fmt(n["avg_fill_price_1e9"]))
        _emit(s, as_json, table)

    @app.command()
    def cancel(graph_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
        """Cancel an order graph (idempotent)."""
        result = _call("DELETE", f"/v1/execution_graphs/{graph_id}")
        typer.echo(json.dumps(result)) if as_json else console.print(f"{graph_id}  {result.get('status')}")

    @app.command()
    def orders(limit: int = 20, as_json: bool = typer.Option(False, "--json")) -> None:
        """Your most recent orders."""
        rows = _call("GET", "/v1/orders", params={"limit": limit})["orders"]
        table = Table(title="orders")
        for col in ("node_order_id", "status", "side", "symbol", "qty", "filled", "avg price"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["node_order_id"], r["status"], r["side"], r["symbol"], _qty(r["qty_1e8"]),
                          _qty(r["filled_qty_1e8"]), _fmt(r.get("avg_fill_price_1e9")))
        _emit(rows, as_json, table)

    @app.command()
    def fills(limit: int = 20, as_json: bool = typer.Option(False, "--json")) -> None:
        """Your most recent fills."""
        rows = _call("GET", "/v1/fills", params={"limit": limit})["fills"]
        table = Table(title="fills")
        for col in ("venue", "side", "symbol", "qty", "price", "fee USD", "liquidity"):
            table.add_column(col)
        for f in rows:
            table.add_row(f["venue"], f["side"], f["symbol"], _qty(f["qty_1e8"]), _fmt(f["price_1e9"]),
                          _fmt(f["fee_usd_1e9"]), f["liquidity"])
        _emit(rows, as_json, table)

    @app.command()
    def positions(as_json: bool = typer.Option(False, "--json")) -> None:
        """Positions across venues."""
        data = _call("GET", "/v1/positions/unified")
        table = Table(title="positions")
        for col in ("venue", "symbol", "kind", "qty", "entry", "mark", "unrealized USD"):  # kind: crypto|perp|...
            table.add_column(col)
        for p in data["positions"]:
            table.add_row(p["venue"], p["instrument"]["symbol"], p["instrument"]["kind"], _qty(p["qty_1e8"]),
                          _fmt(p["entry_price_usd_1e9"]), _fmt(p["current_price_usd_1e9"]), _fmt(p["unrealized_pnl_usd_1e9"]))
        _emit(data, as_json, table)

    @app.command()
    def tca(
        graph_id: str = typer.Argument(None, help="one order's graph id (default: all your orders)"),
        symbol: str = typer.Option(None),
        plot: Path = typer.Option(None, "--plot", help="also draw a PNG chart to this path"),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Transaction cost analysis of your completed orders (or of GRAPH_ID); --plot draws it."""
        if graph_id:
            data = _call("GET", f"/v1/execution/review/{graph_id}")["tca"]
        else:
            data = _call("GET", "/v1/tca", params={"symbol": symbol} if symbol else None)
        if plot is not None:
            _plot_tca(data, plot, one_order=bool(graph_id))
        table = Table(title=f"TCA ({data.get('order_count', 0)} orders)")
        for col in ("graph", "symbol", "side", "filled", "VWAP", "arrival mid", "IS bps", "savings bps"):
            table.add_column(col)
        for r in data.get("reports", []):
            table.add_row(r["graph_id"], r["symbol"], r["side"], _qty(r["filled_qty_1e8"]), _fmt(r["achieved_vwap_1e9"]),
                          _fmt(r["arrival_mid_px_1e9"]), f"{r['implementation_shortfall_bps']:.2f}",
                          "" if r.get("savings_vs_single_venue_bps") is None else f"{r['savings_vs_single_venue_bps']:.2f}")
        _emit(data, as_json, table)
        if plot is not None and not as_json:
            console.print(f"chart written to {plot}")

    @app.command("kill-switch")
    def kill_switch(state: str = typer.Argument(..., help="on|off"), reason: str = typer.Option(None)) -> None:
        """Engage (on) or clear (off) the kill switch: new orders are refused while it is on."""
        if state not in ("on", "off"):
            raise typer.BadParameter("state must be on or off")
        result = _call("POST", "/v1/kill_switch", json={"reason": reason}) if state == "on" else _call("POST", "/v1/kill_switch/clear")
        typer.echo(json.dumps(result))

    @app.command()
    def connect(venue: str) -> None:
        """Store VENUE credentials in the vault (prompted, never echoed, never printed back)."""
        api_key = typer.prompt("API key", hide_input=True)
        api_secret = typer.prompt("API secret", hide_input=True)
        passphrase = typer.prompt("Passphrase (empty if the venue has none)", default="", hide_input=True,
                                  show_default=False)
        body: dict[str, Any] = {"api_key": api_key, "api_secret": api_secret}
        if passphrase:
            body["passphrase"] = passphrase
        result = _call("PUT", f"/v1/credentials/{venue}", json=body)
        console.print(f"{result['venue']} connected" if result.get("connected") else json.dumps(result))

    @app.command()
    def edges(as_json: bool = typer.Option(False, "--json")) -> None:
        """Venue edges: status, last seen, symbols."""
        rows = _call("GET", "/v1/edges")["edges"]
        table = Table(title="edges")
        for col in ("venue", "instruments", "status", "symbols", "live", "age ms"):
            table.add_column(col)
        for e in rows:
            table.add_row(e["venue"], ",".join(e["instrument_types"]), e["status"], str(e["symbol_count"]),
                          str(e["live_symbol_count"]), str(e["age_ms"]))
        _emit(rows, as_json, table)
