"""The three-region supercluster for tests: one node per region (nats/regions/layout.json's
regions and venues, on free loopback ports), with the data dir's per-region users and TLS as
`crossbook up --regions` runs them, and optionally a delay proxy on the gateway connections
between two regions (both directions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from services.bus.credentials import ensure_tls
from services.natsd import NatsServer
from services.net import free_port
from services.regions import Layout, NodePorts, default_layout
from services.regions.natsconf import node_conf, write_node_conf
from services.settings import Settings
from tests.delay_proxy import DelayProxy


@dataclass
class Supercluster:
    layout: Layout
    data_dir: Path
    servers: dict[str, NatsServer]
    proxies: list[DelayProxy] = field(default_factory=list)

    def url(self, region: str) -> str:
        return self.layout.region(region).client_url()

    def settings(self, region: str) -> Settings:
        return Settings(data_dir=self.data_dir, nats_url=self.url(region), region=region, _env_file=None)

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        for proxy in self.proxies:
            proxy.stop()


def start_supercluster(root: Path, data_dir: Path, *, delay: tuple[str, str, float] | None = None) -> Supercluster:
    """`delay` = (a, b, seconds): every byte between a's and b's gateways waits that long, each way."""
    tls = ensure_tls(data_dir)
    base = default_layout()
    layout = base.with_nodes({r: [NodePorts(free_port(), free_port(), free_port(), free_port())] for r in base.regions})
    moved: dict[str, dict[str, list[str]]] = {r: {} for r in layout.regions}
    proxies = []
    if delay is not None:
        a, b, seconds = delay
        for here, there in ((a, b), (b, a)):
            proxy = DelayProxy(layout.region(there).nodes[0].gateway, seconds)
            moved[here][there] = [f"tls://127.0.0.1:{proxy.start()}"]
            proxies.append(proxy)
    servers = {}
    for name, region in layout.regions.items():
        store = root / name
        conf = write_node_conf(
            node_conf(layout, name, 0, tls=tls, data_dir=data_dir, gateway_urls=moved[name]), store / "server.conf"
        )
        servers[name] = NatsServer(store, port=region.nodes[0].client, config=conf)
    cluster = Supercluster(layout, data_dir, servers, proxies)
    try:
        for server in servers.values():
            server.start(timeout_s=30)
    except Exception:
        cluster.stop()
        raise
    return cluster
