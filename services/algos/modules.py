"""Deployed modules: checked and compiled before a deployment is accepted, stored by SHA-256.

The API checks a module here before it answers `POST /v1/deployments` (a module that does not
compile, imports anything beyond the ABI or lacks a required export is refused with a 4xx),
then stores the bytes as `data_dir/algos/modules/<sha256>.wasm`. The algo runner loads them from
there by the hash its `AlgoDeployed` event names: the module itself never travels in an event.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from services.algos.errors import AlgoRejected
from services.algos.module import load_module

MAX_MODULE_BYTES = 8 * 2**20


class ModuleRejected(ValueError):
    """The module cannot run as an algo; the message says why (shown to the user as is)."""


@dataclass(frozen=True)
class ModuleInfo:
    sha256: str
    size_bytes: int
    exports: list[str]  # the ABI callbacks it exports (what the host will call)


def inspect_module(engine: wasmtime.Engine, wasm: bytes) -> ModuleInfo:
    """Compile `wasm` and check it as the host will load it (services/algos/module.py: imports,
    exports and their types, data placement, a trial instantiation); ModuleRejected if it fails."""
    if not wasm:
        raise ModuleRejected("the module is empty")
    if len(wasm) > MAX_MODULE_BYTES:
        raise ModuleRejected(f"the module is {len(wasm)} bytes; at most {MAX_MODULE_BYTES}")
    if not wasm.startswith(b"\0asm"):
        raise ModuleRejected("not a WebAssembly binary (no \\0asm magic); build it with `crossbook algo build`")
    try:
        module = load_module(engine, wasm)
    except AlgoRejected as exc:
        raise ModuleRejected(f"the module {exc.reason}") from exc
    return ModuleInfo(sha256=hashlib.sha256(wasm).hexdigest(), size_bytes=len(wasm), exports=sorted(module.exports))


class ModuleStore:
    """Module bytes by SHA-256 under `root` (written atomically, never changed afterwards)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def under(cls, data_dir: Path) -> ModuleStore:
        return cls(data_dir / "algos" / "modules")

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / f"{sha256}.wasm"

    def put(self, wasm: bytes) -> str:
        sha = hashlib.sha256(wasm).hexdigest()
        path = self.path(sha)
        if not path.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(wasm)
            os.replace(tmp, path)
        return sha

    def get(self, sha256: str) -> bytes:
        wasm = self.path(sha256).read_bytes()
        if hashlib.sha256(wasm).hexdigest() != sha256:
            raise ValueError(f"stored module {sha256} does not match its hash")
        return wasm
