"""`make run` = `crossbook up`: the whole Procfile cluster comes up, serves quotes from several
venues for one symbol, runs the README's Python quick start with the published client, and
Ctrl-C (SIGINT to honcho) stops every process. One cluster serves the module (it is the slowest
thing to start); the Ctrl-C test stops it and comes last."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from services.net import free_port

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"



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


@dataclass
class Up:
    """A running `crossbook up`; its output goes to a file (a pipe nobody reads can fill and stall it)."""

    proc: subprocess.Popen[bytes]
    api_url: str
    key: str
    log: Path
    nats_url: str = ""
    data_dir: Path = Path()
    output: str | None = field(default=None)

    def get(self, path: str, key: str | None = "") -> Any:
        self.check_running()
        return get_json(f"{self.api_url}{path}", self.key if key == "" else key)

    def check_running(self) -> None:
        """Fail at once, with what it printed, if the cluster has exited (honcho stops every
        process when one exits), instead of polling a dead API until the timeout."""
        if self.output is None and self.proc.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])
            pytest.fail(f"crossbook up exited with {self.proc.returncode}; its last lines:\n{tail}")

    def stop(self) -> str:
        """Ctrl-C (SIGINT to honcho) once; returns everything `up` printed."""
        if self.output is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=60)
            self.output = self.log.read_text()
        return self.output


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    tmp = tmp_path_factory.mktemp("up")
    api_port, nats_port, sim_port = free_port(), free_port(), 19000 + os.getpid() % 1000
    env = dict(os.environ)
    env.update(
        CROSSBOOK_DATA_DIR=str(tmp / "data"),
        CROSSBOOK_API_PORT=str(api_port),
        CROSSBOOK_NATS_PORT=str(nats_port),
        CROSSBOOK_SIM_BASE_PORT=str(sim_port),
        CROSSBOOK_NATS_URL="",
    )
    crossbook = Path(sys.executable).parent / "crossbook"
    log = tmp / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(crossbook), "up"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    key_file = tmp / "data" / "default_api_key"
    try:
        # `up` writes the default tenant's sandbox key before it starts the processes.
        key = poll(lambda: key_file.exists() and key_file.read_text().strip(), 30)
        cluster = Up(proc, f"http://127.0.0.1:{api_port}", key, log, f"nats://127.0.0.1:{nats_port}", tmp / "data")
        yield cluster
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def quoted(up: Up, symbol: str, venues: int) -> Any:
    """The quote of `symbol` once `venues` venues serve it from the live NBBO cache."""
    return poll(
        lambda: (q := up.get(f"/v1/quotes/{symbol}?depth=5"))["source"] == "edge_nbbo" and len(q["venues"]) >= venues and q,
        120,
    )


@pytest.mark.timeout(240)
def test_up_serves_quotes_from_several_venues_behind_the_key(up: Up) -> None:
    quote = quoted(up, "BTC-USDT", 3)
    assert quote["nbbo"]["bid"] < quote["nbbo"]["ask"] or len(quote["venues"]) > 1
    assert len(quote["book"]["bids"]) == 5
    edges = up.get("/v1/edges")["edges"]
    assert {"binance", "okx", "kraken", "coinbase", "kalshi", "bitmart"} <= {e["venue"] for e in edges}
    with pytest.raises(urllib.error.HTTPError) as no_key:
        up.get("/v1/edges", key=None)
    assert no_key.value.code == 401


def quickstart() -> str:
    """The README's Python quick start, exactly as documented."""
    return README.read_text().split("<!-- quickstart -->", 1)[1].split("<!-- /quickstart -->", 1)[0].split("```python\n", 1)[1].split("```", 1)[0]


def expect(pattern: str, line: str) -> tuple[str, ...]:
    found = re.fullmatch(pattern, line)
    assert found is not None, f"{line!r} does not match {pattern!r}"
    return found.groups()


@pytest.mark.timeout(240)
def test_the_documented_quick_start_runs_with_the_published_client(up: Up, tmp_path: Path) -> None:
    # Arrange: the snippet, unmodified but for the key and the base URL.
    quote = quoted(up, "ETH-USD", 2)  # Coinbase and Kraken list it
    snippet = quickstart()
    assert snippet.count('"seq_live_..."') == 1 and snippet.count('"https://api.sequencemkts.com"') == 1
    script = tmp_path / "quickstart.py"
    script.write_text(snippet.replace('"seq_live_..."', repr(up.key)).replace('"https://api.sequencemkts.com"', repr(up.api_url)))
    # Act
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    # Assert: it printed the mid, the order and the filled quantity and price.
    assert run.returncode == 0, run.stderr
    mid_line, order_line, filled_line = run.stdout.splitlines()
    mid = float(expect(r"ETH mid: \$([\d,]+\.\d\d)", mid_line)[0].replace(",", ""))
    assert abs(mid - quote["nbbo"]["mid"]) < quote["nbbo"]["mid"] / 100
    graph_id, status = expect(r"Order: (g_\w+) — (\w+)", order_line)
    assert status in ("ACCEPTED", "RUNNING", "COMPLETED")
    qty, px = expect(r"Filled: ([\d.]+) @ \$([\d,]+\.\d\d)", filled_line)
    # Read right after the buy: filled, or not yet (then 0 and an average price of 0, not a crash).
    final = poll(lambda: (s := up.get(f"/v1/execution_graphs/{graph_id}"))["status"] == "COMPLETED" and s, 30)
    node = final["nodes"]["order"]
    assert node["node_id"] == "order" and node["symbol"] == "ETH-USD" and node["filled_qty_1e8"] == 10_000_000
    assert abs(node["avg_fill_price_1e9"] / 1e9 - mid) < mid / 100
    if float(qty):
        assert (float(qty), px) == (0.1, f"{node['avg_fill_price_1e9'] / 1e9:,.2f}")
    else:
        assert px == "0.00"


@pytest.mark.timeout(120)
def test_up_runs_nats_with_a_user_per_process(up: Up) -> None:
    # Arrange: the cluster is serving (every process connected as its own user).
    quoted(up, "BTC-USDT", 2)
    seeds = sorted(p.name for p in (up.data_dir / "nats-creds").iterdir())
    assert seeds == ["admin.nk", "algos.nk", "api.nk", "edge.nk", "nbbo.nk", "prober.nk", "reader.nk", "trader.nk"]
    assert all((up.data_dir / "nats-creds" / s).stat().st_mode & 0o077 == 0 for s in seeds)  # owner only
    script = f"""
import asyncio
from pathlib import Path
from events import new_event_id
from events.risk import KillSwitchEngaged
from services.bus import Bus
from services.bus.permissions import NotAuthorized, NotPermitted
from services.settings import Settings

async def main():
    settings = Settings(data_dir=Path({str(up.data_dir)!r}), nats_url={up.nats_url!r}, _env_file=None)
    try:
        await Bus.connect(settings, name="anonymous", wait_s=10)
    except NotAuthorized as exc:
        print(exc)
    api = await Bus.connect(settings, name="probe", user="api")
    try:
        await asyncio.wait_for(api.publish(KillSwitchEngaged(event_id=new_event_id(), ts_ns=1, tenant="default", reason="x")), 5)
    except NotPermitted as exc:
        print(exc)
    await api.close()

asyncio.run(main())
"""
    # Act
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    # Assert
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        f"NATS at {up.nats_url} refused a connection without credentials: authorization violation",
        "NATS permission denied: user 'api' may not publish to 'risk.default.kill'",
    ]


@pytest.mark.timeout(120)
def test_ctrl_c_stops_every_process(up: Up) -> None:
    # Arrange: the whole process tree of the running cluster.
    up.check_running()
    pids = poll(lambda: len(found := descendants(up.proc.pid)) >= 10 and found, 60)
    # Act
    output = up.stop()
    # Assert
    assert up.proc.returncode is not None
    alive = [p for p in pids if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()]
    assert alive == [], f"processes left running after Ctrl-C: {alive}"
    assert up.api_url in output  # `up` printed where the API listens
    assert f"export CROSSBOOK_API_KEY={up.key}" in output  # ... and the key to call it with
    assert up.key.startswith("seq_test_")
