"""Risk limits per tenant and trading rules per (venue, symbol).

Both are strict frozen Structs (unknown fields are refused when decoded). A limit set to `None`
is switched off. Defaults are generous sandbox values (the sandbox pays with $1B per quote asset).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from services.risk.errors import RiskConfigError

_USD = 10**9  # one USD in usd_1e9


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-tenant pre-trade limits (USD_1e9, qty_1e8, ppm)."""

    max_order_notional_usd_1e9: int | None = 10_000_000 * _USD
    max_position_usd_1e9: int | None = 100_000_000 * _USD  # |net position| x mark, per symbol
    max_position_qty_1e8: dict[str, int] = msgspec.field(default_factory=dict)  # symbol -> |net| cap
    daily_loss_limit_usd_1e9: int | None = 1_000_000 * _USD  # realised, per UTC day
    max_open_orders: int | None = 500
    market_collar_ppm: int = 50_000  # a market buy reserves at mark + 5%
    max_price_deviation_ppm: int | None = None  # aggressive limit vs mark; None = unchecked

    def __post_init__(self) -> None:
        for name in (
            "max_order_notional_usd_1e9",
            "max_position_usd_1e9",
            "daily_loss_limit_usd_1e9",
            "max_open_orders",
            "max_price_deviation_ppm",
        ):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise RiskConfigError(f"risk limit {name} must be >= 0, got {value}")
        if self.market_collar_ppm < 0:
            raise RiskConfigError(f"risk limit market_collar_ppm must be >= 0, got {self.market_collar_ppm}")
        for symbol, cap in self.max_position_qty_1e8.items():
            if cap < 0:
                raise RiskConfigError(f"risk limit max_position_qty_1e8[{symbol!r}] must be >= 0, got {cap}")


class InstrumentRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How one venue trades one canonical symbol: grid, minimums, assets and the fee to reserve."""

    venue: str
    symbol: str
    base_asset: str
    quote_asset: str
    tick_1e9: int
    lot_1e8: int
    min_qty_1e8: int = 0
    min_notional_usd_1e9: int = 0
    fee_ppm: int = 10_000  # worst-case taker fee reserved on buys (1%); real fees come with fills

    def __post_init__(self) -> None:
        where = f"{self.symbol} on {self.venue}"
        if self.tick_1e9 <= 0:
            raise RiskConfigError(f"tick_1e9 for {where} must be > 0, got {self.tick_1e9}")
        if self.lot_1e8 <= 0:
            raise RiskConfigError(f"lot_1e8 for {where} must be > 0, got {self.lot_1e8}")
        for name in ("min_qty_1e8", "min_notional_usd_1e9", "fee_ppm"):
            value = getattr(self, name)
            if value < 0:
                raise RiskConfigError(f"{name} for {where} must be >= 0, got {value}")
        if not self.base_asset or not self.quote_asset:
            raise RiskConfigError(f"base_asset and quote_asset for {where} must be set")


# venue -> canonical symbol -> rules
RulesBook = Mapping[str, Mapping[str, InstrumentRules]]


def rules_book(rules: Iterable[InstrumentRules]) -> dict[str, dict[str, InstrumentRules]]:
    """Index instrument rules by venue then symbol; refuse a (venue, symbol) given twice."""
    book: dict[str, dict[str, InstrumentRules]] = {}
    for rule in rules:
        per_venue = book.setdefault(rule.venue, {})
        if rule.symbol in per_venue:
            raise RiskConfigError(f"instrument rules for {rule.symbol} on {rule.venue} given twice")
        per_venue[rule.symbol] = rule
    return book


def assets_of(book: RulesBook, venue: str, symbol: str) -> tuple[str, str]:
    """Return (base, quote) for a symbol: from the rules, else from the canonical name `BASE-QUOTE`."""
    rule = book.get(venue, {}).get(symbol)
    if rule is not None:
        return rule.base_asset, rule.quote_asset
    # A fill is a fact even on an instrument we have no rules for: it must still move balances.
    parts = symbol.split("-")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise RiskConfigError(f"no instrument rules for {symbol} on {venue} and the name is not BASE-QUOTE")
    return parts[0], parts[1]
