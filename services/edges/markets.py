"""The prediction markets behind the local venue servers' contracts, as `MarketListed` events.

A prediction edge announces the markets it streams when it starts (services/edges/runtime.py);
the API seeds its market catalogue with the same listings when it runs against the sims. Ids
derive from venue and slug, so a repeated announcement is one message (JetStream dedup window)
and one row (readers key on venue and slug)."""

from __future__ import annotations

from typing import Required, TypedDict, Unpack

from events.ids import derive_id
from events.market import MarketListed, MarketResolved
from services.edges.polymarket.sim import CONDITION_ID, NO_TOKEN, YES_TOKEN
from services.edges.venue import MarketNotice

PREDICTION_VENUES = ("kalshi", "polymarket")

_S = 1_000_000_000


class Listing(TypedDict, total=False):
    """A `MarketListed` but for the envelope and venue: what the venue's market metadata would say."""

    slug: Required[str]
    question: Required[str]
    venue_event_id: Required[str]
    outcomes: Required[list[str]]
    outcome_token_ids: Required[list[str]]
    condition_id: str
    neg_risk: bool
    start_ns: int
    end_ns: int
    url: str
    resolution_source: str


SIM_LISTINGS: dict[str, list[Listing]] = {
    "kalshi": [
        dict(
            slug="KXHIGHNY-26JUN24-T82",
            question="Will the high temperature in New York City be above 82°F on Jun 24, 2026?",
            venue_event_id="KXHIGHNY-26JUN24",
            outcomes=["Yes", "No"],
            outcome_token_ids=["KXHIGHNY-26JUN24-T82:YES", "KXHIGHNY-26JUN24-T82:NO"],
            start_ns=1_782_223_200 * _S,  # 2026-06-23T14:00:00Z
            end_ns=1_782_345_599 * _S,  # 2026-06-24T23:59:59Z
            url="https://kalshi.com/markets/kxhighny",
            resolution_source="National Weather Service, Central Park daily climate report",
        ),
    ],
    "polymarket": [
        dict(
            slug="crossbook-sim-yes-or-no",
            question="Crossbook sim market: will YES win?",
            venue_event_id=CONDITION_ID,
            condition_id=CONDITION_ID,
            outcomes=["Yes", "No"],
            outcome_token_ids=[YES_TOKEN, NO_TOKEN],
            start_ns=1_767_225_600 * _S,  # 2026-01-01T00:00:00Z
            end_ns=1_830_297_600 * _S,  # 2028-01-01T00:00:00Z
            url="https://polymarket.com/event/crossbook-sim-yes-or-no",
            resolution_source="Crossbook local venue server",
        ),
    ],
}


def listed_event(venue: str, now_ns: int, **fields: Unpack[Listing]) -> MarketListed:
    """A MarketListed whose id is fixed by venue and slug (an announcement, not a new fact)."""
    return MarketListed(
        event_id=derive_id("market_listed", venue, fields["slug"]), ts_ns=now_ns, venue=venue, **fields
    )


def market_listings(venue: str, symbols: list[str], now_ns: int) -> list[MarketListed]:
    """The known markets of `venue` whose outcome contracts are among `symbols` (canonical)."""
    wanted = set(symbols)
    return [
        listed_event(venue, now_ns, **fields)
        for fields in SIM_LISTINGS.get(venue, [])
        if wanted & set(fields["outcome_token_ids"])
    ]


def sim_listings(now_ns: int) -> list[MarketListed]:
    """Every market the local venue servers trade."""
    return [listed_event(venue, now_ns, **fields) for venue in PREDICTION_VENUES for fields in SIM_LISTINGS[venue]]


def notice_event(venue: str, notice: MarketNotice, now_ns: int) -> MarketListed | MarketResolved:
    """The lifecycle event a venue's notice records. Ids are fixed by venue and slug: a notice
    repeated (a reconnect, Kalshi's `determined` then `settled`) is one event on the bus."""
    if notice.kind == "listed":
        return listed_event(
            venue,
            now_ns,
            slug=notice.slug,
            question=notice.question,
            venue_event_id=notice.venue_event_id,
            outcomes=list(notice.outcomes),
            outcome_token_ids=list(notice.outcome_token_ids),
            condition_id=notice.condition_id,
            start_ns=notice.start_ns,
            end_ns=notice.end_ns,
            url=notice.url,
            resolution_source=notice.resolution_source,
        )
    return MarketResolved(
        event_id=derive_id("market_resolved", venue, notice.slug),
        ts_ns=now_ns,
        venue=venue,
        slug=notice.slug,
        venue_event_id=notice.venue_event_id,
        winning_outcome=notice.winning_outcome,
        winning_token_id=notice.winning_token_id,
        losing_token_id=notice.losing_token_id,
        outcome_source=venue,
        ts_event_ns=notice.ts_event_ns,
    )
