"""Build an algo to WebAssembly: C with zig cc (the `ziglang` wheel, no system compiler), or WAT.

C is compiled for `wasm32-freestanding` with the SDK header and runtime (services/algos/sdk/),
no libc and no WASI, and linked with the stack first (64 KiB, below 0x10000) and data from
0x30000, so the host's fixed region 0x10000..0x25000 stays free (docs/algo_abi.md). The result
is then loaded with the host's own validation, so a module that builds also deploys.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.algos import abi
from services.algos.errors import BuildFailed
from services.algos.module import load_module, new_engine, to_binary

SDK_DIR = Path(__file__).parent / "sdk"
HEADER = SDK_DIR / "crossbook_algo.h"
RUNTIME = SDK_DIR / "crossbook_rt.c"
BUILD_TIMEOUT_S = 300


def compiler_command(sources: list[Path], out: Path, opt: str = "-O2") -> list[str]:
    """The zig cc command line for `sources` (the SDK runtime is added)."""
    return [
        sys.executable, "-m", "ziglang", "cc",
        "--target=wasm32-freestanding", opt, "-nostdlib", "-std=c11", "-Wall", "-Werror=implicit-function-declaration",
        f"-I{SDK_DIR}",
        "-g0",
        "-Wl,--no-entry",
        "-Wl,--strip-debug",
        f"-Wl,-z,stack-size={abi.GUEST_STACK_SIZE}",
        f"-Wl,--global-base={abi.GUEST_DATA_BASE}",
        "-o", str(out),
        *(str(s) for s in sources), str(RUNTIME),
    ]


def build(sources: list[Path], out: Path, opt: str = "-O2") -> Path:
    """Compile C sources (or assemble one .wat) into `out`, then validate it as the host would."""
    if not sources:
        raise BuildFailed("nothing to build: give .c files or one .wat file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(sources) == 1 and sources[0].suffix == ".wat":
        try:
            binary = to_binary(sources[0].read_text())
        except Exception as e:
            raise BuildFailed(f"{sources[0]}: not valid WAT", str(e)) from None
        out.write_bytes(binary)
    else:
        bad = [s for s in sources if s.suffix != ".c"]
        if bad:
            raise BuildFailed(f"expected .c sources (or one .wat), was {', '.join(map(str, bad))}")
        try:
            proc = subprocess.run(
                compiler_command(sources, out, opt), capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
            )
        except FileNotFoundError as e:
            raise BuildFailed("the C compiler could not start (is the ziglang package installed?)", str(e)) from None
        if proc.returncode != 0:
            raise BuildFailed(f"zig cc failed with exit code {proc.returncode}", (proc.stderr or proc.stdout).strip())
    # Same checks as deploy: a module that builds here is one the host accepts.
    load_module(new_engine(), out.read_bytes())
    return out
