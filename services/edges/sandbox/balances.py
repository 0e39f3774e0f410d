"""Paper funding: the balances a sandbox account starts with, per venue and asset.

The executor appends each grant as `events.execution.BalanceAdjusted(reason="paper_funding",
is_sandbox=True)` for the front door's `FundSandbox` command (accounts.py). Grants are deltas: publish `paper_funding` once per tenant, and use
`reset_deltas` (target minus current) for a sandbox reset so a restart never doubles them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from services.edges.sandbox.errors import SandboxError

_QTY = 10**8


@dataclass(frozen=True, slots=True)
class Grant:
    venue: str
    asset: str
    qty_1e8: int


@dataclass(frozen=True, slots=True)
class FundingPlan:
    """Target paper balances. `overrides` set one (venue, asset) exactly; qty 0 removes it."""

    quote_assets: tuple[str, ...] = ("USDT", "USD", "USDC")
    quote_qty_1e8: int = 1_000_000_000 * _QTY  # $1B per quote asset, as the API contract says
    base_assets: tuple[tuple[str, int], ...] = (("BTC", 10_000 * _QTY), ("ETH", 100_000 * _QTY))
    # Prediction markets settle in dollars only; coins there would be meaningless.
    quote_only_venues: frozenset[str] = frozenset({"kalshi", "polymarket"})
    overrides: tuple[Grant, ...] = field(default=())
    # A tenant's own amounts (PUT /v1/sandbox/settings): when set, exactly these assets on every
    # venue, replacing the quote and base defaults; quote-only venues get only its quote assets.
    assets: tuple[tuple[str, int], ...] | None = None

    def __post_init__(self) -> None:
        amounts = [("quote_qty_1e8", self.quote_qty_1e8)]
        amounts += [(f"base_assets[{a}]", q) for a, q in self.base_assets]
        amounts += [(f"overrides[{g.venue}/{g.asset}]", g.qty_1e8) for g in self.overrides]
        amounts += [(f"assets[{a}]", q) for a, q in self.assets or ()]
        for name, qty in amounts:
            if qty < 0:
                raise SandboxError(f"funding {name}={qty} is negative")


def default_funding_plan() -> FundingPlan:
    """Return the generous default: $1B per quote asset, 10,000 BTC and 100,000 ETH."""
    return FundingPlan()


def _targets(venues: Iterable[str], plan: FundingPlan) -> dict[tuple[str, str], int]:
    targets: dict[tuple[str, str], int] = {}
    if plan.assets is not None:
        for venue in sorted(set(venues)):
            for asset, qty in plan.assets:
                if venue not in plan.quote_only_venues or asset in plan.quote_assets:
                    targets[(venue, asset)] = qty
        for g in plan.overrides:
            targets[(g.venue, g.asset)] = g.qty_1e8
        return targets
    for venue in sorted(set(venues)):
        for asset in plan.quote_assets:
            targets[(venue, asset)] = plan.quote_qty_1e8
        if venue not in plan.quote_only_venues:
            for asset, qty in plan.base_assets:
                targets[(venue, asset)] = qty
    for g in plan.overrides:
        targets[(g.venue, g.asset)] = g.qty_1e8
    return targets


def tenant_plan(amounts: Iterable[tuple[str, int]] | None) -> FundingPlan:
    """The plan for a tenant's own (asset, qty_1e8) amounts; None or empty gives the default."""
    chosen = tuple(amounts or ())
    return FundingPlan(assets=chosen) if chosen else default_funding_plan()


def paper_funding(venues: Iterable[str], plan: FundingPlan | None = None) -> list[Grant]:
    """Return the initial grants for `venues`, sorted by venue then plan order."""
    targets = _targets(venues, plan or default_funding_plan())
    return [Grant(v, a, q) for (v, a), q in targets.items() if q > 0]


def reset_deltas(
    venues: Iterable[str], current: Mapping[tuple[str, str], int], plan: FundingPlan | None = None
) -> list[Grant]:
    """Return the adjustments that bring `current` (venue, asset) -> qty_1e8 exactly to the plan.

    Assets held but not in the plan are zeroed; unchanged balances give no grant.
    """
    venue_list = sorted(set(venues))
    targets = _targets(venue_list, plan or default_funding_plan())
    keys = list(targets) + sorted(k for k in current if k not in targets and k[0] in venue_list)
    deltas = [Grant(v, a, targets.get((v, a), 0) - current.get((v, a), 0)) for v, a in keys]
    return [g for g in deltas if g.qty_1e8 != 0]
