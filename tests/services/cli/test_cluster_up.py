"""`make cluster` = `crossbook up --cluster`: the Procfile's processes on the three nodes of
nats/cluster/ (TLS, R3 streams, a NATS user per process) come up, say ready, and trade."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.services.cli.test_cluster import ROOT, free_port, poll


def post_json(url: str, body: dict[str, object], key: str) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())


@pytest.mark.timeout(300)
def test_up_cluster_runs_the_processes_on_three_tls_nodes_and_trades(tmp_path: Path) -> None:
    # Arrange: the cluster's own ports (nats/cluster/nN.conf) must be free on this machine.
    api_port, sim_port = free_port(), 20000 + os.getpid() % 1000
    data = tmp_path / "data"
    env = dict(os.environ, CROSSBOOK_DATA_DIR=str(data), CROSSBOOK_API_PORT=str(api_port),
               CROSSBOOK_SIM_BASE_PORT=str(sim_port), CROSSBOOK_NATS_URL="")
    log = tmp_path / "up.log"
    crossbook = Path(sys.executable).parent / "crossbook"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(crossbook), "up", "--cluster"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        # Act: wait for its "ready" line (every edge connected, the trader routing), then trade.
        def ready() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-4000:]
            return "ready after" in log.read_text(errors="replace")

        poll(ready, 180)
        key = (data / "default_api_key").read_text().strip()
        order = post_json(f"http://127.0.0.1:{api_port}/v1/orders",
                          {"symbol": "BTC-USDT", "side": "buy", "qty": 0.01}, key)
        assert isinstance(order, dict)
        url = f"http://127.0.0.1:{api_port}/v1/execution_graphs/{order['graph_id']}"

        def completed() -> bool:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(request, timeout=10) as r:
                return bool(json.loads(r.read())["status"] == "COMPLETED")

        poll(completed, 60)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
    # Assert: it ran the three TLS nodes with their users, and made the files it needs.
    output = log.read_text(errors="replace")
    assert "tls://127.0.0.1:4261,tls://127.0.0.1:4262,tls://127.0.0.1:4263" in output
    assert "own 3-node cluster (JetStream, TLS, R3 streams)" in output
    assert "permission denied" not in output.lower() and "authorization violation" not in output.lower()
    assert (data / "nats-tls" / "ca.pem").exists() and (data / "nats-creds" / "trader.nk").exists()
    for node in (1, 2, 3):
        conf = (data / "nats" / f"n{node}" / "server.conf").read_text()
        assert "authorization" in conf and "TLS_CERT" in conf
