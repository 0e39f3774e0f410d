"""Published JavaScript SDKs from npm for differential tests, installed with the npm client into a
cache outside the repo (CROSSBOOK_SOLANA_NPM_DIR, default ~/.cache/crossbook/solana-npm), once
per machine and package; the calling test is skipped, saying why, where node or npm is missing
or the registry cannot be reached."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def install(spec: str) -> Path:
    """`npm install spec` into its own folder of the cache; returns that folder's node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"node and npm are needed to run {spec}")
    base = Path(os.environ.get("CROSSBOOK_SOLANA_NPM_DIR") or Path.home() / ".cache" / "crossbook" / "solana-npm")
    root = base / re.sub(r"[^A-Za-z0-9.-]+", "_", spec)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel runs install once
        if not (root / ".installed").exists():
            try:
                proc = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(root), spec],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm install {spec} did not finish in 600 s")
            if proc.returncode != 0:
                pytest.skip(f"npm install {spec} failed: {proc.stderr.strip()[-300:]}")
            (root / ".installed").write_text(spec)
    return root / "node_modules"


def run_node(script: str, stdin: str, module: Path | str) -> str:
    """Run a node script given as text, with `module` (a path) in CROSSBOOK_JS; return stdout."""
    env = {**os.environ, "CROSSBOOK_JS": str(module)}
    proc = subprocess.run(["node", "-e", script], input=stdin, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
