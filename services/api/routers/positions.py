"""Positions and balances: GET /v1/positions/unified, /v1/positions, /v1/positions/perp, /v1/balances.

Reads the durable `positions` view (projections/positions.py, kept by the runner the API
lifespan starts) and marks it to the consolidated NBBO mid. The view lags the stream by one
batch at most: a caller that needs an order's fills reflected waits on `ApiState.positions`
(`await runner.wait_for(seq)`), as the tests do.

Rows: one per fill-built position (kind crypto, perp or event_contract) plus one `fiat` row per
cash balance (USD and stablecoins, valued 1:1). Paper-funded coins that no fill touched show in
/v1/balances, not as positions, so the NAV here is cash plus what was traded.

Locks: what open orders hold on a (venue, asset) is the risk account's reservation (the API's
ledger view keeps that fold per book, projections/ledger.py); balance rows (/v1/balances and the
`fiat` rows) show it as `locked_qty_1e8`, and `available_qty_1e8 = qty_1e8 - locked_qty_1e8`.
Both views fold the same log; a read first lets the ledger view reach what the balances view
has folded, so a lock is never older than its balance. `available` is not clamped at 0: it is
the risk fold's `available` (balance minus reservations), and a negative figure means the
account holds more than it has, a fault to show rather than hide. (A fill the ledger view has
seen and the balances view not yet shows briefly as more available, never as less.)
Position rows keep `locked_qty_1e8: 0`: a hold is per (venue, asset), shared by every symbol
with that asset and by funded coins outside the position, so it is shown on the balance row.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from projections.market import MarketBooks
from events.venues import instrument_type_of
from projections.positions import NAME, entry_price_usd_1e9
from projections.store import Doc, ViewStore
from services.api.access import AuthContext
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.market_catalog import MarketCatalog
from events import new_event_id
from events.commands import SyncPositions
from services.api.commands import append_command, await_kernel
from services.api.routers.orders import VIEW_WAIT_S
from services.edges.live.venues import ORDERS as LIVE_VENUES
from services.api.state import ApiState, get_state
from services.risk.money import QTY_ONE, notional_usd_1e9

router = APIRouter(prefix="/v1", tags=["positions"])
State = Annotated[ApiState, Depends(get_state)]

CASH_ASSETS = frozenset({"USD", "USDT", "USDC", "FDUSD", "DAI", "EUR"})  # valued 1:1 in USD
KINDS = ("fiat", "crypto", "perp", "event_contract")
_ONE_USD_1E9 = 10**9


def view_scope(auth: AuthContext) -> str:
    """The key prefix of the caller's rows in the view: the one place deciding whose positions a
    request sees. A seq_test_ key sees its tenant's sandbox book only, a live key both books."""
    return f"{auth.tenant}/sandbox/" if auth.is_sandbox else f"{auth.tenant}/"


def _csv(value: str | None) -> set[str] | None:
    if not value:
        return None
    return {v.strip() for v in value.split(",") if v.strip()} or None


def _mid_1e9(market: MarketBooks, symbol: str) -> int | None:
    nbbo = market.nbbo(symbol)
    if nbbo is None or not nbbo.bid_px_1e9 or not nbbo.ask_px_1e9:
        return None
    return (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2  # the same mid /v1/quotes shows


def _usd_mark_1e9(market: MarketBooks, asset: str) -> int | None:
    """A coin's USD price: 1 for cash, else the mid of its first quoted USD pair."""
    if asset in CASH_ASSETS:
        return _ONE_USD_1E9
    for quote in ("USDT", "USD", "USDC"):
        mid = _mid_1e9(market, f"{asset}-{quote}")
        if mid is not None:
            return mid
    return None


async def _scan(store: ViewStore, collection: str, prefix: str) -> list[tuple[str, Doc]]:
    # Store reads are blocking (PostgreSQL round trips): keep them off the event loop.
    return await asyncio.to_thread(lambda: list(store.scan(NAME, collection, prefix)))


def _row_id(key: str) -> str:
    return key.split("/", 1)[1]  # `<sandbox|live>/<venue>/<symbol|asset>`: unique per caller


def _position_row(key: str, doc: Doc, market: MarketBooks, markets: MarketCatalog | None) -> dict[str, Any]:
    qty, basis = doc["qty_1e8"], doc["basis_usd_1e9"]
    entry = entry_price_usd_1e9(qty, basis)
    kind = doc["kind"]
    # A resolved market's contract is worth its payout ($1 or $0), whatever its book says.
    listed = markets.of_token(doc["venue"], doc["symbol"]) if markets is not None and kind == "event_contract" else None
    settled_mark = listed.settled_mark_1e9(doc["symbol"]) if listed is not None else None
    mid = _mid_1e9(market, doc["symbol"]) if settled_mark is None else settled_mark
    # Without a usable book the position is marked at cost (no invented PnL).
    price = mid if mid is not None else entry
    value = notional_usd_1e9(price, qty)  # signed: a short is worth minus its mark
    return {
        "id": _row_id(key),
        "venue": doc["venue"],
        "instrument": {"kind": kind, "symbol": doc["symbol"], "type": instrument_type_of(doc["venue"], doc["symbol"])},
        "qty_1e8": qty,
        "locked_qty_1e8": 0,  # holds are per (venue, asset): see the module doc
        "available_qty_1e8": qty,
        "entry_price_usd_1e9": entry,
        "current_price_usd_1e9": price,
        "current_value_usd_1e9": value,
        "unrealized_pnl_usd_1e9": value - basis if qty else 0,
        "realized_pnl_usd_1e9": doc["realized_pnl_usd_1e9"],
        "fees_usd_1e9": doc["fees_usd_1e9"],
        "lifecycle": {"state": _lifecycle(qty, settled_mark, doc.get("redeemed_qty_1e8", 0))},
        "transferable": kind == "crypto",
        "settled": settled_mark is not None,
        "settled_mark_usd_1e9": settled_mark,
        "is_sandbox": doc["is_sandbox"],
    }


def _lifecycle(qty_1e8: int, settled_mark: int | None, redeemed_qty_1e8: int) -> str:
    if qty_1e8:
        return "active" if settled_mark is None else "resolved"  # resolved: held until redeemed
    return "redeemed" if redeemed_qty_1e8 else "closed"


def _locked(state: ApiState, key: str, doc: Doc) -> int:
    tenant = key.split("/", 1)[0]  # keys are `<tenant>/<sandbox|live>/<venue>/<asset>`
    return state.ledger.locked_qty_1e8(tenant, doc["is_sandbox"], doc["venue"], doc["asset"])


async def _locks_cover_balances(state: ApiState) -> None:
    """Wait until the ledger view (locks) has folded everything the balances view has."""
    try:
        await state.ledger_follower.wait_for(state.positions.position, timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the ledger view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc


def _cash_row(key: str, doc: Doc, locked: int) -> dict[str, Any]:
    qty = doc["qty_1e8"]
    return {
        "id": _row_id(key),
        "venue": doc["venue"],
        "instrument": {"kind": "fiat", "symbol": doc["asset"]},
        "qty_1e8": qty,
        "locked_qty_1e8": locked,
        "available_qty_1e8": qty - locked,
        "entry_price_usd_1e9": _ONE_USD_1E9,
        "current_price_usd_1e9": _ONE_USD_1E9,
        "current_value_usd_1e9": qty * 10,  # qty_1e8 of a 1 USD asset -> usd_1e9
        "unrealized_pnl_usd_1e9": 0,
        "realized_pnl_usd_1e9": 0,
        "fees_usd_1e9": 0,
        "lifecycle": {"state": "active" if qty else "closed"},
        "transferable": True,
        "settled": False,
        "settled_mark_usd_1e9": None,
        "is_sandbox": doc["is_sandbox"],
    }


async def unified(
    state: ApiState, scope: str, venues: str | None, kinds: str | None, include_closed: bool
) -> dict[str, Any]:
    positions = await _scan(state.views, "positions", scope)
    balances = await _scan(state.views, "balances", scope)
    await _locks_cover_balances(state)
    rows = [_position_row(k, d, state.market, state.markets) for k, d in positions]
    rows += [_cash_row(k, d, _locked(state, k, d)) for k, d in balances if d["asset"] in CASH_ASSETS]
    want_venues, want_kinds = _csv(venues), _csv(kinds)
    unknown = sorted((want_kinds or set()) - set(KINDS))
    if unknown:
        raise ApiError(400, f"unknown kinds {unknown}; use {', '.join(KINDS)}", code="INVALID_PARAMS")
    rows = [
        r
        for r in rows
        if (want_venues is None or r["venue"] in want_venues)
        and (want_kinds is None or r["instrument"]["kind"] in want_kinds)
        and (include_closed or r["lifecycle"]["state"] not in ("closed", "redeemed"))
    ]
    return {"positions": rows, "totals": totals(rows), "as_of_ns": time.time_ns()}


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    def total(kind: str, field: str) -> int:
        return sum(r[field] for r in rows if r["instrument"]["kind"] == kind)

    cash = total("fiat", "current_value_usd_1e9")
    crypto = total("crypto", "current_value_usd_1e9")
    perp_upnl = total("perp", "unrealized_pnl_usd_1e9")
    events = total("event_contract", "current_value_usd_1e9")
    return {
        # A perp's notional is not owned: only its unrealized PnL counts toward NAV.
        "nav_usd_1e9": cash + crypto + perp_upnl + events,
        "cash_usd_1e9": cash,
        "crypto_usd_1e9": crypto,
        "perp_unrealized_pnl_usd_1e9": perp_upnl,
        "event_contract_usd_1e9": events,
        "unrealized_pnl_usd_1e9": sum(r["unrealized_pnl_usd_1e9"] for r in rows),
        "realized_pnl_usd_1e9": sum(r["realized_pnl_usd_1e9"] for r in rows),
        "fees_usd_1e9": sum(r["fees_usd_1e9"] for r in rows),
    }


@router.get("/positions/unified")
async def positions_unified(
    state: State, auth: Auth, venues: str | None = None, kinds: str | None = None, include_closed: bool = False
) -> dict[str, Any]:
    return await unified(state, view_scope(auth), venues, kinds, include_closed)


@router.get("/positions")
async def positions(
    state: State, auth: Auth, venues: str | None = None, kinds: str | None = None, include_closed: bool = False
) -> dict[str, Any]:
    # The docs make this the unified endpoint: same shape (the SDK never parses it).
    return await unified(state, view_scope(auth), venues, kinds, include_closed)


@router.get("/positions/perp")
async def perp_positions(state: State, auth: Auth, venues: str | None = None) -> dict[str, Any]:
    return await unified(state, view_scope(auth), venues, "perp", False)


@router.get("/balances")
async def balances(state: State, auth: Auth) -> dict[str, Any]:
    rows = []
    docs = await _scan(state.views, "balances", view_scope(auth))
    await _locks_cover_balances(state)
    for key, doc in docs:
        qty, locked = doc["qty_1e8"], _locked(state, key, doc)
        mark = _usd_mark_1e9(state.market, doc["asset"])
        rows.append(
            {
                "venue": doc["venue"],
                "asset": doc["asset"],
                "qty_1e8": qty,
                "available_qty_1e8": qty - locked,  # not clamped: see the module doc
                "locked_qty_1e8": locked,
                # value rounds down (a value we would receive); 0 when no USD pair is quoted
                "value_usd_1e9": 0 if mark is None else mark * qty // QTY_ONE,
                "is_sandbox": doc["is_sandbox"],
            }
        )
    return {"balances": rows, "as_of_ns": time.time_ns()}


@router.post("/positions/sync")
async def sync_positions(state: State, auth: Auth) -> dict[str, Any]:
    """Reconcile the caller's live venue accounts now: the live executor looks up every working
    order, appends the fills and ends the ledger lacks and moves balances to the venue's; the
    answer is what it did per venue. A sandbox key has nothing at a venue to sync."""
    if auth.is_sandbox:
        return {"mode": "sandbox", "venues": []}
    if not state.settings.live_orders:
        raise ApiError(403, "live trading is not enabled on this server (CROSSBOOK_LIVE_ORDERS=1): nothing to sync",
                       code="FORBIDDEN")
    await state.ledger_follower.wait_caught_up()
    venues = sorted(v for v in state.ledger.connected.get(auth.tenant, set()) if v in LIVE_VENUES)
    if not venues:
        return {"mode": "live", "venues": []}
    command = SyncPositions(event_id=new_event_id(), ts_ns=time.time_ns(), tenant=auth.tenant, venues=venues)
    await append_command(state, command)

    def answered() -> bool:
        return {e.venue for e in state.ledger.reconciled.get(command.event_id, [])} >= set(venues)

    await await_kernel(state, answered, "position sync (is the live executor running?)")
    rows = {e.venue: e for e in state.ledger.reconciled[command.event_id]}
    return {"mode": "live", "venues": [
        {"venue": v, "orders_checked": rows[v].orders_checked, "orders_resolved": rows[v].orders_resolved,
         "fills_added": rows[v].fills_added, "balances_adjusted": rows[v].balances_adjusted,
         "open_at_venue": rows[v].open_at_venue}
        for v in venues
    ]}
