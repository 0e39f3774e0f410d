"""The local chains: eth-tester/py-evm in-process, and a ganache node over JSON-RPC, each with
Uniswap V2 and V3 deployed from the published npm artifacts (installed once into a cache dir)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from services.edges.evm import artifacts
from services.edges.evm.devchain import Deployment, Ganache, deploy_uniswap


def _need_npm() -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: the Uniswap contracts come from their published npm packages")
    try:
        artifacts.ensure_artifacts()
    except artifacts.NpmUnavailable as exc:
        pytest.skip(f"the npm artifacts could not be installed: {exc}")


@pytest.fixture(scope="session")
def tester_chain() -> tuple[Web3, Deployment]:
    _need_npm()
    from web3 import EthereumTesterProvider

    w3 = Web3(EthereumTesterProvider())
    return w3, deploy_uniswap(w3)


@pytest.fixture(scope="session")
def ganache_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Ganache, Deployment]]:
    _need_npm()
    try:
        node = Ganache(Path(tmp_path_factory.mktemp("ganache"))).start()
    except artifacts.NpmUnavailable as exc:
        pytest.skip(f"ganache could not be installed from npm: {exc}")
    try:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 30}))
        yield node, deploy_uniswap(w3)
    finally:
        node.stop()
