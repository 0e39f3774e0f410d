"""The synchronous kernel does no I/O and reads no clock: importing it (in a fresh interpreter)
loads no event loop, no bus client, no web framework, and none of the asyncio services."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROBE = """
import json, sys
import services.kernel.kernel, replay.backtest
print(json.dumps(sorted(sys.modules)))
"""
FORBIDDEN = ("asyncio", "nats", "fastapi", "httpx", "psycopg", "sqlite3")


def test_the_kernel_and_the_backtest_driver_load_no_io_machinery() -> None:
    loaded = json.loads(subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True,
                                       check=True).stdout)
    assert [m for m in loaded if m.split(".")[0] in FORBIDDEN] == []
    assert [m for m in loaded if m.startswith("services.") and m.endswith((".service", ".runtime"))] == []
