"""Venue credentials: PUT/POST/DELETE /v1/credentials/{venue}, GET /v1/credentials.

Every request acts for its key's tenant; another tenant's credential is invisible (404 on
DELETE, absent from GET). Responses carry only `key_hint`, never a secret. The vault opens on
first use (this router's own lifespan closes it), so the app starts even when the vault's
master key is not configured for a PostgreSQL deployment that does not use credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request

from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.access import json_body
from services.api.state import ApiState, get_state
from services.edges import registry
from services.edges.evm.wallet import ONCHAIN_VENUES, BadSigner, signer_credentials
from services.vault import Credentials, CredentialInfo, Vault, VaultKeyError, lifecycle_event, open_vault


class VaultHolder:
    """Opens the vault once, on first use, and closes it at shutdown."""

    def __init__(self) -> None:
        self._vault: Vault | None = None
        self._lock = threading.Lock()

    def get(self, state: ApiState) -> Vault:
        with self._lock:
            if self._vault is None:
                try:
                    self._vault = open_vault(state.settings)
                except VaultKeyError as exc:
                    raise ApiError(503, f"credential vault unavailable: {exc}") from exc
            return self._vault

    def close(self) -> None:
        with self._lock:
            if self._vault is not None:
                self._vault.close()
                self._vault = None


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    holder = VaultHolder()
    app.state.vault = holder
    try:
        yield
    finally:
        holder.close()


router = APIRouter(prefix="/v1", tags=["credentials"], lifespan=_lifespan)
State = Annotated[ApiState, Depends(get_state)]


async def get_vault(request: Request, state: State) -> Vault:
    holder: VaultHolder = request.app.state.vault
    return await asyncio.to_thread(holder.get, state)  # the first call opens the store


VaultDep = Annotated[Vault, Depends(get_vault)]


@functools.cache
def known_venues() -> tuple[str, ...]:
    return tuple(registry.venue_ids())  # one credential per exchange: spot and perps share it


def _venue(venue: str) -> str:
    if venue not in known_venues():
        raise ApiError(404, f"unknown venue {venue!r}; known: {', '.join(known_venues())}")
    return venue


def parse_credentials(body: Any) -> Credentials:
    """Validate a credentials body. Error messages name fields, never echo values."""
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object {api_key, api_secret, passphrase?, extra_json?}", code="BAD_REQUEST")
    missing = [f for f in ("api_key", "api_secret") if f not in body or body[f] is None]
    if missing:
        raise ApiError(
            400,
            f"missing required field(s): {', '.join(missing)}",
            code="BAD_REQUEST",
            details=[{"field": f, "message": "required"} for f in missing],
        )
    wrong = [f for f in ("api_key", "api_secret", "passphrase") if body.get(f) is not None and not isinstance(body[f], str)]
    if wrong:
        raise ApiError(400, f"field(s) must be strings: {', '.join(wrong)}", code="BAD_REQUEST")
    return Credentials(
        api_key=body["api_key"],
        api_secret=body["api_secret"],
        passphrase=body.get("passphrase") or None,
        extra_json=body.get("extra_json"),
    )


async def _put(venue: str, request: Request, state: ApiState, auth: Auth, vault: Vault) -> dict[str, Any]:
    _venue(venue)
    creds = parse_credentials(await json_body(request))
    if venue in ONCHAIN_VENUES:  # a wallet: the secret is a signer key, the stored key its address
        try:
            creds = signer_credentials(creds)
        except BadSigner as exc:
            raise ApiError(400, str(exc), code="BAD_REQUEST") from None
    # Off the event loop: a PostgreSQL vault is a network round trip.
    info = await asyncio.to_thread(vault.store, auth.tenant, venue, creds)
    await state.bus.publish(lifecycle_event(info))
    return {"venue": venue, "connected": True}


@router.put("/credentials/{venue}")
async def put_credentials(venue: str, request: Request, state: State, auth: Auth, vault: VaultDep) -> dict[str, Any]:
    return await _put(venue, request, state, auth, vault)


@router.post("/credentials/{venue}")
async def post_credentials(venue: str, request: Request, state: State, auth: Auth, vault: VaultDep) -> dict[str, Any]:
    return await _put(venue, request, state, auth, vault)


@router.delete("/credentials/{venue}")
async def delete_credentials(venue: str, state: State, auth: Auth, vault: VaultDep) -> dict[str, Any]:
    _venue(venue)
    info = await asyncio.to_thread(vault.revoke, auth.tenant, venue)
    if info is None:
        raise ApiError(404, f"venue {venue!r} was never connected")
    # Republishing for an already-revoked credential reuses the derived event id: the bus dedups it.
    await state.bus.publish(lifecycle_event(info))
    return {"venue": venue, "connected": False}


def _row(info: CredentialInfo) -> dict[str, Any]:
    return {
        "venue": info.venue,
        "connected": info.connected,
        "key_hint": info.key_hint,
        "has_passphrase": info.has_passphrase,
        "heartbeat": "ok",  # no live venue sessions yet: nothing can go stale
        "updated_ns": info.updated_ns,
    }


@router.get("/credentials")
async def list_credentials(auth: Auth, vault: VaultDep) -> dict[str, Any]:
    infos = await asyncio.to_thread(vault.list, auth.tenant, list(known_venues()))
    return {"venues": [_row(i) for i in infos]}
