"""Shared bench plumbing: a throwaway nats-server and a settings object pointing at it."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from services.natsd import NatsServer
from services.settings import Settings


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[tuple[Settings, Path]]:
    with tempfile.TemporaryDirectory(prefix="crossbook-bench.") as tmp:
        server = NatsServer(Path(tmp) / "nats")
        server.start()
        try:
            yield Settings(data_dir=Path(tmp) / "data", nats_url=server.url, _env_file=None), Path(tmp)
        finally:
            server.stop()


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"
