"""What the API process holds: the bus and the in-memory market projection."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from projections.follower import StreamFollower
from projections.market import MarketBooks
from services.bus import Bus
from services.settings import Settings


@dataclass
class ApiState:
    settings: Settings
    bus: Bus
    market: MarketBooks
    md_follower: StreamFollower


def get_state(request: Request) -> ApiState:
    return request.app.state.api  # type: ignore[no-any-return]
