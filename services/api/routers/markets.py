"""Prediction-market discovery: GET /v1/markets and GET /v1/settlement/{slug}.

Rows come from the market catalogue (services/api/market_catalog.py) with prices from the live
books. Pages keep the catalogue's listing order; the cursor is the opaque offset of the next
page, so `iter_markets` walks every market once. Tag filters (`tag`, `tag_id`, `related_tags`,
`exclude_tag_id`) are accepted and match everything: listings carry no tags.

POST /v1/markets/{slug}/redeem pays out the caller's positions in a resolved market. The sandbox
book settles against the resolution: a `RedeemPositions` command, for which the sandbox
executor appends one `PositionRedeemed` per held contract (the winner at $1, the loser at $0),
answered once the positions view shows it. A live book has no redemption
transport here: Kalshi pays out on its own side (`auto_settled`, nothing sent); Polymarket's
on-chain redemption (CTF `redeemPositions` through the relayer) answers 501."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from events.commands import RedeemPositions, Redemption
from projections.positions import NAME as POSITIONS
from services.api.auth import Auth, AuthContext
from services.api.commands import apply_sandbox_command
from services.api.errors import ApiError
from services.api.market_catalog import (
    ONE_DOLLAR_1E9,
    Entry,
    MarketCatalog,
    best_prices,
    catalog_lifespan,
    market_row,
    slug_of,
)
from services.api.routers.orders import VIEW_WAIT_S
from services.api.routers.positions import view_scope
from services.api.state import ApiState, get_state
from services.api.units import px
from services.edges.markets import PREDICTION_VENUES
from services.edges.sandbox.accounts import command_id
from services.risk.money import notional_usd_1e9

router = APIRouter(prefix="/v1", tags=["markets"], lifespan=catalog_lifespan)
State = Annotated[ApiState, Depends(get_state)]

MAX_PAGE = 500  # the SDK clamps to 1..500 as well


async def get_catalog(request: Request) -> MarketCatalog:
    catalog: MarketCatalog = request.app.state.markets
    return await catalog.caught_up()


Catalog = Annotated[MarketCatalog, Depends(get_catalog)]


def _matches(entry: Entry, q: str | None, slug: str | None, clob_token_id: str | None) -> bool:
    m = entry.listing
    if slug and m.slug.lower() != slug.lower():
        return False
    if clob_token_id and clob_token_id not in m.outcome_token_ids:
        return False
    return not q or q.lower() in f"{m.question}\n{m.slug}".lower()


def _expand_outcomes(row: dict[str, Any]) -> dict[str, Any]:
    # Our markets are binary: each one is already its own (YES) outcome row.
    outcome = row["outcomes"][0] if row["outcomes"] else ""
    return {
        **row,
        "parent_event_id": row["event_id"],
        "parent_slug": row["slug"],
        "outcome_name": outcome,
        "raw_outcome_name": outcome,
        "is_placeholder_outcome": False,
        "outcome_index": 0,
    }


@router.get("/markets")
async def markets(
    state: State,
    catalog: Catalog,
    venue: str = "polymarket",
    limit: int = 20,
    active: bool = True,
    closed: bool = False,
    q: str | None = None,
    slug: str | None = None,
    clob_token_id: str | None = None,
    tag: str | None = None,
    tag_id: int | None = None,
    related_tags: bool = False,
    exclude_tag_id: int | None = None,
    cursor: str | None = None,
    expand: str | None = None,
) -> dict[str, Any]:
    if venue not in PREDICTION_VENUES:
        raise ApiError(
            400, f"venue {venue!r} lists no prediction markets; use one of: {', '.join(PREDICTION_VENUES)}",
            code="INVALID_PARAMS",
        )
    if cursor and not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise ApiError(400, f"cursor {cursor[:64]!r} is not one this server returned as next_cursor", code="INVALID_PARAMS")
    start = int(cursor) if cursor else 0
    size = max(1, min(limit, MAX_PAGE))
    # Resolved markets are listed with closed=true, or with active=false (the SDK's token lookup
    # sends that so settlement reconciliation finds them).
    with_resolved = closed or not active
    found = [
        e for e in catalog.of_venue(venue)
        if (with_resolved or e.resolution is None) and _matches(e, q, slug, clob_token_id)
    ]
    page = found[start : start + size]
    rows = [market_row(e, state.market) for e in page]
    if expand and "outcomes" in expand.split(","):
        rows = [_expand_outcomes(r) for r in rows]
    more = start + size < len(found)
    return {
        "markets": rows,
        "count": len(rows),
        "venue": venue,
        "has_more": more,
        "next_cursor": str(start + size) if more else None,
    }


@router.get("/settlement/{slug:path}")
async def settlement(slug: str, state: State, catalog: Catalog, underlying: bool = False) -> dict[str, Any]:
    entry = catalog.by_slug(slug_of(slug))
    if entry is None:
        raise ApiError(404, f"unknown market {slug!r}: no venue lists that slug", code="NOT_FOUND")
    m, resolved = entry.listing, entry.resolution
    if resolved is not None:
        yes_1e9 = ONE_DOLLAR_1E9 if resolved.winning_token_id == entry.yes_token_id else 0
        yes_price: float | None = px(yes_1e9)
        no_price: float | None = px(ONE_DOLLAR_1E9 - yes_1e9)
    else:
        yes_price, no_price = _mid(state, m.venue, entry.yes_token_id), _mid(state, m.venue, entry.no_token_id)
    return {
        "slug": m.slug,
        "venue": m.venue,
        "question": m.question,
        "yes_token_id": entry.yes_token_id,
        "no_token_id": entry.no_token_id,
        "condition_id": m.condition_id or None,
        "neg_risk": m.neg_risk,
        "status": "resolved" if resolved else "open",
        "resolved_outcome": resolved.winning_outcome if resolved else None,
        "outcome_source": (resolved.outcome_source or m.venue) if resolved else None,
        "yes_price": yes_price,
        "no_price": no_price,
        "event_start_s": m.start_ns // 1_000_000_000 if m.start_ns else None,
        "event_end_s": m.end_ns // 1_000_000_000 if m.end_ns else None,
        "resolution_source": m.resolution_source or None,
        # No on-chain underlying feed is reconstructed here: `underlying=true` answers null too.
        "underlying": None,
    }


def _mid(state: ApiState, venue: str, symbol: str) -> float | None:
    bid, ask = best_prices(state.market, venue, symbol)
    return None if bid is None or ask is None else px((bid + ask) // 2)


@router.post("/markets/{slug:path}/redeem")
async def redeem(slug: str, state: State, auth: Auth, catalog: Catalog, venue: str | None = None) -> dict[str, Any]:
    if venue not in PREDICTION_VENUES:
        raise ApiError(
            400, f"venue must be one of: {', '.join(PREDICTION_VENUES)} (was {venue!r})", code="INVALID_PARAMS"
        )
    entry = catalog.entries.get((venue, slug_of(slug)))
    if entry is None:
        raise ApiError(404, f"unknown market {slug!r} on {venue}", code="NOT_FOUND")
    resolution, m = entry.resolution, entry.listing
    if resolution is None:
        raise ApiError(409, f"market {m.slug!r} on {venue} has not resolved: nothing to redeem yet", code="CONFLICT")
    held = await _held(state, auth, venue, m.outcome_token_ids)
    answer: dict[str, Any] = {
        "venue": venue,
        "slug": m.slug,
        "condition_id": m.condition_id or None,
        "token_ids": list(m.outcome_token_ids) if venue == "polymarket" else None,
    }
    if any(not doc["is_sandbox"] for doc in held):
        if venue == "polymarket":
            raise ApiError(
                501, "live Polymarket redemption (CTF redeemPositions through the relayer) is not available "
                "in this server; redeem on polymarket.com", code="NOT_IMPLEMENTED",
            )
        note = "Kalshi pays resolved positions out on its own side; nothing was sent"
        return {**answer, "mode": "auto_settled", "note": note, "redeemed": []}
    if not held:
        return {**answer, "mode": "noop", "note": f"no open position in {m.slug}", "redeemed": []}
    redemptions = [
        Redemption(venue=venue, symbol=doc["symbol"], slug=m.slug, qty_1e8=doc["qty_1e8"],
                   settle_px_1e9=entry.settled_mark_1e9(doc["symbol"]) or 0)
        for doc in held
    ]
    # The sandbox executor pays them out (PositionRedeemed); the answer waits for the views.
    command = RedeemPositions(
        event_id=command_id("redeem", auth.tenant, venue, m.slug, *(f"{r.symbol}:{r.qty_1e8}" for r in redemptions)),
        ts_ns=time.time_ns(), tenant=auth.tenant, causation_id=resolution.event_id, redemptions=redemptions,
    )
    await _view_at(state, await apply_sandbox_command(state, command, f"the redemption of {m.slug}"))
    payouts = [notional_usd_1e9(r.settle_px_1e9, r.qty_1e8) for r in redemptions]
    rows = [
        {"symbol": r.symbol, "qty_1e8": r.qty_1e8, "settle_px_1e9": r.settle_px_1e9, "payout_usd_1e9": paid}
        for r, paid in zip(redemptions, payouts, strict=True)
    ]
    paid = sum(payouts)
    note = f"sandbox: settled against the resolution ({resolution.winning_outcome} won), paid ${paid / 1e9:,.2f}"
    return {**answer, "mode": "auto_settled", "note": note, "redeemed": rows}


async def _held(state: ApiState, auth: AuthContext, venue: str, tokens: list[str]) -> list[dict[str, Any]]:
    """The caller's open positions in these contracts, once the view has every fill so far."""
    await state.ledger_follower.wait_caught_up()
    await _view_at(state, state.ledger_follower.position)
    scope = view_scope(auth)
    docs = await asyncio.to_thread(lambda: list(state.views.scan(POSITIONS, "positions", scope)))
    return [d for _, d in docs if d["venue"] == venue and d["symbol"] in tokens and d["qty_1e8"] > 0]


async def _view_at(state: ApiState, seq: int) -> None:
    try:
        await state.positions.wait_for(seq, timeout=VIEW_WAIT_S)
    except TimeoutError as exc:
        raise ApiError(503, "the positions view is catching up; retry shortly", code="SERVICE_UNAVAILABLE") from exc
