"""Bearer-key authentication: every route except GET /v1/health/live depends on `require_key`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.api.access import AuthContext
from services.api.errors import ApiError
from services.api.keys import well_formed
from services.api.state import ApiState, get_state


async def require_key(request: Request, state: Annotated[ApiState, Depends(get_state)]) -> AuthContext:
    """Resolve `Authorization: Bearer <key>` to an `AuthContext`, or answer 401."""
    return authenticate(state, request.headers.get("authorization", ""))


def authenticate(state: ApiState, authorization: str) -> AuthContext:
    """The caller an `Authorization` header value stands for; ApiError 401 (no, malformed, unknown
    or revoked key) or 429 (the tenant's rate limit). Shared by `require_key` and the order door."""
    scheme, _, raw = authorization.strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw:
        raise ApiError(401, "missing API key: send Authorization: Bearer <key>", code="UNAUTHORIZED")
    if not well_formed(raw):
        raise ApiError(
            401, "malformed API key: expected seq_live_<64 hex> or seq_test_<64 hex>", code="UNAUTHORIZED"
        )
    key = state.keys.lookup(raw)
    if key is None:
        raise ApiError(401, "unknown API key", code="UNAUTHORIZED")
    if key.revoked:
        raise ApiError(401, f"API key {key.key_id} was revoked", code="UNAUTHORIZED")
    wait_s = state.limiter.take(key.tenant)  # per account, not per key (contract)
    if wait_s:
        raise ApiError(
            429,
            f"rate limit exceeded: {state.limiter.qps:g} requests/s per account; retry in {wait_s}s",
            code="RATE_LIMITED",
            headers={"Retry-After": str(wait_s)},
        )
    return AuthContext(tenant=key.tenant, key_id=key.key_id, is_sandbox=key.is_sandbox, is_admin=key.is_admin)


Auth = Annotated[AuthContext, Depends(require_key)]
