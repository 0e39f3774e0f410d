"""Backtests over HTTP: POST /v1/backtest -> job id; GET /v1/backtest/{job_id} (status,
progress); GET /v1/backtest/{job_id}/results (the report).

A job runs in its own worker process (services/backtest/jobs.py) with its state on disk, so it
survives an API restart; a job of another tenant answers 404 like an unknown one.

Body: {"data": "<recording under <data_dir>/recordings>" | [...], "data_base64": "<a recording
uploaded inline>" (instead of data), "orders": [{"offset_ms", "order"}...], "algo": {...} | [{...}],
"seed": int}; orders, an algo or both.

An algo is a module the algos API stored (`POST /v1/deployments`), named as `crossbook backtest
--algo` takes a file: {"deployment_id": "dep_..."} runs it on that deployment's instances (labels,
symbols, venues), or {"wasm_sha256": "<hex>"} (a module of one of the caller's deployments, also
undeployed ones); "symbols": ["[label=]SYMBOL[@venue]", ...] (the CLI's --symbols) overrides the
instances. Several algos are several deployments in one run, on one mesh. The module is copied
into the job, so undeploying it afterwards does not change the job."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from events import new_event_id
from replay.recording import RecordingError, open_recording
from replay.algo import AlgoTarget
from replay.runs import BacktestError, parse_order_row, parse_symbols
from services.algos.modules import ModuleStore
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.backtest.jobs import JobAlgo, JobError, JobStatus, JobStore

MAX_ORDERS = 10_000
MAX_ALGOS = 8  # modules in one backtest
MAX_INSTANCES = 16  # per module, as a deployment
VIEW_WAIT_S = 10.0


router = APIRouter(prefix="/v1", tags=["backtest"])  # unfinished jobs restart in the app's lifespan
State = Annotated[ApiState, Depends(get_state)]


class AlgoRef(BaseModel):
    deployment_id: str | None = Field(default=None, max_length=64)
    wasm_sha256: str | None = Field(default=None, max_length=64)
    symbols: list[str] | None = Field(default=None, min_length=1, max_length=MAX_INSTANCES)


class BacktestRequest(BaseModel):
    data: str | list[str] | None = None
    data_base64: str | None = None
    orders: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_ORDERS)
    algo: AlgoRef | list[AlgoRef] | None = None
    seed: int = Field(ge=0, le=2**63 - 1)


class BacktestJob(BaseModel):
    job_id: str
    status: str
    progress: float
    events_done: int
    events_total: int
    created_ns: int
    error: str | None = None


def _job(status: JobStatus) -> BacktestJob:
    return BacktestJob(job_id=status.job_id, status=status.status, progress=status.progress,
                       events_done=status.events_done, events_total=status.events_total,
                       created_ns=status.created_ns, error=status.error)


def _own(store: JobStore, job_id: str, tenant: str) -> JobStatus:
    try:
        status = store.status(job_id)
    except JobError:
        status = None
    if status is None or status.tenant != tenant:
        raise ApiError(404, f"no backtest job {job_id!r}")
    return status


@router.post("/backtest", response_model=BacktestJob)
async def submit_backtest(body: BacktestRequest, state: State, auth: Auth) -> BacktestJob:
    store = JobStore(state.settings.data_dir)
    job_id = "bt_" + new_event_id().replace("-", "")
    lines = []
    for i, row in enumerate(body.orders):
        try:
            parse_order_row(row, f"orders[{i}]", i + 1)
        except BacktestError as exc:
            raise ApiError(422, str(exc)) from exc
        lines.append(json.dumps(row, sort_keys=True))
    refs = [body.algo] if isinstance(body.algo, AlgoRef) else list(body.algo or [])
    if not lines and not refs:
        raise ApiError(422, "give orders, an algo or both")
    if len(refs) > MAX_ALGOS:
        raise ApiError(422, f"at most {MAX_ALGOS} algos in one backtest")
    algos = [await _algo(state, auth.tenant, ref, f"algo[{i}]" if isinstance(body.algo, list) else "algo")
             for i, ref in enumerate(refs)]
    try:
        if body.data_base64 is not None:
            if body.data is not None:
                raise JobError("give data or data_base64, not both")
            paths = [_upload(store, job_id, body.data_base64)]
        elif body.data:
            paths = [store.resolve_recording(n) for n in ([body.data] if isinstance(body.data, str) else body.data)]
        else:
            raise JobError("data (a recording under the data dir) or data_base64 is required")
        for p in paths:
            open_recording(p)
        status = store.create(job_id, tenant=auth.tenant, data=paths, orders_jsonl="\n".join(lines) + "\n",
                              seed=body.seed, created_ns=time.time_ns(), algos=algos)
    except (JobError, RecordingError) as exc:
        raise ApiError(422, str(exc).replace(str(store.recordings), "<recordings>")) from exc
    return _job(status)


async def _algo(state: ApiState, tenant: str, ref: AlgoRef, where: str) -> JobAlgo:
    """The module and instances an algo reference names (422 saying why when it names none of the caller's)."""
    if (ref.deployment_id is None) == (ref.wasm_sha256 is None):
        raise ApiError(422, f"{where}: give deployment_id or wasm_sha256 (one of them)")
    try:
        await state.ledger_follower.wait_caught_up(timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the deployments view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc
    mine = [d for d in state.deployments.deployments.values() if d.tenant == tenant]  # undeployed ones too
    if ref.deployment_id is not None:
        deployment = next((d for d in mine if d.deployment_id == ref.deployment_id), None)
        if deployment is None:
            raise ApiError(422, f"{where}: no deployment {ref.deployment_id!r} of this account")
    else:
        deployment = next((d for d in mine if d.deployed.wasm_sha256 == ref.wasm_sha256), None)
        if deployment is None:
            raise ApiError(422, f"{where}: no module {ref.wasm_sha256!r} deployed by this account")
    deployed = deployment.deployed
    try:
        if ref.symbols is not None:
            targets = parse_symbols(ref.symbols)
        elif ref.deployment_id is not None:  # the deployment's own instances, as the runner runs them
            targets = [AlgoTarget(i.symbol, i.venue, i.label) for i in deployed.instances]
        else:
            targets = None
    except BacktestError as exc:
        raise ApiError(422, f"{where}: {exc}") from exc
    try:
        wasm = await asyncio.to_thread(ModuleStore.under(state.settings.data_dir).get, deployed.wasm_sha256)
    except (OSError, ValueError) as exc:
        raise ApiError(422, f"{where}: the module {deployed.wasm_sha256} is not in the module store") from exc
    return JobAlgo(wasm=wasm, sha256=deployed.wasm_sha256, name=deployed.name,
                   deployment_id=deployed.deployment_id if ref.deployment_id is not None else None, targets=targets)


def _upload(store: JobStore, job_id: str, data_base64: str) -> Path:
    try:
        raw = base64.b64decode(data_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise JobError(f"data_base64 is not base64: {exc}") from exc
    path = store.root / "uploads" / f"{job_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


@router.get("/backtest/{job_id}", response_model=BacktestJob)
async def backtest_status(job_id: str, state: State, auth: Auth) -> BacktestJob:
    store = JobStore(state.settings.data_dir)
    _own(store, job_id, auth.tenant)
    store.ensure_running(job_id)  # its worker died: run it again (deterministic: the same DIR)
    return _job(_own(store, job_id, auth.tenant))


@router.get("/backtest/{job_id}/results")
async def backtest_results(job_id: str, state: State, auth: Auth) -> dict[str, Any]:
    store = JobStore(state.settings.data_dir)
    status = _own(store, job_id, auth.tenant)
    if status.status != "completed":
        raise ApiError(409, f"backtest job {job_id} is {status.status}, not completed", code="NOT_READY")
    report = store.results(job_id)
    if report is None:
        raise ApiError(409, f"backtest job {job_id} has no report yet", code="NOT_READY")
    return {"job_id": job_id, "status": status.status, "report": report,
            "files": sorted(p.name for p in (store.dir(job_id) / "out").iterdir())}
