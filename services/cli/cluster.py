"""`crossbook up`: run the Procfile's local cluster under honcho, and say when it is ready."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from projections.store import open_store
from services.api.keys import ensure_default_key
from services.settings import PROJECT_ROOT, Settings

PROCFILE = PROJECT_ROOT / "Procfile"
DEFAULT_TENANT = "default"
READY_POLL_S = 0.2  # GET /v1/health of the API process: no event to wait on across processes


def procfile_entries(path: Path = PROCFILE) -> list[tuple[str, str]]:
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, cmd = line.partition(":")
        entries.append((name.strip(), cmd.strip()))
    return entries


def up(settings: Settings, console: Console) -> None:
    """Print where everything listens, run honcho (Ctrl-C stops all), print "ready" once it is."""
    entries = procfile_entries()
    names = [n for n, _ in entries if not (n == "nats" and settings.nats_url)]
    # Create the read-model tables once, here: processes that start together and each create
    # them on a fresh database race on eventsourcing's tracking migration, and the loser exits.
    open_store(settings).close()
    # The key lives in the same store the API process opens, so it works as soon as the API is up.
    key = ensure_default_key(settings, DEFAULT_TENANT, now_ns=time.time_ns())
    table = Table(title="Crossbook local cluster", show_header=True)
    table.add_column("what")
    table.add_column("where", overflow="fold")  # fold, never crop: the key must print whole
    nats_note = "existing server" if settings.nats_url else "own nats-server (JetStream)"
    table.add_row("NATS", f"{settings.effective_nats_url}  ({nats_note})")
    table.add_row("API", f"http://{settings.api_host}:{settings.api_port}")
    table.add_row("API key", key.secret)
    table.add_row("key id", f"{key.record.key_id} (tenant {DEFAULT_TENANT}, sandbox)")
    table.add_row("read models", settings.database_url or f"sqlite:///{settings.sqlite_path}")
    table.add_row("data dir", str(settings.data_dir))
    table.add_row("processes", ", ".join(names))
    console.print(table)
    # Also on one plain line: a narrow terminal may fold the table cell.
    print(f"export CROSSBOOK_API_KEY={key.secret}")
    console.print("Ctrl-C stops every process.", style="dim")
    sys.stdout.flush()
    honcho = shutil.which("honcho", path=str(Path(sys.executable).parent)) or shutil.which("honcho")
    if honcho is None:
        raise SystemExit("honcho is not installed (make install)")
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    started = time.monotonic()
    cluster = subprocess.Popen([honcho, "start", "-f", str(PROCFILE), "-d", str(PROJECT_ROOT), *names], env=env)
    # Ctrl-C (or a signal to this process alone) is passed on to honcho, which stops every
    # process; the terminal may deliver it to honcho too, and a second one changes nothing.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda received, frame: cluster.send_signal(received))
    edges = sum(1 for name in names if name.startswith("edge_"))
    url = f"http://{settings.api_host}:{settings.api_port}"
    watcher = threading.Thread(
        target=announce_ready, args=(console, cluster, url, key.secret, edges, started), daemon=True
    )
    watcher.start()
    raise SystemExit(cluster.wait())


def cluster_problems(health: dict[str, Any], edges: int) -> list[str]:
    """What keeps the cluster from being ready, from the API's GET /v1/health body."""
    problems = [] if health.get("ready") else [str(p) for p in health.get("problems") or ["not ready"]]
    connected = int((health.get("edges") or {}).get("connected", 0))
    if connected < edges:
        problems.append(f"{connected} of {edges} edges connected")
    return problems


def announce_ready(
    console: Console, cluster: subprocess.Popen[bytes], url: str, key: str, edges: int, started: float
) -> None:
    """Print one "ready" line once the API says the system can trade and every edge is connected."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=5.0) as client:
        while cluster.poll() is None:
            try:
                problems = cluster_problems(client.get("/v1/health").json(), edges)
            except (httpx.HTTPError, ValueError):
                problems = ["the API is not answering yet"]
            if not problems:
                console.print(
                    f"[bold green]ready[/bold green] after {time.monotonic() - started:.1f}s: "
                    f"{edges} edges connected, the trader routing on current books ({url})"
                )
                sys.stdout.flush()
                return
            time.sleep(READY_POLL_S)
