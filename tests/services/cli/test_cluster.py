"""`make run` = `crossbook up`: the whole Procfile cluster comes up, serves quotes from several
venues for one symbol, and Ctrl-C (SIGINT to honcho) stops every process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, key: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.loads(r.read())


def poll(fn, timeout_s: float):  # type: ignore[no-untyped-def]
    """Poll an HTTP endpoint of another process (no event to wait on across processes)."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"condition not met in {timeout_s}s (last error: {last!r})")


def descendants(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


@pytest.mark.timeout(180)
def test_up_serves_quotes_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    api_port, nats_port, sim_port = free_port(), free_port(), 19000 + os.getpid() % 1000
    env = dict(os.environ)
    env.update(
        CROSSBOOK_DATA_DIR=str(tmp_path / "data"),
        CROSSBOOK_API_PORT=str(api_port),
        CROSSBOOK_NATS_PORT=str(nats_port),
        CROSSBOOK_SIM_BASE_PORT=str(sim_port),
        CROSSBOOK_NATS_URL="",
    )
    crossbook = Path(sys.executable).parent / "crossbook"
    proc = subprocess.Popen(
        [str(crossbook), "up"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    key_file = tmp_path / "data" / "default_api_key"
    try:
        # `up` writes the default tenant's sandbox key before it starts the processes.
        key = poll(lambda: key_file.exists() and key_file.read_text().strip(), 30)
        quote = poll(
            lambda: (q := get_json(f"http://127.0.0.1:{api_port}/v1/quotes/BTC-USDT?depth=5", key))
            and len(q["venues"]) >= 3
            and q,
            120,
        )
        assert quote["source"] == "edge_nbbo"
        assert quote["nbbo"]["bid"] < quote["nbbo"]["ask"] or len(quote["venues"]) > 1
        assert len(quote["book"]["bids"]) == 5
        edges = get_json(f"http://127.0.0.1:{api_port}/v1/edges", key)["edges"]
        assert {"binance", "okx", "kraken", "coinbase", "kalshi", "bitmart"} <= {e["venue"] for e in edges}
        with pytest.raises(urllib.error.HTTPError) as no_key:
            get_json(f"http://127.0.0.1:{api_port}/v1/edges")
        assert no_key.value.code == 401
        pids = descendants(proc.pid)
        assert len(pids) >= 10
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode is not None
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]
    assert alive == [], f"processes left running after Ctrl-C: {alive}"
    assert f"http://127.0.0.1:{api_port}" in output  # `up` printed where the API listens
    assert f"export CROSSBOOK_API_KEY={key}" in output  # ... and the key to call it with
    assert key.startswith("seq_test_")
