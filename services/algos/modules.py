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

MAX_MODULE_BYTES = 8 * 2**20
REQUIRED_EXPORTS = ("memory", "algo_alloc")
BOOK_EXPORTS = ("algo_on_book", "algo_on_book_v3")  # one of them
OPTIONAL_EXPORTS = (
    "algo_on_fill", "algo_on_reject", "algo_on_shutdown", "algo_on_heartbeat", "algo_on_nbbo", "algo_on_message",
)
ALLOWED_IMPORTS = {("env", "host_log_impl"), ("env", "__seq_send")}


class ModuleRejected(ValueError):
    """The module cannot run as an algo; the message says why (shown to the user as is)."""


@dataclass(frozen=True)
class ModuleInfo:
    sha256: str
    size_bytes: int
    exports: list[str]  # the ABI callbacks it exports


def inspect_module(engine: wasmtime.Engine, wasm: bytes) -> ModuleInfo:
    """Compile `wasm` and check it against the ABI (imports, exports); ModuleRejected if it fails."""
    if not wasm:
        raise ModuleRejected("the module is empty")
    if len(wasm) > MAX_MODULE_BYTES:
        raise ModuleRejected(f"the module is {len(wasm)} bytes; at most {MAX_MODULE_BYTES}")
    if not wasm.startswith(b"\0asm"):
        raise ModuleRejected("not a WebAssembly binary (no \\0asm magic); build it with `crossbook algo build`")
    try:
        module = wasmtime.Module(engine, wasm)
    except wasmtime.WasmtimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid module"
        raise ModuleRejected(f"the module does not compile: {first}") from exc
    for imp in module.imports:
        if (imp.module, imp.name) not in ALLOWED_IMPORTS:
            what = "WASI is not available to algos" if imp.module.startswith("wasi") else "not part of the algo ABI"
            raise ModuleRejected(f"the module imports {imp.module}.{imp.name}: {what}")
    exports = {e.name for e in module.exports}
    missing = [name for name in REQUIRED_EXPORTS if name not in exports]
    if not any(name in exports for name in BOOK_EXPORTS):
        missing.append(" or ".join(BOOK_EXPORTS))
    if missing:
        raise ModuleRejected(f"the module does not export {', '.join(missing)}")
    known = [name for name in (*BOOK_EXPORTS, *OPTIONAL_EXPORTS) if name in exports]
    return ModuleInfo(sha256=hashlib.sha256(wasm).hexdigest(), size_bytes=len(wasm), exports=known)


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
