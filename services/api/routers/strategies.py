"""Hosted strategies: POST/GET /v1/strategies, GET/DELETE /v1/strategies/{id},
POST /v1/strategies/{id}/start|stop, GET /v1/strategies/{id}/logs?run_id=.

A strategy trades with its own API key: a sandbox key minted for it in the caller's tenant
(revoked when the strategy is deleted), or a `sequence_api_key` of that same tenant. That key and
the `secrets` are sealed with the tenant's vault data key and never returned; `env` is plain and
shown. Runs are subprocesses of this API process (services/strategies/supervisor.py), pointed
at the address this server listens on. Another tenant's strategy answers 404 like an unknown one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel

from events.ids import derive_id
from events.strategies import StrategyCreated, StrategyDeleted, StrategyStarted, StrategyStopped
from services.api.auth import Auth
from services.api.commands import front_door
from services.api.errors import ApiError
from services.api.keys import well_formed
from services.api.routers.credentials import VaultDep
from services.api.access import json_body
from services.api.state import ApiState, get_state
from services.strategies.store import (
    MAX_ARTIFACT_BYTES,
    SECRETS_PURPOSE,
    ArtifactError,
    StrategyRecord,
    StrategyStore,
    artifact_sha256,
    decode_artifact,
    normalise_entrypoint,
    open_payload,
    seal_payload,
    unpack_artifact,
)
from services.strategies.supervisor import RESERVED_ENV, Launch, Limits, Run, Supervisor
from services.vault import Vault, VaultError

MAX_STRATEGIES_PER_TENANT = 20
MAX_NAME_CHARS = 128
MAX_ENV_VARS = 100
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_MEMORY = re.compile(r"^(\d+)\s*(Ki|Mi|Gi|K|M|G|KB|MB|GB)?$")
_UNITS = {None: 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
# Ceilings a request may ask for (the defaults are `Limits()`).
MEMORY_RANGE = (32 * 2**20, 4 * 2**30)
CPU_SECONDS_MAX = 24 * 3600
WALL_CLOCK_MAX_S = 7 * 24 * 3600
OPEN_FILES_RANGE = (16, 4096)


class Hosted:
    """The router's resources: the strategy definitions and the supervisor of their runs."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.store: StrategyStore | None = None
        self.supervisor = Supervisor(self._stopped)
        self.lock = asyncio.Lock()  # create, start and delete take turns (quota, one run per strategy)

    def strategies(self, state: ApiState) -> StrategyStore:
        if self.store is None:
            self.store = StrategyStore(state.settings.data_dir / "strategies")
        return self.store

    async def _stopped(self, run: Run) -> None:
        state: ApiState = self.app.state.api
        record = self.store.get_any(run.strategy_id) if self.store is not None else None
        if record is None:
            return
        await front_door(state).publish(
            StrategyStopped(
                event_id=derive_id("strat-stopped", run.run_id), ts_ns=run.ended_ns or time.time_ns(),
                tenant=record.tenant, strategy_id=run.strategy_id, run_id=run.run_id, reason=run.reason or "",
                exit_code=run.exit_code,
            )
        )


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    hosted = Hosted(app)
    app.state.strategies = hosted
    try:
        yield
    finally:
        await hosted.supervisor.close()


router = APIRouter(prefix="/v1", tags=["strategies"], lifespan=_lifespan)
State = Annotated[ApiState, Depends(get_state)]


async def get_hosted(request: Request) -> Hosted:
    hosted: Hosted = request.app.state.strategies
    return hosted


HostedDep = Annotated[Hosted, Depends(get_hosted)]


class RunView(BaseModel):
    run_id: str
    status: str  # running | stopping | stopped | failed
    reason: str | None  # why it ended: exited, crashed, stopped, memory_limit, cpu_limit, wall_clock_limit, ...
    exit_code: int | None
    started_ns: int
    ended_ns: int | None


class LimitsView(BaseModel):
    memory_bytes: int
    cpu_seconds: int
    wall_clock_s: float
    open_files: int


class StrategyView(BaseModel):
    strategy_id: str
    name: str
    runtime: str
    entrypoint: str
    desired_state: str  # running | stopped
    status: str  # created | running | stopping | stopped | failed
    created_ns: int
    artifact_sha256: str
    key_id: str
    env: dict[str, str]
    secret_names: list[str]  # names only: values are sealed and never returned
    limits: LimitsView
    resources: Any = None
    manifest: Any = None
    placement: Any = None
    risk: Any = None
    last_run: RunView | None = None
    runs: list[RunView]


class StrategyList(BaseModel):
    strategies: list[StrategyView]


class LogLineView(BaseModel):
    ts_ns: int
    stream: str  # stdout | stderr | supervisor
    line: str


class StrategyLogs(BaseModel):
    strategy_id: str
    run_id: str | None
    status: str | None
    reason: str | None
    lines: list[LogLineView]


class Deleted(BaseModel):
    strategy_id: str
    deleted: bool


def _run_view(run: Run) -> RunView:
    return RunView(**run.view())  # type: ignore[arg-type]


def _view(record: StrategyRecord, supervisor: Supervisor) -> StrategyView:
    runs = supervisor.runs(record.strategy_id)
    last = runs[-1] if runs else None
    return StrategyView(
        strategy_id=record.strategy_id, name=record.name, runtime=record.runtime, entrypoint=record.entrypoint,
        desired_state=record.desired_state, status="created" if last is None else last.status,
        created_ns=record.created_ns, artifact_sha256=record.artifact_sha256, key_id=record.key_id,
        env=record.env, secret_names=record.secret_names,
        limits=LimitsView(
            memory_bytes=record.limits.memory_bytes, cpu_seconds=record.limits.cpu_seconds,
            wall_clock_s=record.limits.wall_clock_s, open_files=record.limits.open_files,
        ),
        resources=record.resources, manifest=record.manifest, placement=record.placement, risk=record.risk,
        last_run=None if last is None else _run_view(last), runs=[_run_view(r) for r in runs],
    )


# ---------------------------------------------------------------- request parsing


def _bad(message: str, field: str, status: int = 422) -> ApiError:
    return ApiError(status, message, details=[{"field": field, "message": message}])


def _string_map(body: dict[str, Any], field: str) -> dict[str, str]:
    value = body.get(field)
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_ENV_VARS:
        raise _bad(f"{field} must be an object of at most {MAX_ENV_VARS} string values", field)
    for name, item in value.items():
        if not _ENV_NAME.fullmatch(name) or not isinstance(item, str) or "\x00" in item:
            raise _bad(f"{field} holds names like [A-Za-z_][A-Za-z0-9_]* with string values", field)
        if name in RESERVED_ENV:
            raise _bad(f"{field} may not set {name}: the supervisor sets it", field)
    return dict(value)


def _int_in(value: Any, field: str, low: float, high: float) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(f"resources.{field} must be a number in [{low}, {high}]", f"resources.{field}")
    return int(value)


def _memory_bytes(value: Any) -> int:
    if isinstance(value, str):
        m = _MEMORY.fullmatch(value.strip())
        if m is None:
            raise _bad("resources.memory must be bytes or like '512Mi'", "resources.memory")
        value = int(m.group(1)) * _UNITS[m.group(2)]
    return _int_in(value, "memory", *MEMORY_RANGE)


def parse_limits(resources: Any) -> Limits:
    """`resources`: memory ('512Mi' or bytes) or memory_mb, cpu_seconds, wall_clock_s, open_files."""
    if resources is None:
        return Limits()
    if not isinstance(resources, dict):
        raise _bad("resources must be an object", "resources")
    base = Limits()
    memory = base.memory_bytes
    if "memory_mb" in resources:
        memory = _int_in(resources["memory_mb"], "memory_mb", MEMORY_RANGE[0] / 2**20, MEMORY_RANGE[1] / 2**20) * 2**20
    if "memory" in resources:
        memory = _memory_bytes(resources["memory"])
    return Limits(
        memory_bytes=memory,
        cpu_seconds=_int_in(resources.get("cpu_seconds", base.cpu_seconds), "cpu_seconds", 1, CPU_SECONDS_MAX),
        wall_clock_s=_int_in(resources.get("wall_clock_s", base.wall_clock_s), "wall_clock_s", 1, WALL_CLOCK_MAX_S),
        open_files=_int_in(resources.get("open_files", base.open_files), "open_files", *OPEN_FILES_RANGE),
    )


def _text(body: dict[str, Any], field: str, max_chars: int = 512) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars or "\x00" in value:
        raise _bad(f"{field} must be a non-empty string of at most {max_chars} characters", field,
                   400 if value is None else 422)
    return value


def _api_base_url(request: Request) -> str:
    """Where this server listens (the socket, not the Host header a caller could forge)."""
    server = request.scope.get("server")
    if not server or server[1] is None:
        return str(request.base_url).rstrip("/")
    host, port = server
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"{request.url.scheme}://{'[' + host + ']' if ':' in host else host}:{port}"


# ---------------------------------------------------------------- operations


async def _launch(record: StrategyRecord, hosted: Hosted, vault: Vault, state: ApiState, request: Request) -> Run:
    try:
        plaintext = await asyncio.to_thread(vault.unseal, record.tenant, SECRETS_PURPOSE, record.sealed)
    except VaultError as exc:  # e.g. another master key: the run cannot get its key and secrets
        raise ApiError(503, f"strategy secrets unavailable: {exc}") from exc
    api_key, secrets = open_payload(plaintext)
    run_id = "run_" + uuid.uuid4().hex[:16]
    try:
        run = await hosted.supervisor.start(
            Launch(
                strategy_id=record.strategy_id, run_id=run_id, workdir=record.workdir, entrypoint=record.entrypoint,
                limits=record.limits, api_key=api_key, api_base_url=_api_base_url(request), env=record.env,
                secrets=secrets,
            )
        )
    except OSError as exc:
        raise ApiError(503, f"could not start the strategy process: {exc.strerror}") from exc
    if run.run_id == run_id:  # a new run, not the one already going
        await front_door(state).publish(
            StrategyStarted(event_id=derive_id("strat-started", run_id), ts_ns=run.started_ns, tenant=record.tenant,
                            strategy_id=record.strategy_id, run_id=run_id)
        )
    return run


def _record(hosted: Hosted, state: ApiState, tenant: str, strategy_id: str) -> StrategyRecord:
    record = hosted.strategies(state).get(tenant, strategy_id)
    if record is None:
        raise ApiError(404, f"unknown strategy {strategy_id!r}")
    return record


@router.post("/strategies", response_model=StrategyView)
async def create_strategy(request: Request, state: State, auth: Auth, hosted: HostedDep, vault: VaultDep) -> StrategyView:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object {name, runtime, entrypoint, artifact_base64, ...}")
    name = _text(body, "name", MAX_NAME_CHARS)
    runtime = _text(body, "runtime", 32)
    if runtime != "python":
        raise _bad("runtime must be 'python'", "runtime")
    entrypoint = _text(body, "entrypoint")
    artifact = _text(body, "artifact_base64", 4 * MAX_ARTIFACT_BYTES // 3 + 8)
    start = body.get("start_immediately", False)
    if not isinstance(start, bool):
        raise _bad("start_immediately must be a boolean", "start_immediately")
    env, secrets = _string_map(body, "env"), _string_map(body, "secrets")
    limits = parse_limits(body.get("resources"))
    supplied_key = body.get("sequence_api_key")
    if supplied_key is not None:
        if not isinstance(supplied_key, str) or not well_formed(supplied_key):
            raise _bad("sequence_api_key must be a seq_live_/seq_test_ key", "sequence_api_key")
        owner = await asyncio.to_thread(state.keys.lookup, supplied_key)
        if owner is None or owner.revoked or owner.tenant != auth.tenant:
            raise ApiError(403, "sequence_api_key is not an active key of this account")  # never echo it
    for field in ("manifest", "placement", "risk", "resources"):
        if len(json.dumps(body.get(field))) > 64 * 1024:
            raise _bad(f"{field} is larger than 64 KiB", field)
    store = hosted.strategies(state)
    async with hosted.lock:
        if store.count(auth.tenant) >= MAX_STRATEGIES_PER_TENANT:
            raise ApiError(409, f"at most {MAX_STRATEGIES_PER_TENANT} strategies per account; delete one first")
        strategy_id = "strat_" + uuid.uuid4().hex[:20]
        workdir = store.project_dir(auth.tenant, strategy_id)
        try:
            raw = decode_artifact(artifact)
            files = await asyncio.to_thread(unpack_artifact, raw, workdir)
            entrypoint = normalise_entrypoint(entrypoint, files)
        except ArtifactError as exc:
            await asyncio.to_thread(shutil.rmtree, workdir.parent, True)
            raise _bad(str(exc), "artifact_base64" if "entrypoint" not in str(exc) else "entrypoint") from exc
        now_ns = time.time_ns()
        if supplied_key is None:
            issued = await asyncio.to_thread(
                state.keys.create, auth.tenant, sandbox=True, admin=False, now_ns=now_ns, label=f"strategy {strategy_id}"
            )
            api_key, key_id, owns_key = issued.secret, issued.record.key_id, True
        else:
            api_key, key_id, owns_key = supplied_key, owner.key_id, False  # type: ignore[union-attr]
        sealed = await asyncio.to_thread(vault.seal, auth.tenant, SECRETS_PURPOSE, seal_payload(api_key, secrets))
        record = StrategyRecord(
            strategy_id=strategy_id, tenant=auth.tenant, name=name, runtime=runtime, entrypoint=entrypoint,
            created_ns=now_ns, artifact_sha256=artifact_sha256(raw), workdir=workdir, limits=limits, key_id=key_id,
            owns_key=owns_key, sealed=sealed, secret_names=sorted(secrets), env=env, manifest=body.get("manifest"),
            placement=body.get("placement"), risk=body.get("risk"), resources=body.get("resources"),
            desired_state="running" if start else "stopped",
        )
        await asyncio.to_thread(store.add, record)
        await front_door(state).publish(
            StrategyCreated(
                event_id=derive_id("strat-created", strategy_id), ts_ns=now_ns, tenant=auth.tenant,
                strategy_id=strategy_id, name=name, runtime=runtime, entrypoint=entrypoint,
                artifact_sha256=record.artifact_sha256, key_id=key_id,
            )
        )
        if start:
            await _launch(record, hosted, vault, state, request)
    return _view(record, hosted.supervisor)


@router.get("/strategies", response_model=StrategyList)
async def list_strategies(state: State, auth: Auth, hosted: HostedDep) -> StrategyList:
    return StrategyList(strategies=[_view(r, hosted.supervisor) for r in hosted.strategies(state).list(auth.tenant)])


@router.get("/strategies/{strategy_id}", response_model=StrategyView)
async def get_strategy(strategy_id: str, state: State, auth: Auth, hosted: HostedDep) -> StrategyView:
    return _view(_record(hosted, state, auth.tenant, strategy_id), hosted.supervisor)


@router.post("/strategies/{strategy_id}/start", response_model=StrategyView)
async def start_strategy(
    strategy_id: str, request: Request, state: State, auth: Auth, hosted: HostedDep, vault: VaultDep
) -> StrategyView:
    async with hosted.lock:
        record = _record(hosted, state, auth.tenant, strategy_id)
        record.desired_state = "running"
        await asyncio.to_thread(hosted.strategies(state).save, record)
        await _launch(record, hosted, vault, state, request)
    return _view(record, hosted.supervisor)


@router.post("/strategies/{strategy_id}/stop", response_model=StrategyView)
async def stop_strategy(strategy_id: str, state: State, auth: Auth, hosted: HostedDep) -> StrategyView:
    record = _record(hosted, state, auth.tenant, strategy_id)
    record.desired_state = "stopped"
    await asyncio.to_thread(hosted.strategies(state).save, record)
    await hosted.supervisor.stop(strategy_id, "stopped")  # the run's end publishes StrategyStopped
    return _view(record, hosted.supervisor)


@router.get("/strategies/{strategy_id}/logs", response_model=StrategyLogs)
async def strategy_logs(
    strategy_id: str, state: State, auth: Auth, hosted: HostedDep, run_id: str | None = None
) -> StrategyLogs:
    _record(hosted, state, auth.tenant, strategy_id)
    run = hosted.supervisor.run(strategy_id, run_id)
    if run is None and run_id is not None:
        raise ApiError(404, f"unknown run {run_id!r} of strategy {strategy_id!r}")
    lines = [] if run is None else [LogLineView(ts_ns=x.ts_ns, stream=x.stream, line=x.line) for x in list(run.logs)]
    return StrategyLogs(
        strategy_id=strategy_id, run_id=None if run is None else run.run_id, status=None if run is None else run.status,
        reason=None if run is None else run.reason, lines=lines,
    )


@router.delete("/strategies/{strategy_id}", response_model=Deleted)
async def delete_strategy(strategy_id: str, state: State, auth: Auth, hosted: HostedDep) -> Deleted:
    async with hosted.lock:
        record = _record(hosted, state, auth.tenant, strategy_id)
        await hosted.supervisor.stop(strategy_id, "deleted")
        if record.owns_key:
            await asyncio.to_thread(state.keys.revoke_if_active, record.key_id, time.time_ns())
        store = hosted.strategies(state)
        await asyncio.to_thread(store.remove, record)
        hosted.supervisor.forget(strategy_id)
        await front_door(state).publish(
            StrategyDeleted(event_id=derive_id("strat-deleted", strategy_id), ts_ns=time.time_ns(), tenant=auth.tenant,
                            strategy_id=strategy_id, key_id=record.key_id)
        )
    return Deleted(strategy_id=strategy_id, deleted=True)
