"""What the API process holds: the bus, the in-memory projections and the API key store."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from projections.follower import StreamFollower
from projections.ledger import LedgerView
from projections.market import MarketBooks
from projections.runner import ProjectionRunner
from projections.store import ViewStore
from services.api.keys import KeyStore
from services.api.ratelimit import RateLimiter
from services.bus import Bus
from services.settings import Settings


@dataclass
class ApiState:
    settings: Settings
    bus: Bus
    market: MarketBooks
    md_follower: StreamFollower
    ledger: LedgerView
    ledger_follower: StreamFollower
    sandbox_venues: list[str]
    keys: KeyStore
    views: ViewStore  # durable read models (SQLite or PostgreSQL)
    positions: ProjectionRunner  # folds balances and positions into `views`
    limiter: RateLimiter


def get_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]
