"""WASM algos: /v1/deployments (the primitive) and /v1/algos (the per-symbol view of the same).

`POST /v1/deployments {name, wasm_base64, symbols, start_immediately}` compiles and checks the
module before it answers (services/algos/modules.py: a bad module is a 422 saying why), stores it
by SHA-256 and appends `AlgoDeployed` (+ `AlgoStarted`). The algo runner (`crossbook algos`,
services/algos/runner.py) folds the same events and runs the instances beside the edges.

Which edges a deployment runs on: one instance per entry of `symbols`, each on ONE venue edge.
An entry is `[label=]SYMBOL[@venue]`: `@venue` pins the edge; without it the instance runs on the
first (by name) of the edges quoting the symbol now. `capable_edges` lists every edge quoting one
of the symbols; `pushed_to` the edges that got an instance. One edge per symbol, not all capable
edges: each instance trades on its own, so pushing to every capable edge would multiply the
algo's orders by the number of venues. A label (default: the instance id `SYMBOL@venue`) is the
instance's mesh name. Everything is tenant-scoped: another tenant's deployment answers 404.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from events.algos import AlgoDeployed, AlgoInstanceSpec, AlgoStarted, AlgoStopped, AlgoUndeployed
from events.ids import derive_id
from services.algos.deployments import Deployment, Instance
from services.algos.module import new_engine
from services.algos.modules import MAX_MODULE_BYTES, ModuleRejected, ModuleStore, inspect_module
from services.api.access import json_body
from services.api.auth import Auth
from services.api.commands import front_door
from services.api.errors import ApiError
from services.api.routers.orders import fund_if_new
from services.api.state import ApiState, get_state

MAX_INSTANCES = 16  # per deployment (the mesh table holds 16 peers)
MAX_DEPLOYMENTS_PER_TENANT = 50
MAX_NAME_CHARS = 128
MAX_LABEL_BYTES = 32
VIEW_WAIT_S = 10.0


class Algos:
    """The router's resources: the deployments fold (fed by the API's ledger follower), the module
    store, an engine to check uploads."""

    def __init__(self, state: ApiState) -> None:
        self.view = state.deployments
        self.follower = state.ledger_follower
        self.modules = ModuleStore.under(state.settings.data_dir)
        self.engine = new_engine()  # compiles uploads to check them (the runner has its own)
        self.lock = asyncio.Lock()


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.algos = Algos(app.state.api)
    yield


router = APIRouter(prefix="/v1", tags=["algos"], lifespan=_lifespan)
State = Annotated[ApiState, Depends(get_state)]


async def get_algos(request: Request) -> Algos:
    """The router's resources, once its fold holds everything on the log now (so a read shows what
    the runner reported before it, e.g. a pause, as well as the caller's own writes)."""
    algos: Algos = request.app.state.algos
    try:
        await algos.follower.wait_caught_up(timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the deployments view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc
    return algos


AlgosDep = Annotated[Algos, Depends(get_algos)]


def _bad(message: str, field: str, status: int = 422) -> ApiError:
    return ApiError(status, message, details=[{"field": field, "message": message}])


# ---------------------------------------------------------------- views


def _edge_row(deployment: Deployment, instance: Instance) -> dict[str, Any]:
    stats = instance.stats
    return {
        "edge_id": instance.spec.venue,
        "instance_id": instance.spec.instance_id,
        "label": instance.spec.label,
        "symbol": instance.spec.symbol,
        "deploy_id": deployment.deployment_id,
        "status": instance.status,
        "size_bytes": deployment.deployed.size_bytes,
        "deployed_at": deployment.deployed.ts_ns // 10**9,
        "last_heartbeat": (stats.last_heartbeat_ns // 10**9) if stats else None,
        "pause_reason": instance.pause_reason if instance.status == "paused" else None,
        "run": instance.run,
        "position_1e8": stats.position_1e8 if stats else 0,
        "realized_pnl_1e9": stats.realized_pnl_1e9 if stats else 0,
        "session_realized_pnl_1e9": stats.session_realized_pnl_1e9 if stats else 0,
        "unrealized_pnl_1e9": stats.unrealized_pnl_1e9 if stats else 0,
        "callback_latency_ns": stats.callback_p50_ns if stats else 0,
        "callback_latency_ns_p99": stats.callback_p99_ns if stats else 0,
        "update_count": stats.update_count if stats else 0,
        "orders_sent": stats.orders_sent if stats else 0,
        "fills": stats.fills if stats else 0,
    }


def deployment_view(deployment: Deployment) -> dict[str, Any]:
    d = deployment.deployed
    return {
        "deployment_id": d.deployment_id,
        "name": d.name,
        "symbols": d.symbols,
        "size_bytes": d.size_bytes,
        "wasm_sha256": d.wasm_sha256,
        "exports": d.exports,
        "status": deployment.status,
        "created_ns": d.ts_ns,
        "pushed_to": sorted({i.venue for i in d.instances}),
        "capable_edges": d.capable_edges,
        "edges": [_edge_row(deployment, i) for i in deployment.instances.values()],
    }


def _deployment(algos: Algos, tenant: str, deployment_id: str) -> Deployment:
    deployment = algos.view.get(tenant, deployment_id)
    if deployment is None:
        raise ApiError(404, f"unknown deployment {deployment_id!r}", code="NOT_FOUND")
    return deployment


async def _append_and_wait(state: ApiState, algos: Algos, events: list[Any]) -> None:
    acks = await front_door(state).publish_many(events)
    try:
        await algos.follower.wait_for(max(a.seq for a in acks), timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the deployment is recorded; its view is catching up (read it again)",
                       code="SERVICE_UNAVAILABLE") from exc


# ---------------------------------------------------------------- deploy


def parse_entry(entry: Any, capable: dict[str, list[str]]) -> AlgoInstanceSpec:
    """`[label=]SYMBOL[@venue]` -> the instance spec; `capable` = symbol -> venues quoting it."""
    if not isinstance(entry, str) or not entry.strip() or len(entry) > 200:
        raise _bad("each symbol must be a string '[label=]SYMBOL[@venue]'", "symbols")
    label, _, target = entry.strip().rpartition("=")
    symbol, _, venue = target.partition("@")
    venues = capable.get(symbol, [])
    if not venues:
        raise _bad(f"no venue edge quotes {symbol!r}: nothing to run the algo beside", "symbols")
    if venue and venue not in venues:
        raise _bad(f"venue {venue!r} does not quote {symbol!r}; edges quoting it: {', '.join(venues)}", "symbols")
    venue = venue or venues[0]
    instance_id = f"{symbol}@{venue}"
    label = label or instance_id
    if len(label.encode()) > MAX_LABEL_BYTES or "\x00" in label:
        raise _bad(f"label {label!r} is longer than {MAX_LABEL_BYTES} bytes", "symbols")
    return AlgoInstanceSpec(instance_id=instance_id, label=label, symbol=symbol, venue=venue)


def _instances(body: dict[str, Any], state: ApiState) -> tuple[list[str], list[AlgoInstanceSpec], list[str]]:
    symbols = body.get("symbols")
    if isinstance(symbols, str):
        symbols = [symbols]
    if not isinstance(symbols, list) or not symbols or len(symbols) > MAX_INSTANCES:
        raise _bad(f"symbols must be a list of 1 to {MAX_INSTANCES} symbols", "symbols", 400 if symbols is None else 422)
    capable = {}
    for entry in symbols:
        if isinstance(entry, str):
            symbol = entry.rpartition("=")[2].partition("@")[0]
            capable[symbol] = state.market.venues_for(symbol)
    specs = [parse_entry(entry, capable) for entry in symbols]
    for what, values in (("instance", [s.instance_id for s in specs]), ("label", [s.label for s in specs])):
        if len(set(values)) != len(values):
            raise _bad(f"two entries give the same {what}; pin another venue or name them 'label=SYMBOL@venue'",
                       "symbols")
    edges = sorted({v for venues in capable.values() for v in venues})
    return [s for s in symbols if isinstance(s, str)], specs, edges


@router.post("/deployments")
async def deploy(request: Request, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object {name, wasm_base64, symbols, start_immediately}")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS:
        raise _bad(f"name must be a non-empty string of at most {MAX_NAME_CHARS} characters", "name",
                   400 if name is None else 422)
    encoded = body.get("wasm_base64")
    if not isinstance(encoded, str) or not encoded:
        raise _bad("wasm_base64 must be the module, base64-encoded", "wasm_base64", 400 if encoded is None else 422)
    if len(encoded) > 4 * MAX_MODULE_BYTES // 3 + 8:
        raise _bad(f"the module is larger than {MAX_MODULE_BYTES} bytes", "wasm_base64")
    try:
        wasm = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad("wasm_base64 is not valid base64", "wasm_base64") from exc
    start = body.get("start_immediately", True)
    if not isinstance(start, bool):
        raise _bad("start_immediately must be a boolean", "start_immediately")
    symbols, specs, capable_edges = _instances(body, state)
    try:
        info = await asyncio.to_thread(inspect_module, algos.engine, wasm)
    except ModuleRejected as exc:
        raise _bad(str(exc), "wasm_base64") from exc
    async with algos.lock:
        taken = {i.spec.label for d in algos.view.of_tenant(auth.tenant) for i in d.named()}
        clash = sorted({s.label for s in specs if s.label != s.instance_id} & taken)
        if clash:
            raise ApiError(409, f"label {clash[0]!r} is in use by another deployment of this account (labels name "
                                "instances on the account's mesh); undeploy it or choose another", code="CONFLICT")
        if len(algos.view.of_tenant(auth.tenant)) >= MAX_DEPLOYMENTS_PER_TENANT:
            raise ApiError(409, f"at most {MAX_DEPLOYMENTS_PER_TENANT} deployments per account; undeploy one first",
                           code="CONFLICT")
        await asyncio.to_thread(algos.modules.put, wasm)
        await fund_if_new(state, auth.tenant)  # the algo's orders trade the tenant's paper balances
        deployment_id = "dep_" + uuid.uuid4().hex[:20]
        now_ns = time.time_ns()
        events: list[Any] = [
            AlgoDeployed(
                event_id=derive_id("algo-deployed", deployment_id), ts_ns=now_ns, tenant=auth.tenant,
                deployment_id=deployment_id, name=name.strip(), symbols=symbols, size_bytes=info.size_bytes,
                wasm_sha256=info.sha256, instances=specs, capable_edges=capable_edges, exports=info.exports,
            )
        ]
        if start:
            events.append(AlgoStarted(event_id=derive_id("algo-started", deployment_id, "deploy"), ts_ns=now_ns,
                                      tenant=auth.tenant, deployment_id=deployment_id))
        await _append_and_wait(state, algos, events)
    return deployment_view(_deployment(algos, auth.tenant, deployment_id))


@router.get("/deployments")
async def list_deployments(auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    return {"deployments": [deployment_view(d) for d in algos.view.of_tenant(auth.tenant)]}


@router.get("/deployments/{deployment_id}")
async def get_deployment(deployment_id: str, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    return deployment_view(_deployment(algos, auth.tenant, deployment_id))


async def _start_stop(
    state: ApiState, algos: Algos, tenant: str, deployment: Deployment, start: bool, instances: list[str]
) -> None:
    now_ns = time.time_ns()
    request_id = uuid.uuid4().hex  # each request is a new fact (start, stop, start again...)
    event: Any
    if start:
        event = AlgoStarted(event_id=derive_id("algo-started", deployment.deployment_id, request_id), ts_ns=now_ns,
                            tenant=tenant, deployment_id=deployment.deployment_id, instances=instances)
    else:
        event = AlgoStopped(event_id=derive_id("algo-stopped", deployment.deployment_id, request_id), ts_ns=now_ns,
                            tenant=tenant, deployment_id=deployment.deployment_id, instances=instances)
    await _append_and_wait(state, algos, [event])


@router.post("/deployments/{deployment_id}/start")
async def start_deployment(deployment_id: str, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    deployment = _deployment(algos, auth.tenant, deployment_id)
    await _start_stop(state, algos, auth.tenant, deployment, True, [])
    return {"deployment_id": deployment_id, "status": deployment.status}


@router.post("/deployments/{deployment_id}/stop")
async def stop_deployment(deployment_id: str, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    """Stop calling the instances (on_shutdown runs; resting orders stay unless it cancels them)."""
    deployment = _deployment(algos, auth.tenant, deployment_id)
    await _start_stop(state, algos, auth.tenant, deployment, False, [])
    return {"deployment_id": deployment_id, "status": deployment.status}


@router.delete("/deployments/{deployment_id}")
async def undeploy(deployment_id: str, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    deployment = _deployment(algos, auth.tenant, deployment_id)
    await _append_and_wait(state, algos, [
        AlgoUndeployed(event_id=derive_id("algo-undeployed", deployment_id), ts_ns=time.time_ns(), tenant=auth.tenant,
                       deployment_id=deployment.deployment_id)
    ])
    return {"deployment_id": deployment_id, "status": "undeployed"}


def _log_rows(deployment: Deployment, limit: int, instances: set[str] | None = None) -> list[dict[str, Any]]:
    venue = {i.spec.instance_id: i.spec.venue for i in deployment.instances.values()}
    lines = [x for x in deployment.logs if instances is None or x.instance_id in instances]
    return [
        {"ts_ns": x.ts_ns, "level": x.level, "edge_id": venue.get(x.instance_id, ""), "instance_id": x.instance_id,
         "deployment_id": deployment.deployment_id, "message": x.message}
        for x in lines[-limit:]
    ]


def _limit(limit: int) -> int:
    if not 1 <= limit <= 5000:
        raise _bad("limit must be in [1, 5000]", "limit", 400)
    return limit


@router.get("/deployments/{deployment_id}/logs")
async def deployment_logs(deployment_id: str, auth: Auth, algos: AlgosDep, limit: int = 200) -> dict[str, Any]:
    deployment = _deployment(algos, auth.tenant, deployment_id)
    return {"deployment_id": deployment_id, "logs": _log_rows(deployment, _limit(limit)),
            "dropped": deployment.dropped_logs}


@router.get("/deployments/{deployment_id}/mesh")
async def deployment_mesh(deployment_id: str, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    deployment = _deployment(algos, auth.tenant, deployment_id)
    return {
        "deployment_id": deployment_id,
        "instances": [
            {"edge_id": i.spec.venue, "instance_id": i.spec.instance_id, "label": i.spec.label,
             "symbol": i.spec.symbol, "status": i.status}
            for i in deployment.instances.values()
        ],
        "links": [{"from": src, "to": dst, "messages": n} for (src, dst), n in sorted(deployment.links.items())],
        "recent": [
            {"ts_ns": m.ts_ns, "from": m.from_label, "to": m.to_label, "size_bytes": len(m.payload)}
            for m in list(deployment.mesh)[-50:]
        ],
    }


# ---------------------------------------------------------------- per symbol


def _on_symbol(algos: Algos, tenant: str, symbol: str) -> list[tuple[Deployment, Instance]]:
    found = [(d, i) for d in algos.view.of_tenant(tenant) for i in d.instances.values() if i.spec.symbol == symbol]
    if not found:
        raise ApiError(404, f"no algo is deployed on {symbol!r}", code="NOT_FOUND")
    return found


def _symbol_status(instances: list[Instance]) -> str:
    statuses = {i.status for i in instances}
    for status in ("paused", "running", "pending"):
        if status in statuses:
            return status
    return "stopped"


def _algo_rows(deployments: list[Deployment]) -> list[dict[str, Any]]:
    by_symbol: dict[str, list[tuple[Deployment, Instance]]] = {}
    for d in deployments:
        for i in d.instances.values():
            by_symbol.setdefault(i.spec.symbol, []).append((d, i))
    rows = []
    for symbol, pairs in sorted(by_symbol.items()):
        newest = max(pairs, key=lambda p: p[0].deployed.ts_ns)[0]
        rows.append({"symbol": symbol, "size_bytes": newest.deployed.size_bytes,
                     "modified_at": newest.deployed.ts_ns // 10**9, "status": _symbol_status([i for _, i in pairs]),
                     "deployment_id": newest.deployment_id})
    return rows


@router.get("/algos")
async def list_algos(auth: Auth, algos: AlgosDep, detail: str | None = None) -> dict[str, Any]:
    deployments = algos.view.of_tenant(auth.tenant)
    answer: dict[str, Any] = {"algos": _algo_rows(deployments)}
    if detail == "edge":
        answer["edges"] = [_edge_row(d, i) for d in deployments for i in d.instances.values()]
    return answer


async def _symbol_start_stop(state: ApiState, algos: Algos, tenant: str, symbol: str, start: bool) -> dict[str, Any]:
    found = _on_symbol(algos, tenant, symbol)
    for deployment in {id(d): d for d, _ in found}.values():
        named = [i.spec.instance_id for d, i in found if d is deployment]
        await _start_stop(state, algos, tenant, deployment, start, named)
    return {"symbol": symbol, "status": _symbol_status([i for _, i in found])}


@router.post("/algos/{symbol:path}/start")
async def start_symbol(symbol: str, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    return await _symbol_start_stop(state, algos, auth.tenant, symbol, True)


@router.post("/algos/{symbol:path}/stop")
async def stop_symbol(symbol: str, state: State, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    return await _symbol_start_stop(state, algos, auth.tenant, symbol, False)


@router.get("/algos/{symbol:path}/logs")
async def symbol_logs(symbol: str, auth: Auth, algos: AlgosDep, limit: int = 200) -> dict[str, Any]:
    found = _on_symbol(algos, auth.tenant, symbol)
    rows: list[dict[str, Any]] = []
    for deployment in {id(d): d for d, _ in found}.values():
        rows.extend(_log_rows(deployment, _limit(limit), {i.spec.instance_id for d, i in found if d is deployment}))
    rows.sort(key=lambda r: r["ts_ns"])
    return {"symbol": symbol, "logs": rows[-limit:]}


@router.get("/algos/{symbol:path}/stats")
async def symbol_stats(symbol: str, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    found = _on_symbol(algos, auth.tenant, symbol)
    edges = [_edge_row(d, i) for d, i in found]
    total = {k: sum(e[k] for e in edges) for k in (
        "position_1e8", "realized_pnl_1e9", "session_realized_pnl_1e9", "unrealized_pnl_1e9", "orders_sent", "fills",
        "update_count",
    )}
    paused = [e["pause_reason"] for e in edges if e["pause_reason"]]
    return {
        "symbol": symbol, **total,
        "callback_latency_ns_p50": max((e["callback_latency_ns"] for e in edges), default=0),
        "callback_latency_ns_p99": max((e["callback_latency_ns_p99"] for e in edges), default=0),
        "status": _symbol_status([i for _, i in found]),
        "pause_reason": paused[0] if paused else None,
        "edges": edges,
    }


@router.get("/algos/{symbol:path}")
async def get_algo(symbol: str, auth: Auth, algos: AlgosDep) -> dict[str, Any]:
    found = _on_symbol(algos, auth.tenant, symbol)
    deployments = list({id(d): d for d, _ in found}.values())
    [row] = [r for r in _algo_rows(deployments) if r["symbol"] == symbol]
    return {**row, "edges": [_edge_row(d, i) for d, i in found]}
