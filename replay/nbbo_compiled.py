"""The C level loop of the fast NBBO fold (replay/nbbo_kernel.c), built and loaded on first use.

    lib = kernel()   # None when it cannot be built here (the Python fast path is used instead)

It is compiled with `zig cc` from the `ziglang` wheel (already a dependency for algos: no system
compiler, nothing more to install) into the user's cache directory, once per source version and
platform; later processes load the cached library in about a millisecond. Builds by concurrent
processes do not clash: each writes its own temporary file and renames it into place.
`CROSSBOOK_NBBO_KERNEL=python` turns the compiled path off.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

SOURCE = Path(__file__).with_name("nbbo_kernel.c")
_P = ctypes.c_void_p
_I64 = ctypes.c_int64


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crossbook"


def _build(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        # Baseline CPU: a cached library stays valid if the cache directory moves to another machine.
        subprocess.run([sys.executable, "-m", "ziglang", "cc", "-O2", "-shared", "-fPIC", "-mcpu=baseline",
                        str(SOURCE), "-o", tmp], check=True, capture_output=True, timeout=300)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@cache
def kernel() -> ctypes.CDLL | None:
    """The loaded library with its signatures set, or None if it cannot be built or loaded here."""
    if os.environ.get("CROSSBOOK_NBBO_KERNEL") == "python":
        return None
    digest = hashlib.sha256(SOURCE.read_bytes() + f"{platform.machine()}-{sys.platform}".encode()).hexdigest()[:16]
    target = _cache_dir() / f"nbbo_kernel-{digest}.so"
    try:
        if not target.exists():
            _build(target)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
    lib.cb_new.restype = _P
    lib.cb_new.argtypes = []
    lib.cb_free.restype = None
    lib.cb_free.argtypes = [_P]
    lib.cb_book.restype = ctypes.c_int
    lib.cb_book.argtypes = [_P, _I64, ctypes.c_int32, ctypes.c_int32]
    lib.cb_fold.restype = _I64
    lib.cb_fold.argtypes = [_P, _I64, _P, _P, _P, _P, _P, _P, _P, _P, _P, _I64, _P, _I64, _P]
    lib.cb_drop.restype = _I64
    lib.cb_drop.argtypes = [_P, _I64, _P, _I64, _P, _P]
    return lib
