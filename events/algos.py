"""User WASM algorithms: deployment lifecycle and logs."""

from __future__ import annotations

from typing import Literal

from events.base import Event


class AlgoDeployed(Event, frozen=True, kw_only=True, tag="algo.deployed.v1"):
    deployment_id: str
    name: str
    symbols: list[str]
    size_bytes: int
    wasm_sha256: str


class AlgoStarted(Event, frozen=True, kw_only=True, tag="algo.started.v1"):
    deployment_id: str
    edge_id: str


class AlgoStopped(Event, frozen=True, kw_only=True, tag="algo.stopped.v1"):
    deployment_id: str
    edge_id: str
    reason: str


class AlgoLogged(Event, frozen=True, kw_only=True, tag="algo.log.v1"):
    deployment_id: str
    edge_id: str
    level: Literal["debug", "info", "warn", "error"]
    message: str


ALGO_EVENTS = (AlgoDeployed, AlgoStarted, AlgoStopped, AlgoLogged)
