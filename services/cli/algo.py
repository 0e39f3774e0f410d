"""`crossbook algo`: scaffold and build WebAssembly algos; deploy/start/stop/status/logs/undeploy
talk to the API (services/cli/algo_deploy.py).

`init NAME` writes a C project (algo.c, the SDK header, Crossbook.toml); `build [PATH]` compiles
it with zig cc from the `ziglang` wheel (or assembles a .wat) and validates the module as the
host will.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import typer

from services.algos.build import HEADER, build as build_module
from services.algos.errors import AlgoRejected, BuildFailed
from services.cli import algo_deploy

app = typer.Typer(no_args_is_help=True, add_completion=False, help="WebAssembly algos: init, build, deploy, start, stop, status, logs, undeploy.")

MANIFEST = "Crossbook.toml"
NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

STARTER_C = """\
/* {name}: a starter algo. Quotes one post-only order a side, one tick inside the spread when
 * there is room, and cancels both on shutdown. Build with `crossbook algo build`. */
#include "crossbook_algo.h"

#define QTY_1E8 1000000 /* 0.01 */
#define BID_ID 1
#define ASK_ID 2

static void on_book(const L2Book *b, const AlgoState *s, const OnlineFeatures *f, WasmActions *out) {{
    (void)f;
    if (!b->bid_ct || !b->ask_ct) return;
    uint64_t tick = s->symbol.tick_size_1e9 ? s->symbol.tick_size_1e9 : 1;
    uint64_t bid = b->bids[0].px_1e9, ask = b->asks[0].px_1e9;
    if (ask - bid > 2 * tick) {{ bid += tick; ask -= tick; }}
    if (!cb_find_order(s, BID_ID)) cb_post_only_buy(out, BID_ID, bid, QTY_1E8);
    if (!cb_find_order(s, ASK_ID)) cb_post_only_sell(out, ASK_ID, ask, QTY_1E8);
}}

static void on_fill(const Fill *fill, const AlgoState *s) {{
    (void)fill;
    cb_log_i64(CB_INFO, "filled; position_1e8", s->position_1e8);
}}

static void on_reject(const Reject *r) {{ cb_log_i64(CB_WARN, "rejected; code", r->code); }}

static void on_shutdown(const AlgoState *s, WasmActions *out) {{ cb_cancel_all(out, s); }}

CB_ON_BOOK(on_book)
CB_ON_FILL(on_fill)
CB_ON_REJECT(on_reject)
CB_ON_SHUTDOWN(on_shutdown)
"""

STARTER_TOML = """\
# Crossbook algo project (read by `crossbook algo build`; deploy reads name and symbols).
name = "{name}"
sources = ["algo.c"]
output = "build/{name}.wasm"
symbols = ["BTC-USDT"]
"""


@app.command()
def init(
    name: str = typer.Argument(..., help="algo name: letters, digits, _ and -"),
    directory: Path = typer.Option(None, "--dir", help="where to create it (default: ./NAME)"),
) -> None:
    """Scaffold a C algo: algo.c, crossbook_algo.h (the ABI structs) and Crossbook.toml."""
    if not NAME_RE.match(name):
        raise typer.BadParameter(f"use letters, digits, _ and - (at most 64), was {name!r}", param_hint="NAME")
    target = directory or Path(name)
    if target.exists() and any(target.iterdir()):
        typer.echo(f"{target} exists and is not empty; nothing written", err=True)
        raise typer.Exit(2)
    target.mkdir(parents=True, exist_ok=True)
    (target / "algo.c").write_text(STARTER_C.format(name=name))
    shutil.copyfile(HEADER, target / HEADER.name)
    (target / MANIFEST).write_text(STARTER_TOML.format(name=name))
    typer.echo(f"created {target}/ (algo.c, {HEADER.name}, {MANIFEST}); next: crossbook algo build {target}")


def _project(path: Path) -> tuple[list[Path], Path]:
    """The sources and output for PATH: a project directory, or a single .c/.wat file."""
    if path.is_file():
        return [path], path.parent / "build" / (path.stem + ".wasm")
    manifest = path / MANIFEST
    if manifest.is_file():
        conf = tomllib.loads(manifest.read_text())
        name = str(conf.get("name") or path.resolve().name)
        sources = [path / s for s in conf.get("sources", ["algo.c"])]
        return sources, path / str(conf.get("output") or f"build/{name}.wasm")
    sources = sorted(path.glob("*.c")) or sorted(path.glob("*.wat"))[:1]
    return sources, path / "build" / (path.resolve().name + ".wasm")


@app.command("build")
def build_cmd(
    path: Path = typer.Argument(Path("."), help="project directory (with Crossbook.toml), or a .c / .wat file"),
    output: Path = typer.Option(None, "-o", "--output", help="the .wasm to write"),
) -> None:
    """Compile to wasm32 (zig cc, no system compiler needed) and check it as the host will."""
    if not path.exists():
        raise typer.BadParameter(f"{path} does not exist", param_hint="PATH")
    sources, out = _project(path)
    missing = [s for s in sources if not s.is_file()]
    if not sources or missing:
        typer.echo(f"no sources to build in {path}" + (f": missing {', '.join(map(str, missing))}" if missing else ""), err=True)
        raise typer.Exit(2)
    try:
        wasm = build_module(sources, output or out)
    except BuildFailed as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1) from None
    except AlgoRejected as e:
        typer.echo(f"built, but the host would refuse it: {e.reason}", err=True)
        raise typer.Exit(1) from None
    data = wasm.read_bytes()
    typer.echo(f"{wasm}  {len(data):,} bytes  sha256 {hashlib.sha256(data).hexdigest()}")


algo_deploy.register(app)
