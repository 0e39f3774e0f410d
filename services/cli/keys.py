"""`crossbook keys`: mint, revoke and list API keys in the local key store."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table

from services.api.keys import KeyNotFound, open_key_store
from services.settings import load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="API keys: create, revoke, list.")


@app.command()
def create(
    tenant: str = typer.Option(..., help="tenant the key acts for"),
    sandbox: bool = typer.Option(False, "--sandbox", help="a seq_test_ key: every order is sandbox"),
    admin: bool = typer.Option(False, "--admin", help="may clear the kill switch (a tenant's first key always may)"),
    label: str = typer.Option("", help="free text shown by `keys list`"),
) -> None:
    """Create a key; the key itself is printed once, as the last line."""
    store = open_key_store(load_settings())
    try:
        issued = store.create(tenant, sandbox=sandbox, admin=admin, now_ns=time.time_ns(), label=label)
    finally:
        store.close()
    rec = issued.record
    typer.echo(
        f"key_id {rec.key_id}  tenant {rec.tenant}  mode {'sandbox' if rec.is_sandbox else 'live'}"
        f"  admin {'yes' if rec.is_admin else 'no'}  (the key is shown once; only its hash is stored)"
    )
    typer.echo(issued.secret)  # last line: scripts take it with `| tail -n1`


@app.command()
def revoke(key_id: str = typer.Argument(..., help="the key_id shown by `keys create` / `keys list`")) -> None:
    """Revoke a key: the API rejects it (401) from the next request on."""
    store = open_key_store(load_settings())
    try:
        key = store.revoke(key_id, time.time_ns())
    except KeyNotFound as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        store.close()
    typer.echo(f"revoked {key.key_id} (tenant {key.tenant})")


@app.command("list")
def list_keys(tenant: str = typer.Option(None, help="only this tenant's keys")) -> None:
    """List keys (ids and flags; never the keys themselves)."""
    store = open_key_store(load_settings())
    try:
        keys = store.list_keys(tenant)
    finally:
        store.close()
    table = Table(show_header=True)
    for column in ("key_id", "tenant", "mode", "admin", "created_ns", "revoked_ns", "label"):
        table.add_column(column, no_wrap=True)
    for k in keys:
        table.add_row(
            k.key_id, k.tenant, "sandbox" if k.is_sandbox else "live", "yes" if k.is_admin else "no",
            str(k.created_ns), "" if k.revoked_ns is None else str(k.revoked_ns), k.label,
        )
    Console(width=200).print(table)
