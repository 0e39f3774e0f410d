"""A three-node JetStream cluster for tests: nats/cluster/n1..n3.conf with the data dir's users and
TLS (as `crossbook up --cluster` runs them), on free loopback ports, each node killable and
restartable on its own ports and store."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import nats.errors
import nats.js.errors

from services.bus import Bus
from services.bus.credentials import ensure_tls
from services.errors import BusError
from services.natsd import CLUSTER_NODES, NatsServer, node_conf, server_conf
from services.settings import Settings
from services.net import free_port



@dataclass
class Cluster:
    nodes: list[NatsServer]
    ports: list[int]  # client port of each node

    @property
    def url(self) -> str:
        return ",".join(f"tls://127.0.0.1:{p}" for p in self.ports)

    def kill(self, node: int) -> None:
        """kill -9 node `node` (0-based)."""
        self.nodes[node].kill()

    def restart(self, node: int) -> None:
        self.nodes[node].start(timeout_s=30)

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()


def start_cluster(root: Path, data_dir: Path) -> Cluster:
    tls = ensure_tls(data_dir)
    ports = [free_port() for _ in range(CLUSTER_NODES)]
    routes = [free_port() for _ in range(CLUSTER_NODES)]
    route_urls = ",".join(f"nats-route://127.0.0.1:{p}" for p in routes)
    nodes = []
    for i in range(CLUSTER_NODES):
        store = root / f"n{i + 1}"
        conf = server_conf(node_conf(i + 1), store / "server.conf", data_dir=data_dir, tls=tls)
        # The checked-in file's ports, moved to free ones (command-line options win).
        args = ("--cluster", f"nats://127.0.0.1:{routes[i]}", "--routes", route_urls, "-m", str(free_port()))
        nodes.append(NatsServer(store, port=ports[i], config=conf, args=args))
    for n in nodes:
        n.start(timeout_s=30)
    return Cluster(nodes, ports)


async def ensure_replicated_streams(settings: Settings, timeout_s: float = 60.0) -> None:
    """Create the streams as admin once the cluster has elected its JetStream meta leader."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    admin = await Bus.connect(settings, name="admin", user="admin")
    try:
        while True:
            try:
                await admin.ensure_streams()
                return
            except (nats.js.errors.APIError, nats.js.errors.ServiceUnavailableError, nats.errors.TimeoutError, BusError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.5)  # the cluster is still forming; nothing to wait on but its answer
    finally:
        await admin.close()
