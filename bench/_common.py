"""Shared bench plumbing: a throwaway nats-server and a settings object pointing at it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from services.natsd import NatsServer
from services.settings import Settings


@contextlib.contextmanager
def throwaway_cluster(servers: list[NatsServer] | None = None) -> Iterator[tuple[Settings, Path]]:
    """A nats-server on a temporary store; appended to `servers` when given (for its pid)."""
    with tempfile.TemporaryDirectory(prefix="crossbook-bench.") as tmp:
        server = NatsServer(Path(tmp) / "nats")
        server.start()
        if servers is not None:
            servers.append(server)
        try:
            yield Settings(data_dir=Path(tmp) / "data", nats_url=server.url, _env_file=None), Path(tmp)
        finally:
            server.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc), which other load on the
    machine does not move the way it moves wall-clock latency."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def quoted(client: Any, venues: list[str]) -> bool:
    """Whether the API (an httpx.AsyncClient on it) answers with BTC-USDT books from every venue
    and says it is ready to trade (GET /v1/health: the trader's parts announced themselves)."""
    with contextlib.suppress(httpx.TransportError):
        r = await client.get("/v1/quotes/BTC-USDT", params={"nowait": "true"})
        if not (r.status_code == 200 and len(r.json().get("venues") or []) >= len(venues)):
            return False
        return bool((await client.get("/v1/health")).status_code == 200)
    return False


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"
