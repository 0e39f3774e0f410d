"""User WASM algorithms: deployment lifecycle (the API), and what their instances do (the algo runner).

`algo.<tenant>.<deployment_id>` carries the deployment's lifecycle, written by the API (the front
door that validates and stores the module): deployed, started, stopped, undeployed. A start or
stop names the instances it applies to (none = all of them).

`algo.<tenant>.<deployment_id>.run` carries what the runner observed while running them, written
by the algo runner: an instance running or paused (with its reason), log batches, mesh messages
between instances and periodic stats. The module itself is stored by its SHA-256 beside the data
(never in an event)."""

from __future__ import annotations

from typing import Literal

import msgspec

from events.base import Event

LogLevel = Literal["trace", "debug", "info", "warn", "error"]


class AlgoInstanceSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One instance of a deployment: the module run on one symbol at one venue edge."""

    instance_id: str  # "<symbol>@<venue>", unique within the deployment
    label: str  # its mesh name (<= 32 bytes); the instance id unless the deployment named it
    symbol: str
    venue: str


class AlgoDeployed(Event, frozen=True, kw_only=True, tag="algo.deployed.v1"):
    deployment_id: str
    name: str
    symbols: list[str]
    size_bytes: int
    wasm_sha256: str
    instances: list[AlgoInstanceSpec] = []
    capable_edges: list[str] = []  # every venue edge quoting one of the symbols when deployed
    exports: list[str] = []  # the callbacks the module exports (what the host will call)


class AlgoStarted(Event, frozen=True, kw_only=True, tag="algo.started.v1"):
    deployment_id: str
    edge_id: str = ""  # legacy single target; "" = see `instances`
    instances: list[str] = []  # instance ids to start; empty = every instance


class AlgoStopped(Event, frozen=True, kw_only=True, tag="algo.stopped.v1"):
    deployment_id: str
    edge_id: str = ""
    reason: str = "user"
    instances: list[str] = []  # instance ids to stop; empty = every instance


class AlgoUndeployed(Event, frozen=True, kw_only=True, tag="algo.undeployed.v1"):
    deployment_id: str


class AlgoInstanceRunning(Event, frozen=True, kw_only=True, tag="algo.instance_running.v1"):
    """The runner loaded the instance and calls it from now on (`run` counts its starts)."""

    deployment_id: str
    instance_id: str
    run: int


class AlgoInstancePaused(Event, frozen=True, kw_only=True, tag="algo.instance_paused.v1"):
    """The runner stopped calling the instance: a trap, fuel, memory, a bad action, or a stop."""

    deployment_id: str
    instance_id: str
    run: int
    reason: str
    by_user: bool = False  # a requested stop, not a fault


class AlgoLogLine(msgspec.Struct, frozen=True, kw_only=True):
    ts_ns: int
    instance_id: str
    level: LogLevel
    message: str


class AlgoLogBatch(Event, frozen=True, kw_only=True, tag="algo.logs.v1"):
    deployment_id: str
    lines: list[AlgoLogLine]
    dropped: int = 0  # lines the runner dropped since the last batch (a guest logging too fast)


class AlgoMeshMessage(Event, frozen=True, kw_only=True, tag="algo.mesh.v1"):
    """A message (<= 256 bytes) one instance sent to another by label; delivered in log order.
    `deployment_id` is the sender's; the receiver is in `to_deployment_id` ("" = the same one)."""

    deployment_id: str
    from_instance: str
    from_label: str
    to_label: str
    payload: bytes
    to_deployment_id: str = ""


class AlgoStats(Event, frozen=True, kw_only=True, tag="algo.stats.v1"):
    deployment_id: str
    instance_id: str
    run: int
    update_count: int  # book callbacks made
    callback_p50_ns: int
    callback_p99_ns: int
    orders_sent: int
    fills: int
    position_1e8: int
    realized_pnl_1e9: int
    session_realized_pnl_1e9: int
    unrealized_pnl_1e9: int
    last_heartbeat_ns: int


MESSAGE_MAX_BYTES = 256
LIFECYCLE_EVENTS = (AlgoDeployed, AlgoStarted, AlgoStopped, AlgoUndeployed)
RUN_EVENTS = (AlgoInstanceRunning, AlgoInstancePaused, AlgoLogBatch, AlgoMeshMessage, AlgoStats)
ALGO_EVENTS = (*LIFECYCLE_EVENTS, *RUN_EVENTS)
