"""Render one supercluster node's nats-server configuration from nats/regions/layout.json.

Every node of every region carries the same accounts: one per region (its users are the
services/bus/permissions.py identities with that region's own seeds) and SYS. A region's
account exports to the others what sourcing its MD stream needs (creating a source consumer
on MD, and the subjects its messages are delivered on) and its RTT responder; the other
accounts import them under `$JS.<ACCOUNT>.API` and `rtt.<region>.ping`. Nothing else crosses
between regions: each keeps its own ledger.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from services.bus.credentials import TlsFiles, ensure_seeds
from services.bus.permissions import IDENTITIES, permissions
from services.regions import Layout, Region, info_subject, ping_subject, source_api

SYSTEM_ACCOUNT = "SYS"
NODE_JETSTREAM = {"max_memory_store": 256 << 20, "max_file_store": 8 << 30}


def _account(layout: Layout, region: Region, data_dir: Path) -> dict[str, Any]:
    others = [o for o in layout.regions.values() if o.name != region.name]
    peers = [o.account for o in others]
    account: dict[str, Any] = {
        "jetstream": "enabled",
        "exports": [
            {"service": "$JS.API.CONSUMER.CREATE.MD", "accounts": peers},
            {"service": "$JS.API.CONSUMER.CREATE.MD.>", "accounts": peers},
            {"stream": f"_mdsrc.{region.name}.>", "accounts": peers},
            {"service": ping_subject(region.name), "accounts": peers},
            {"service": info_subject("MD"), "accounts": peers},
        ],
        "imports": [],
    }
    for o in others:
        account["imports"] += [
            {"service": {"account": o.account, "subject": "$JS.API.CONSUMER.CREATE.MD"},
             "to": f"{source_api(o)}.CONSUMER.CREATE.MD"},
            {"service": {"account": o.account, "subject": "$JS.API.CONSUMER.CREATE.MD.>"},
             "to": f"{source_api(o)}.CONSUMER.CREATE.MD.>"},
            {"stream": {"account": o.account, "subject": f"_mdsrc.{o.name}.>"}},
            {"service": {"account": o.account, "subject": ping_subject(o.name)}},
            {"service": {"account": o.account, "subject": info_subject("MD")}, "to": f"{source_api(o)}.STREAM.INFO.MD"},
        ]
    keys = ensure_seeds(data_dir, region.name)
    account["users"] = [{"nkey": keys[name], "permissions": permissions(i)} for name, i in IDENTITIES.items()]
    return account


def node_conf(
    layout: Layout, region: str, index: int, *, tls: TlsFiles, data_dir: Path,
    gateway_urls: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The configuration (nats-server reads JSON) of node `index` (0-based) of `region`.
    `gateway_urls`: where this node reaches some other regions' gateways instead of their
    layout ports (a test's delay proxy)."""
    moved = gateway_urls or {}
    here = layout.region(region)
    ports = here.nodes[index]
    mutual = {"cert_file": str(tls.cert), "key_file": str(tls.key), "ca_file": str(tls.ca), "verify": True, "timeout": 5}
    accounts = {r.account: _account(layout, r, data_dir) for r in layout.regions.values()}
    accounts[SYSTEM_ACCOUNT] = {}
    conf: dict[str, Any] = {
        "server_name": f"crossbook-{region}{index + 1}",
        "listen": f"127.0.0.1:{ports.client}",
        "http": f"127.0.0.1:{ports.http}",
        "server_tags": [here.tag],
        "jetstream": NODE_JETSTREAM,
        "max_payload": 8 << 20,
        "tls": {"cert_file": str(tls.cert), "key_file": str(tls.key), "ca_file": str(tls.ca), "timeout": 5},
        # JetStream in a supercluster needs a cluster block, even for a region of one node.
        "cluster": {
            "name": region,
            "listen": f"127.0.0.1:{ports.cluster}",
            "routes": [f"nats-route://127.0.0.1:{n.cluster}" for n in here.nodes],
            "tls": mutual,
        },
        "gateway": {
            "name": region,
            "listen": f"127.0.0.1:{ports.gateway}",
            "gateways": [
                {"name": r.name, "urls": moved.get(r.name) or [f"tls://127.0.0.1:{n.gateway}" for n in r.nodes]}
                for r in layout.regions.values()
            ],
            "tls": mutual,
        },
        "accounts": accounts,
        "system_account": SYSTEM_ACCOUNT,
    }
    return conf


def write_node_conf(conf: dict[str, Any], out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(conf, indent=1) + "\n")  # nats-server reads JSON
    return out
