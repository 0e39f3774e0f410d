"""The caller's account: GET /v1/account and the kill switch.

POST (or PUT) /v1/kill_switch appends an `EngageKillSwitch` command for the caller's tenant; risk
(the only writer of `risk.<tenant>.kill`) records `KillSwitchEngaged`, and new order submissions
answer 409 KILL_SWITCH until an admin key clears it. Resting orders are not cancelled. Each
answer is given only after the API's own ledger view has folded risk's fact, so the caller's
next request already sees the new state.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from events import AnyEvent, new_event_id
from events.commands import ClearKillSwitch, EngageKillSwitch
from events.risk import KillSwitchEngaged
from services.api.auth import Auth
from services.api.commands import append_command, await_kernel
from services.api.errors import ApiError
from services.api.access import json_body
from services.api.state import ApiState, get_state

router = APIRouter(prefix="/v1", tags=["account"])
State = Annotated[ApiState, Depends(get_state)]

MAX_REASON_CHARS = 500


@router.get("/account")
async def account(state: State, auth: Auth) -> dict[str, Any]:
    engaged = state.ledger.kill.get(auth.tenant)
    return {
        "client_id": auth.tenant,
        "key_id": auth.key_id,
        "mode": "sandbox" if auth.is_sandbox else "live",
        "tier": "self_hosted",
        "rate_limit_qps": state.limiter.qps or None,
        "is_admin": auth.is_admin,
        "kill_switch": {
            "engaged": engaged is not None,
            "reason": engaged.reason if engaged else None,
            "engaged_at_ns": engaged.ts_ns if engaged else None,
        },
    }


@router.put("/kill_switch", operation_id="kill_switch_engage_put")  # [3P] accepts PUT too
@router.post("/kill_switch")
async def engage(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object like {\"reason\": \"...\"}", code="INVALID_PARAMS")
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApiError(400, f"reason must be a string or null, was {type(reason).__name__}", code="INVALID_PARAMS",
                       details=[{"field": "reason", "message": "must be a string or null"}])
    if reason is not None and len(reason) > MAX_REASON_CHARS:
        raise ApiError(400, f"reason is longer than {MAX_REASON_CHARS} characters", code="INVALID_PARAMS",
                       details=[{"field": "reason", "message": f"at most {MAX_REASON_CHARS} characters"}])
    command = EngageKillSwitch(event_id=new_event_id(), ts_ns=time.time_ns(), tenant=auth.tenant, reason=reason)
    await _run(state, command, lambda: _engaged_by(state, command) is not None)
    engaged = _engaged_by(state, command)
    return {"engaged": True, "reason": reason, "engaged_at_ns": engaged.ts_ns if engaged else command.ts_ns}


@router.post("/kill_switch/clear")
async def clear(state: State, auth: Auth) -> dict[str, Any]:
    if not auth.is_admin:
        raise ApiError(403, f"key {auth.key_id} is not an admin key: only an admin can clear the kill switch",
                       code="FORBIDDEN")
    command = ClearKillSwitch(event_id=new_event_id(), ts_ns=time.time_ns(), tenant=auth.tenant)
    await _run(state, command, lambda: auth.tenant not in state.ledger.kill)
    return {"engaged": False, "cleared_at_ns": command.ts_ns}


def _engaged_by(state: ApiState, command: EngageKillSwitch) -> KillSwitchEngaged | None:
    """Risk's engagement in force if it answers `command` (or a later engage), else None."""
    engaged = state.ledger.kill.get(command.tenant)
    if engaged is None or (engaged.causation_id != command.event_id and engaged.ts_ns < command.ts_ns):
        return None
    return engaged


async def _run(state: ApiState, command: AnyEvent, done: Callable[[], bool]) -> None:
    await append_command(state, command)
    await await_kernel(state, done, "the kill switch change")
