"""services/edges/sandbox/balances.py: the paper funding plan and exact resets."""

from __future__ import annotations

import pytest

from services.edges.sandbox.balances import FundingPlan, Grant, paper_funding, reset_deltas
from services.edges.sandbox.errors import SandboxError

Q = 10**8
BILLION = 1_000_000_000 * Q


def test_default_plan_funds_quotes_everywhere_and_coins_only_on_crypto_venues() -> None:
    # Act
    grants = paper_funding(["okx", "kalshi", "okx"])
    # Assert: sorted by venue, duplicates collapsed, exact amounts.
    assert grants == [
        Grant("kalshi", "USDT", BILLION),
        Grant("kalshi", "USD", BILLION),
        Grant("kalshi", "USDC", BILLION),
        Grant("okx", "USDT", BILLION),
        Grant("okx", "USD", BILLION),
        Grant("okx", "USDC", BILLION),
        Grant("okx", "BTC", 10_000 * Q),
        Grant("okx", "ETH", 100_000 * Q),
    ]


def test_overrides_replace_or_remove_single_balances() -> None:
    plan = FundingPlan(
        quote_assets=("USDT",),
        base_assets=(("BTC", 5 * Q),),
        overrides=(Grant("bybit", "BTC", 0), Grant("bybit", "SOL", 7 * Q)),
    )
    assert paper_funding(["bybit"], plan) == [Grant("bybit", "USDT", BILLION), Grant("bybit", "SOL", 7 * Q)]


def test_reset_gives_exact_deltas_and_zeroes_assets_outside_the_plan() -> None:
    plan = FundingPlan(quote_assets=("USDT",), base_assets=(("BTC", 10 * Q),))
    current = {("okx", "USDT"): BILLION - 250 * Q, ("okx", "BTC"): 10 * Q, ("okx", "DOGE"): 3 * Q, ("kraken", "X"): 1}
    assert reset_deltas(["okx"], current, plan) == [Grant("okx", "USDT", 250 * Q), Grant("okx", "DOGE", -3 * Q)]


def test_negative_amounts_are_refused_with_the_field() -> None:
    with pytest.raises(SandboxError, match=r"base_assets\[BTC\]=-1"):
        FundingPlan(base_assets=(("BTC", -1),))
