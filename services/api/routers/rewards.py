"""GET /v1/polymarket/rewards[/{token_id}] (api_contract.md §4.3): the Polymarket tokens in a
maker-rewards program, each with the spread its book shows now.

Programs come from the venue module (`services.edges.polymarket.rewards`; the local venue
server's in sim mode). `current_spread` is the token's Polymarket book now (ask - bid, in cents
like `rewards_max_spread`; null without a usable two-sided book), and `in_band` says whether a
quote at the midpoint +/- the max spread would sit inside today's book (spread <= 2 x max
spread). 404 for a token without a program."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.edges.polymarket.rewards import SIM_REWARD_PROGRAMS, RewardProgram

router = APIRouter(prefix="/v1/polymarket", tags=["markets"])
State = Annotated[ApiState, Depends(get_state)]

VENUE = "polymarket"


class Reward(BaseModel):
    token_id: str
    condition_id: str
    rewards_min_size: float
    rewards_max_spread: float
    rate_per_day_usdc: float
    current_spread: float | None
    reward_end_unix_s: int
    in_band: bool | None


def programs(state: ApiState) -> tuple[RewardProgram, ...]:
    return SIM_REWARD_PROGRAMS if state.settings.market == "sim" else ()


def _spread_cents(state: ApiState, token_id: str) -> Decimal | None:
    book = state.market.books.get((VENUE, token_id))
    if book is None or not book.usable:
        return None
    bid, ask = book.best_bid(), book.best_ask()
    if bid is None or ask is None:
        return None
    return Decimal(ask[0] - bid[0]).scaleb(-7)  # px_1e9 dollars -> cents


def reward_row(state: ApiState, program: RewardProgram) -> dict[str, Any]:
    spread = _spread_cents(state, program.token_id)
    return {
        "token_id": program.token_id,
        "condition_id": program.condition_id,
        "rewards_min_size": float(program.min_size),
        "rewards_max_spread": float(program.max_spread_cents),
        "rate_per_day_usdc": float(program.rate_per_day_usdc),
        "current_spread": None if spread is None else float(spread),
        "reward_end_unix_s": program.end_unix_s,
        "in_band": None if spread is None else spread <= 2 * program.max_spread_cents,
    }


@router.get("/rewards", response_model=list[Reward])
async def rewards(state: State) -> list[dict[str, Any]]:
    return [reward_row(state, p) for p in programs(state)]


@router.get("/rewards/{token_id}", response_model=Reward)
async def reward(token_id: str, state: State) -> dict[str, Any]:
    for program in programs(state):
        if program.token_id == token_id:
            return reward_row(state, program)
    raise ApiError(404, f"token {token_id!r} is in no Polymarket rewards program", code="NOT_FOUND",
                   details=[{"field": "token_id", "message": "no rewards program"}])
