"""Health: GET /v1/health/live (no auth: the SDK calls it bare) and GET /v1/health (with a key).

GET /v1/health is for an SRE: whether this API process can serve what it promises. It answers
503 with the same body when NATS is disconnected, when the ledger follower (what commands
decide on) does not reach the LEDGER stream's end within `CATCH_UP_S`, when a durable view
has halted (its reads would fail), or until the system can trade (`ready`: this process's
reads caught up, the trader's parts announcing readiness; services/api/readiness.py). Edges that are down or degraded only make it "degraded"
(200): the API still serves, orders just route around them."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Literal

import nats.errors
import nats.js.errors
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.api import readiness
from services.api.auth import Auth
from services.api.routers.market import edges as edge_rows
from services.api.state import ApiState, get_state

router = APIRouter(prefix="/v1", tags=["health"])
keyed = APIRouter(prefix="/v1", tags=["health"])  # included with the key dependency
State = Annotated[ApiState, Depends(get_state)]
CATCH_UP_S = 2.0  # the follower must reach the stream's end within this, else 503
EDGE_STATUSES = ("connected", "degraded", "down")


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


class NatsHealth(BaseModel):
    connected: bool


class LedgerHealth(BaseModel):
    position: int  # the follower's last applied LEDGER sequence
    last_seq: int | None  # the stream's last sequence when checked (None: NATS unreachable)
    lag: int | None  # last_seq - position when checked
    caught_up: bool  # reached last_seq within CATCH_UP_S


class ViewHealth(BaseModel):
    position: int
    lag: int | None
    halted: bool


class KillSwitchHealth(BaseModel):
    engaged: bool
    reason: str | None
    engaged_at_ns: int | None


class FactsHealth(BaseModel):
    """Execution facts the folds refused (a fill, ack or cancel naming a child the ledger does
    not know, or another venue than the child's): nothing was booked; each is also a
    `FactRefused` event on risk.<tenant>.anomaly."""

    refused: int  # the caller's tenant
    refused_all_tenants: int


class Health(BaseModel):
    status: Literal["ok", "degraded", "unavailable"]
    ready: bool  # an order taken now would be routed on current books (else POST /v1/orders answers 503)
    checked_ns: int
    nats: NatsHealth
    ledger_lag: int | None
    ledger: LedgerHealth
    views: dict[str, ViewHealth]
    edges: dict[str, int]  # edge count per status: connected, degraded, down
    kill_switch: KillSwitchHealth  # the caller's tenant
    facts: FactsHealth
    problems: list[str]  # why the status is not "ok"


@keyed.get("/health", response_model=Health, responses={503: {"model": Health, "description": "unhealthy"}})
async def health(state: State, auth: Auth) -> JSONResponse:
    problems: list[str] = []
    connected = state.bus.nc.is_connected
    follower = state.ledger_follower
    last_seq: int | None = None
    lag: int | None = None
    caught_up = False
    if not connected:
        problems.append("NATS is disconnected")
    else:
        try:
            async with asyncio.timeout(CATCH_UP_S):
                last_seq = (await state.bus.js.stream_info(follower.stream)).state.last_seq
                lag = max(0, last_seq - follower.position)
                await follower.wait_for(last_seq, timeout=CATCH_UP_S)
            caught_up = True
        except (TimeoutError, nats.errors.Error, nats.js.errors.Error, OSError):
            if last_seq is None:
                problems.append("NATS did not answer a stream info request")
            else:
                problems.append(f"ledger follower at {follower.position} did not reach {last_seq} within {CATCH_UP_S}s")
    views = {}
    for name, runner in (("orders", state.orders), ("positions", state.positions)):
        halted = runner.error is not None
        on_ledger = runner.projection.stream == follower.stream
        view_lag = max(0, last_seq - runner.position) if on_ledger and last_seq is not None else None
        views[name] = ViewHealth(position=runner.position, lag=view_lag, halted=halted)
        if halted:
            problems.append(f"the {name} view halted: {type(runner.error).__name__}")
    not_ready = readiness.problems(state)
    problems.extend(not_ready)
    counts = dict.fromkeys(EDGE_STATUSES, 0)
    for row in (await edge_rows(state))["edges"]:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    unavailable = bool(problems)
    if counts["down"] or counts["degraded"]:
        problems.append(f"{counts['down']} edge(s) down, {counts['degraded']} degraded")
    engaged = state.ledger.kill.get(auth.tenant)
    refused = state.ledger.refused.get(auth.tenant, 0)
    if refused:
        problems.append(f"{refused} execution fact(s) refused: unknown child or wrong venue (see risk.{auth.tenant}.anomaly)")
    body = Health(
        status="unavailable" if unavailable else "degraded" if problems else "ok",
        ready=not not_ready,
        checked_ns=time.time_ns(),
        nats=NatsHealth(connected=connected),
        ledger_lag=lag,
        ledger=LedgerHealth(position=follower.position, last_seq=last_seq, lag=lag, caught_up=caught_up),
        views=views,
        edges=counts,
        kill_switch=KillSwitchHealth(
            engaged=engaged is not None,
            reason=engaged.reason if engaged else None,
            engaged_at_ns=engaged.ts_ns if engaged else None,
        ),
        facts=FactsHealth(refused=refused, refused_all_tenants=sum(state.ledger.refused.values())),
        problems=problems,
    )
    return JSONResponse(body.model_dump(), status_code=503 if unavailable else 200)
