"""Fixtures for the algo tests: one engine, C modules built once per session with zig cc; and the
service stack (local venues into edges, the trader parts, the API on a real port and the algo
runner in-process, as `crossbook algos` runs it, with the real wasmtime host)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from events.algos import AlgoInstanceSpec
from services.algos import abi
from services.algos.bridge import HostLoader
from services.algos.build import build
from services.algos.deployments import Instance
from services.algos.module import AlgoModule, load_module, new_engine
from services.algos.modules import ModuleStore
from services.algos.runner import AlgoRunner
from services.bus import Bus
from services.settings import Settings
from tests.services.conftest import Stack, serving

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


WAIT_S = 30.0  # generous: a loaded 2-core machine


@dataclass
class AlgoStack:
    stack: Stack
    runner: AlgoRunner
    bus: Bus
    settings: Settings

    async def until(self, predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
        """Wait until `predicate` holds on the runner's folds (checked after each ledger batch)."""
        await self.runner.ledger.wait_until(predicate, timeout=timeout)

    def instance(self, deployment_id: str, index: int = 0) -> Instance:
        """The runner's view of an instance (a blank pending one until the runner has folded it)."""
        deployment = self.runner.view.deployments.get(deployment_id)
        if deployment is None:
            return Instance(AlgoInstanceSpec(instance_id="", label="", symbol="", venue=""), desired="running")
        return deployment.instances[deployment.deployed.instances[index].instance_id]


@contextlib.asynccontextmanager
async def running_runner(bus: Bus, settings: Settings) -> AsyncIterator[AlgoRunner]:
    runner = AlgoRunner(bus, ModuleStore.under(settings.data_dir), HostLoader().load)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.stop()


@pytest.fixture
async def algos(bus: Bus, settings: Settings) -> AsyncIterator[AlgoStack]:
    async with serving(bus, settings, ["binance", "okx"], seed=47) as stack, running_runner(bus, settings) as runner:
        yield AlgoStack(stack, runner, bus, settings)
