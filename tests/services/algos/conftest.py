"""Fixtures for the algo host tests: one engine, C modules built once per session with zig cc."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import wasmtime

from services.algos import abi
from services.algos.build import build
from services.algos.module import AlgoModule, load_module, new_engine

HERE = Path(__file__).parent
REPO = HERE.parents[2]
EXAMPLES = REPO / "examples" / "algos"


@pytest.fixture(scope="session")
def engine() -> wasmtime.Engine:
    return new_engine()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Compile a C file (or assemble a WAT file) once per session; returns the .wasm path."""
    out_dir = tmp_path_factory.mktemp("wasm")
    cache: dict[Path, Path] = {}

    def _build(source: Path) -> Path:
        if source not in cache:
            cache[source] = build([source], out_dir / f"{source.parent.name}_{source.stem}.wasm")
        return cache[source]

    return _build


@pytest.fixture(scope="session")
def wat_module(engine: wasmtime.Engine) -> Callable[[str], AlgoModule]:
    def _load(name: str) -> AlgoModule:
        return load_module(engine, (HERE / "wat" / name).read_text())

    return _load


def ladder_book(best_bid_1e9: int = 100_000_000_000, tick_1e9: int = 10_000_000, levels: int = 20, recv_ns: int = 1) -> abi.Book:
    """A simple 20-level book: bids from best_bid down, asks from best_bid + 2 ticks up."""
    bids = tuple((best_bid_1e9 - i * tick_1e9, 100_000_000 + i * 1_000_000) for i in range(levels))
    asks = tuple((best_bid_1e9 + (2 + i) * tick_1e9, 90_000_000 + i * 1_000_000) for i in range(levels))
    return abi.Book(bids=bids, asks=asks, recv_ns=recv_ns)
