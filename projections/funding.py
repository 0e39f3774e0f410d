"""Perp funding as the API reads it: the latest published rate per (venue, perp symbol).

A fold of `FundingRateUpdated` from the MD stream, in memory like the books (rebuilt on start
from what the MD stream retains). History is read from MD itself (GET /v1/funding_history)."""

from __future__ import annotations

from dataclasses import dataclass, field

from events.market import FundingRateUpdated
from events.venues import venue_id


@dataclass
class FundingRates:
    latest: dict[tuple[str, str], FundingRateUpdated] = field(default_factory=dict)

    def apply(self, event: object, seq: int = 0) -> None:  # any MD event (object: isinstance narrows it)
        if isinstance(event, FundingRateUpdated):
            # An old perp edge's id (binance_usdm) is its exchange's: one row per (venue, perp).
            self.latest[(venue_id(event.venue), event.symbol)] = event
