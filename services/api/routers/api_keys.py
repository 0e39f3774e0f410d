"""API keys over HTTP: create, list, rotate, revoke the caller's tenant's keys (services/api/keys.py).

Rules:
* A key only sees and touches its own tenant's keys: another tenant's key_id answers 404 exactly
  like an unknown one.
* A sandbox (`seq_test_`) key may only create, rotate or revoke sandbox keys (403): it must not
  mint, nor cut off, live access.
* Keys made here are never admin. Rotating or revoking an admin key takes an admin key (403):
  rotation keeps the admin flag, so a non-admin could otherwise mint itself an admin key.
* Revoking the key the request came with is allowed; auth reads the store on every request, so
  it takes effect on the next one.
* The raw key is returned once (create, rotate) and never logged; the store keeps only its hash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from services.api.access import AuthContext
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.keys import ApiKey, IssuedKey, KeyNotFound
from services.api.state import ApiState, get_state

router = APIRouter(prefix="/v1", tags=["api_keys"])
State = Annotated[ApiState, Depends(get_state)]
log = logging.getLogger("crossbook.api")
MAX_LABEL_CHARS = 200


class CreateKey(BaseModel):
    label: str = Field(default="", max_length=MAX_LABEL_CHARS)
    sandbox: bool | None = None  # None: the calling key's own mode


class KeyInfo(BaseModel):
    key_id: str
    label: str
    sandbox: bool
    admin: bool
    created_ns: int
    revoked_ns: int | None


class NewKey(KeyInfo):
    api_key: str  # shown once: only its SHA-256 is stored


class KeyList(BaseModel):
    api_keys: list[KeyInfo]


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(
        key_id=key.key_id, label=key.label, sandbox=key.is_sandbox, admin=key.is_admin,
        created_ns=key.created_ns, revoked_ns=key.revoked_ns,
    )


def _new(issued: IssuedKey) -> NewKey:
    return NewKey(api_key=issued.secret, **_info(issued.record).model_dump())


async def _own(state: ApiState, auth: AuthContext, key_id: str) -> ApiKey:
    key = await asyncio.to_thread(state.keys.get, key_id)
    if key is None or key.tenant != auth.tenant:
        raise ApiError(404, f"unknown API key {key_id!r}", code="NOT_FOUND")
    if auth.is_sandbox and not key.is_sandbox:
        raise ApiError(403, f"a sandbox (seq_test_) key cannot manage live key {key_id}: use a live key",
                       code="FORBIDDEN")
    if key.is_admin and not auth.is_admin:
        raise ApiError(403, f"{key_id} is an admin key: only an admin key can rotate or revoke it", code="FORBIDDEN")
    return key


@router.post("/api_keys", response_model=NewKey, status_code=201)
async def create(state: State, auth: Auth, body: CreateKey | None = None) -> NewKey:
    body = body or CreateKey()  # the SDK sends no body for {}
    sandbox = auth.is_sandbox if body.sandbox is None else body.sandbox
    if auth.is_sandbox and not sandbox:
        raise ApiError(403, "a sandbox (seq_test_) key can only create sandbox keys: use a live key to create a live one",
                       code="FORBIDDEN")
    issued = await asyncio.to_thread(
        lambda: state.keys.create(auth.tenant, sandbox=sandbox, admin=False, now_ns=time.time_ns(), label=body.label)
    )
    log.info("API key %s created for tenant %s by %s", issued.record.key_id, auth.tenant, auth.key_id)
    return _new(issued)


@router.get("/api_keys", response_model=KeyList)
async def list_keys(state: State, auth: Auth) -> KeyList:
    keys = await asyncio.to_thread(state.keys.list_keys, auth.tenant)
    return KeyList(api_keys=[_info(k) for k in keys])


@router.post("/api_keys/{key_id}/rotate", response_model=NewKey)
async def rotate(key_id: str, state: State, auth: Auth) -> NewKey:
    old = await _own(state, auth, key_id)
    if old.revoked:
        raise ApiError(409, f"API key {key_id} is already revoked: create a new key instead", code="CONFLICT")
    # Mint first, then revoke: a failure in between leaves two working keys, never none.
    issued = await asyncio.to_thread(
        lambda: state.keys.create(
            auth.tenant, sandbox=old.is_sandbox, admin=old.is_admin, now_ns=time.time_ns(), label=old.label
        )
    )
    if not await asyncio.to_thread(state.keys.revoke_if_active, key_id, time.time_ns()):
        # Another request rotated or revoked it meanwhile: one rotation wins, this one is undone.
        await asyncio.to_thread(state.keys.revoke, issued.record.key_id, time.time_ns())
        raise ApiError(409, f"API key {key_id} was rotated or revoked by another request", code="CONFLICT")
    log.info("API key %s rotated to %s for tenant %s by %s", key_id, issued.record.key_id, auth.tenant, auth.key_id)
    return _new(issued)


@router.delete("/api_keys/{key_id}", response_model=KeyInfo)
async def revoke(key_id: str, state: State, auth: Auth) -> KeyInfo:
    await _own(state, auth, key_id)
    try:
        # Idempotent: revoking again keeps (and answers) the first revocation time.
        key = await asyncio.to_thread(state.keys.revoke, key_id, time.time_ns())
    except KeyNotFound as exc:
        raise ApiError(404, f"unknown API key {key_id!r}", code="NOT_FOUND") from exc
    log.info("API key %s revoked for tenant %s by %s", key_id, auth.tenant, auth.key_id)
    return _info(key)
