"""Polymarket liquidity-rewards programs: which tokens pay makers for resting near the midpoint.

A program is reference data the venue publishes per market (its CLOB's rewards config:
`rewards_min_size` shares, `rewards_max_spread` cents from the midpoint, a daily USDC rate per
market, an end date). The local venue server's market runs one (below); against the live venue
the list would come from polling the CLOB's rewards endpoint, which is not wired yet, so it is
empty there."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from services.edges.polymarket.sim import CONDITION_ID, NO_TOKEN, YES_TOKEN


@dataclass(frozen=True, slots=True)
class RewardProgram:
    token_id: str
    condition_id: str
    min_size: Decimal  # shares a resting order needs to qualify
    max_spread_cents: Decimal  # qualifying distance from the midpoint, in cents
    rate_per_day_usdc: Decimal  # paid per day across the market's qualifying makers
    end_unix_s: int


_SIM_END_S = 1_830_297_600  # 2028-01-01T00:00:00Z, the sim market's end

SIM_REWARD_PROGRAMS = (
    RewardProgram(YES_TOKEN, CONDITION_ID, Decimal(100), Decimal("3.5"), Decimal(25), _SIM_END_S),
    RewardProgram(NO_TOKEN, CONDITION_ID, Decimal(100), Decimal("3.5"), Decimal(25), _SIM_END_S),
)
