"""Uniswap's and OpenZeppelin's published contract artifacts (ABI + bytecode), from npm.

Installed with the npm client into a cache directory outside the repo (CROSSBOOK_EVM_NPM_DIR,
default ~/.cache/crossbook/evm-npm), once per machine: parallel test runs take a file lock. The
edge itself needs only the ABIs; the bytecode deploys the local chain in tests and benchmarks.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

PACKAGES = {
    "@uniswap/v2-core": "1.0.1",
    "@uniswap/v2-periphery": "1.1.0-beta.0",
    "@uniswap/v3-core": "1.0.1",
    "@uniswap/v3-periphery": "1.4.4",
    "@openzeppelin/contracts": "4.9.6",  # 5.x no longer ships build artifacts
}
NODE_PACKAGES = {"ganache": "7.9.2"}  # a JSON-RPC node for end-to-end runs

# contract name -> path under node_modules (Waffle `build/` or Hardhat `artifacts/` layout)
_PATHS = {
    "UniswapV2Factory": "@uniswap/v2-core/build/UniswapV2Factory.json",
    "UniswapV2Pair": "@uniswap/v2-core/build/UniswapV2Pair.json",
    "UniswapV2Router02": "@uniswap/v2-periphery/build/UniswapV2Router02.json",
    "WETH9": "@uniswap/v2-periphery/build/WETH9.json",
    "UniswapV3Factory": "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
    "UniswapV3Pool": "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
    "SwapRouter": "@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
    "NonfungiblePositionManager": (
        "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json"
    ),
    "QuoterV2": "@uniswap/v3-periphery/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
    "ERC20": "@openzeppelin/contracts/build/contracts/ERC20PresetFixedSupply.json",
}


class NpmUnavailable(RuntimeError):
    """npm is not installed, or the registry could not be reached."""


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str  # 0x-prefixed creation code


def npm_dir() -> Path:
    return Path(os.environ.get("CROSSBOOK_EVM_NPM_DIR") or Path.home() / ".cache" / "crossbook" / "evm-npm")


def _install(root: Path, packages: dict[str, str], marker: str) -> Path:
    done = root / marker
    if done.exists():
        return root / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable("npm is not installed (needed to fetch the published contract artifacts)")
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test process may be installing the same set
        if not done.exists():
            if not (root / "package.json").exists():
                (root / "package.json").write_text('{"name": "crossbook-evm-artifacts", "private": true}\n')
            specs = [f"{name}@{version}" for name, version in packages.items()]
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", *specs],
                cwd=root, capture_output=True, text=True, timeout=600,
            )
            if proc.returncode != 0:
                raise NpmUnavailable(f"npm install failed: {proc.stderr.strip()[-500:]}")
            done.write_text(json.dumps(packages))
    return root / "node_modules"


def ensure_artifacts() -> Path:
    return _install(npm_dir(), PACKAGES, ".contracts-installed")


def ensure_ganache() -> Path:
    """The ganache executable (installed beside the artifacts)."""
    modules = _install(npm_dir(), NODE_PACKAGES, ".ganache-installed")
    return modules / ".bin" / "ganache"


@cache
def load(name: str) -> Artifact:
    data = json.loads((ensure_artifacts() / _PATHS[name]).read_text())
    code = data["bytecode"]
    if isinstance(code, dict):  # some Waffle builds nest it
        code = code["object"]
    return Artifact(name, data["abi"], code if code.startswith("0x") else "0x" + code)


def abi(name: str) -> list[dict[str, Any]]:
    return load(name).abi
