"""The caller's account: GET /v1/account and the kill switch.

POST (or PUT) /v1/kill_switch publishes `KillSwitchEngaged` for the caller's tenant: new order
submissions answer 409 KILL_SWITCH until an admin key clears it. Resting orders are not
cancelled. Each answer is given only after the API's own ledger view has folded the event, so
the caller's next request already sees the new state.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from events import new_event_id
from events.risk import KillSwitchCleared, KillSwitchEngaged
from services.api.auth import Auth
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
    event = KillSwitchEngaged(event_id=new_event_id(), ts_ns=time.time_ns(), tenant=auth.tenant, reason=reason)
    ack = await state.bus.publish(event)
    await state.ledger_follower.wait_for(ack.seq)
    return {"engaged": True, "reason": reason, "engaged_at_ns": event.ts_ns}


@router.post("/kill_switch/clear")
async def clear(state: State, auth: Auth) -> dict[str, Any]:
    if not auth.is_admin:
        raise ApiError(403, f"key {auth.key_id} is not an admin key: only an admin can clear the kill switch",
                       code="FORBIDDEN")
    event = KillSwitchCleared(event_id=new_event_id(), ts_ns=time.time_ns(), tenant=auth.tenant)
    ack = await state.bus.publish(event)
    await state.ledger_follower.wait_for(ack.seq)
    return {"engaged": False, "cleared_at_ns": event.ts_ns}
