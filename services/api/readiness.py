"""Whether this API and the trader behind it can take an order now.

Ready means: this process's ledger and market-data reads have caught up with what was on the
streams when it started (commands decide on the ledger; symbols are checked against the
books), and the trader's graph engine, router and sandbox executor each announce readiness
with a fresh heartbeat (services/readiness.py). `GET /v1/health` reports the reasons and
answers 503 until then; `POST /v1/orders` answers 503 SERVICE_UNAVAILABLE with `Retry-After`
(`require_ready`), which the published client retries, instead of taking an order the trader
would reject on a stale book.
"""

from __future__ import annotations

from fastapi import Request

from services.api.errors import ApiError
from services.api.state import ApiState
from services.readiness import TRADING_ROLES, ReadinessWatch

RETRY_AFTER_S = 1  # a restarted trader is ready within a few seconds; integer seconds per the contract


def problems(state: ApiState) -> list[str]:
    out = []
    if not state.ledger_follower.caught_up.is_set():
        out.append("the API's ledger read has not caught up yet")
    if not state.md_follower.caught_up.is_set():
        out.append("the API's market-data read has not caught up yet")
    watch: ReadinessWatch | None = state.readiness
    if watch is not None and state.settings.require_trader_ready:
        out.extend(watch.problems(TRADING_ROLES))
    return out


async def require_ready(request: Request) -> None:
    """A route dependency: refuse with a retryable 503 while not ready (before any side effect)."""
    refuse_unless_ready(request.app.state.api)


def refuse_unless_ready(state: ApiState) -> None:
    found = problems(state)
    if found:
        raise ApiError(503, "not ready: " + "; ".join(found), headers={"Retry-After": str(RETRY_AFTER_S)})
