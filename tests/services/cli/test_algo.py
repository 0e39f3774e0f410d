"""`crossbook algo init` and `build`: a scaffolded C algo builds with zig cc into a module the host
runs; build errors and modules the host would refuse exit non-zero with the reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

from typer.testing import CliRunner

from services.algos import abi
from services.algos.host import AlgoInstance
from services.algos.module import load_module, new_engine
from services.cli.main import app

WAT = Path(__file__).parents[1] / "algos" / "wat"


def test_init_then_build_gives_a_module_that_quotes(tmp_path: Path) -> None:
    # Arrange
    runner = CliRunner()
    project = tmp_path / "my-algo"
    # Act
    init = runner.invoke(app, ["algo", "init", "my-algo", "--dir", str(project)])
    built = runner.invoke(app, ["algo", "build", str(project)])
    # Assert
    assert init.exit_code == 0, init.output
    assert sorted(p.name for p in project.iterdir()) == ["Crossbook.toml", "algo.c", "build", "crossbook_algo.h"]
    assert "_Static_assert(sizeof(L2Book) == 656" in (project / "crossbook_algo.h").read_text()
    assert built.exit_code == 0, built.output
    wasm = project / "build" / "my-algo.wasm"
    data = wasm.read_bytes()
    assert built.output.strip() == f"{wasm}  {len(data):,} bytes  sha256 {hashlib.sha256(data).hexdigest()}"
    inst = AlgoInstance(load_module(new_engine(), data))
    book = abi.Book(bids=((100_000, 5),), asks=((100_010, 5),), recv_ns=1)
    r = inst.on_book(book, abi.AlgoState(symbol=abi.SymbolMeta(tick_size_1e9=1)))
    assert [(a.side, a.px_1e9, a.order_type) for a in r.actions] == [
        (1, 100_001, abi.OrderType.POST_ONLY), (-1, 100_009, abi.OrderType.POST_ONLY),
    ]


def test_init_refuses_a_bad_name_and_a_non_empty_directory(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["algo", "init", "bad name", "--dir", str(tmp_path / "x")]).exit_code == 2
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    r = runner.invoke(app, ["algo", "init", "taken", "--dir", str(tmp_path / "taken")])
    assert r.exit_code == 2 and (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_build_reports_compiler_errors(tmp_path: Path) -> None:
    src = tmp_path / "broken.c"
    src.write_text('#include "crossbook_algo.h"\nint x = ;\n')
    r = CliRunner().invoke(app, ["algo", "build", str(src)])
    assert r.exit_code == 1
    assert "zig cc failed" in r.output and "broken.c" in r.output


def test_build_assembles_wat_and_refuses_what_the_host_would(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["algo", "build", str(WAT / "doc_example.wat"), "-o", str(tmp_path / "doc.wasm")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "doc.wasm").read_bytes()[:4] == b"\0asm"
    wasi = runner.invoke(app, ["algo", "build", str(WAT / "wasi.wat"), "-o", str(tmp_path / "wasi.wasm")])
    assert wasi.exit_code == 1
    assert "built, but the host would refuse it: imports WASI (wasi_snapshot_preview1.fd_write)" in wasi.output
