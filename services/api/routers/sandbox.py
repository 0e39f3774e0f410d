"""The sandbox book: POST /v1/sandbox/reset, PUT (and GET) /v1/sandbox/settings, POST /v1/sandbox/positions.

Only seq_test_ keys may call these (a live key gets 403): they touch the tenant's sandbox book
and nothing else. The API appends a command (events/commands.py SANDBOX_COMMANDS) and the
sandbox executor, the only writer of `exec.*`, appends the facts (services/edges/sandbox/
accounts.py); the API answers once they are in its ledger view. Everything is new events on the
ledger, never a deletion:
* settings are a `SandboxSettingsChanged` (the paper amounts per asset, granted on every
  sandbox venue; they replace the defaults) that the next funding or reset uses;
* a reset cancels the tenant's working sandbox graphs (the cancel endpoint's command), then
  brings every sandbox (venue, asset) balance to its paper amount with `BalanceAdjusted`
  (reason "sandbox_reset", delta = target - balance as the risk fold sees it), then marks the
  positions flat with a `SandboxReset`. Fills, PnL and the old positions stay in the log.
* a position set is one `BalanceAdjusted` (reason "sandbox_set_position") to reach a quantity.

Safe to repeat: a second reset finds nothing to change and appends nothing; a retry with the
same X-Request-Id answers what the first did (the `SandboxReset` records it). Command ids derive
from the request id and the balance seen, so two identical concurrent requests store one command.
Calls of one tenant are serialised in this process, so two resets never both add the same
delta; several API processes resetting one tenant at once could (not guarded across processes).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from events import new_event_id
from events.commands import ChangeSandboxSettings, ResetSandbox, SetSandboxBalance
from events.sandbox import BalanceDelta, PaperBalance, PositionRef, SandboxReset
from projections.positions import NAME as POSITIONS
from services.api.access import AuthContext, json_body
from services.api.auth import Auth
from services.api.commands import apply_sandbox_command
from services.api.errors import ApiError, request_id
from services.api.routers.cancel import command_ids, run_command
from services.api.routers.orders import VIEW_WAIT_S, fund_if_new, paper_plan
from services.api.state import ApiState, get_state
from services.api.units import INT64_MAX
from services.edges.sandbox.accounts import command_id
from services.edges.sandbox.balances import paper_funding, reset_deltas
from services.graph import CancelGraph

router = APIRouter(prefix="/v1/sandbox", tags=["sandbox"])
State = Annotated[ApiState, Depends(get_state)]
log = logging.getLogger("crossbook.api")

_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")
_MAX_ASSETS = 64
SETTLE_S = 5.0  # how long a reset waits for cancelled children to close before adjusting


def _sandbox_only(auth: AuthContext) -> None:
    if not auth.is_sandbox:
        raise ApiError(
            403,
            "sandbox endpoints take a sandbox key (seq_test_...): they change only the sandbox book, "
            "and a live key must not reset or fund anything",
            code="FORBIDDEN",
        )


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"{field}: {message}", details=[{"field": field, "message": message}])


def _asset(field: str, value: Any) -> str:
    if not isinstance(value, str) or not _ASSET.match(value.upper()):
        raise _invalid(field, f"asset must be 1-20 letters or digits, was {value!r}")
    return value.upper()


def _qty_1e8(field: str, value: Any, *, allow_zero: bool) -> int:
    """A decimal string (or integer) in human units -> qty_1e8, exact and within int64."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _invalid(field, f"must be a decimal string such as \"10.5\", was {value!r}")
    try:
        amount = Decimal(str(value).strip())
        if not amount.is_finite():
            raise _invalid(field, f"must be finite, was {value!r}")
        scaled = amount.scaleb(8)
        exact = scaled == scaled.to_integral_value()
    except (InvalidOperation, ArithmeticError) as exc:  # not a number, or out of the decimal context
        raise _invalid(field, f"is not a decimal amount: {value!r}") from exc
    if not exact:
        raise _invalid(field, f"has more than 8 decimal places: {value!r}")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise _invalid(field, f"must be {'zero or ' if allow_zero else ''}positive, was {value!r}")
    if scaled > INT64_MAX:
        raise _invalid(field, f"is too large: {value!r} x 1e8 does not fit in 64 bits")
    return int(scaled)


def _human(qty_1e8: int) -> str:
    return format(Decimal(qty_1e8).scaleb(-8).normalize(), "f")


def _lock(request: Request, tenant: str) -> asyncio.Lock:
    # Per app (so per event loop), per tenant: a reset reads balances and then adds deltas to them.
    locks: dict[str, asyncio.Lock] | None = getattr(request.app.state, "sandbox_locks", None)
    if locks is None:
        locks = request.app.state.sandbox_locks = {}
    return locks.setdefault(tenant, asyncio.Lock())


async def _folded(state: ApiState, seq: int | None) -> None:
    """Wait until the ledger view and the positions view have folded `seq`, so the caller's next
    read (/v1/balances, /v1/positions) shows what it just did."""
    if seq is None:
        return
    try:
        await state.ledger_follower.wait_for(seq, timeout=VIEW_WAIT_S)
        await state.positions.wait_for(seq, timeout=VIEW_WAIT_S)
    except TimeoutError:
        # The events are stored either way; only this answer would be ahead of the views.
        log.warning("sandbox: views have not reached seq %s after %ss; answering anyway", seq, VIEW_WAIT_S)


def _settings_body(state: ApiState, tenant: str) -> dict[str, Any]:
    chosen = state.ledger.sandbox_settings.get(tenant)
    plan = paper_plan(state, tenant)
    return {
        "balances": {b.asset: _human(b.qty_1e8) for b in chosen.balances} if chosen and chosen.balances else None,
        "is_default": not (chosen and chosen.balances),
        "paper_balances": [
            {"venue": g.venue, "asset": g.asset, "qty_1e8": g.qty_1e8} for g in paper_funding(state.sandbox_venues, plan)
        ],
    }


@router.get("/settings")
async def get_settings(state: State, auth: Auth) -> dict[str, Any]:
    _sandbox_only(auth)
    await state.ledger_follower.wait_caught_up()
    return _settings_body(state, auth.tenant)


@router.put("/settings")
async def put_settings(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    """Set the paper balances (`{balances: {"USDT": "1000000", "BTC": "10"}}`, decimal strings in
    human units, granted on every sandbox venue) the next funding or reset uses. They replace
    the defaults; `{}` or `{"balances": null}` goes back to them. Existing balances do not move
    until a reset."""
    _sandbox_only(auth)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", code="BAD_REQUEST")
    unknown = sorted(set(body) - {"balances"})
    if unknown:
        raise _invalid(unknown[0], "unknown field; send {\"balances\": {\"<ASSET>\": \"<amount>\"}}")
    raw = body.get("balances")
    if raw is not None and not isinstance(raw, dict):
        raise _invalid("balances", "must be an object of asset -> decimal string")
    raw = raw or {}
    if len(raw) > _MAX_ASSETS:
        raise _invalid("balances", f"at most {_MAX_ASSETS} assets")
    amounts: dict[str, int] = {}
    for name, value in raw.items():
        asset = _asset(f"balances.{name}", name)
        if asset in amounts:
            raise _invalid(f"balances.{name}", f"asset {asset} is given twice")
        amounts[asset] = _qty_1e8(f"balances.{name}", value, allow_zero=False)
    command = ChangeSandboxSettings(
        event_id=new_event_id(),  # settings are a value: setting the same twice is harmless
        ts_ns=time.time_ns(),
        tenant=auth.tenant,
        balances=[PaperBalance(asset=a, qty_1e8=q) for a, q in amounts.items()],
    )
    await _folded(state, await apply_sandbox_command(state, command, "the sandbox settings"))
    return _settings_body(state, auth.tenant)


async def _cancel_working(state: ApiState, tenant: str) -> list[str]:
    """Cancel the tenant's working sandbox graphs exactly as DELETE /v1/execution_graphs does."""
    cancelled = []
    for graph in [g for g in state.ledger.working_of(tenant) if g.is_sandbox]:
        current = state.ledger.graphs[graph.graph_id]
        try:
            after = await run_command(state, current, CancelGraph(reason="sandbox_reset"), command_ids("cancel", current))
        except ApiError as exc:
            if exc.status != 409:
                raise
            continue  # it ended between our read and the command
        if after.status == "CANCELLED":
            cancelled.append(graph.graph_id)
    if cancelled:
        # A child already at the venue may still fill until the sandbox pulls it: adjust after.
        def settled() -> bool:
            return not any(c.open for g in cancelled for c in state.ledger.graphs[g].children.values())

        try:
            await state.ledger_follower.wait_until(settled, timeout=SETTLE_S)
        except TimeoutError:
            log.warning("sandbox reset: children of %s still open after %ss; adjusting anyway", cancelled, SETTLE_S)
    return cancelled


def _reset_answer(reset: SandboxReset | None, cancelled: int, adjusted: list[BalanceDelta]) -> dict[str, Any]:
    if reset is not None:
        cancelled, adjusted = reset.cancelled, reset.adjusted
    return {
        "cancelled": cancelled,
        "adjusted": [{"venue": d.venue, "asset": d.asset, "delta_qty_1e8": d.delta_qty_1e8} for d in adjusted],
        "replayed": reset is not None,
        "as_of_ns": time.time_ns(),
    }


@router.post("/reset")
async def reset(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    """Cancel working sandbox orders, return every sandbox balance to its paper amount and make
    the sandbox positions flat. Answers `{cancelled, adjusted:[{venue, asset, delta_qty_1e8}],
    replayed, as_of_ns}`; a reset with nothing to change publishes nothing."""
    _sandbox_only(auth)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", code="BAD_REQUEST")
    tenant, rid = auth.tenant, request_id(request)
    async with _lock(request, tenant):
        await state.ledger_follower.wait_caught_up()
        done = state.ledger.sandbox_resets.get((tenant, rid))
        if done is not None:
            return _reset_answer(done, 0, [])
        await _folded(state, await fund_if_new(state, tenant))
        cancelled = await _cancel_working(state, tenant)
        # Positions the view holds for the sandbox book: the view must have every fill we know of.
        await _folded(state, state.ledger_follower.position)
        prefix = f"{tenant}/sandbox/"
        rows = await asyncio.to_thread(lambda: list(state.views.scan(POSITIONS, "positions", prefix)))
        flat = [PositionRef(venue=d["venue"], symbol=d["symbol"]) for _, d in rows]
        current = dict(state.ledger.books.account(tenant, True).balances)
        grants = reset_deltas(state.sandbox_venues, current, paper_plan(state, tenant))
        adjusted = [BalanceDelta(venue=g.venue, asset=g.asset, delta_qty_1e8=g.qty_1e8) for g in grants]
        if not adjusted and not flat and not cancelled:
            return _reset_answer(None, 0, [])
        command = ResetSandbox(
            event_id=command_id("reset", tenant, rid),
            ts_ns=time.time_ns(),
            tenant=tenant,
            request_id=rid,
            cancelled=len(cancelled),
            adjusted=adjusted,
            flattened=flat,
        )
        await _folded(state, await apply_sandbox_command(state, command, "the sandbox reset"))
        return _reset_answer(None, len(cancelled), adjusted)


@router.post("/positions")
async def set_position(request: Request, state: State, auth: Auth) -> dict[str, Any]:
    """Set one sandbox holding directly: `{venue, asset, qty}` (qty a decimal string, >= 0) becomes
    the (venue, asset) balance /v1/balances shows, through one `BalanceAdjusted`. For tests and
    demos; fill-built position rows (per symbol) are left as they are."""
    _sandbox_only(auth)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object", code="BAD_REQUEST")
    venue = body.get("venue")
    if not isinstance(venue, str) or venue not in state.sandbox_venues:
        raise _invalid("venue", f"unknown sandbox venue {venue!r}; known: {', '.join(state.sandbox_venues)}")
    asset = _asset("asset", body.get("asset"))
    if "qty" not in body:
        raise _invalid("qty", "required: the quantity to hold, as a decimal string")
    target = _qty_1e8("qty", body["qty"], allow_zero=True)
    tenant, rid = auth.tenant, request_id(request)
    async with _lock(request, tenant):
        await _folded(state, await fund_if_new(state, tenant))
        await state.ledger_follower.wait_caught_up()
        current = state.ledger.books.account(tenant, True).balance(venue, asset)
        delta = target - current
        if delta:
            command = SetSandboxBalance(
                event_id=command_id("set_position", tenant, venue, asset, rid, str(current), str(target)),
                ts_ns=time.time_ns(), tenant=tenant, venue=venue, asset=asset, delta_qty_1e8=delta,
            )
            await _folded(state, await apply_sandbox_command(state, command, "the sandbox position"))
    return {"venue": venue, "asset": asset, "qty_1e8": target, "delta_qty_1e8": delta, "as_of_ns": time.time_ns()}
