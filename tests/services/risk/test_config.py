"""Risk limits and instrument rules (services/risk/config.py)."""

from __future__ import annotations

import msgspec
import pytest

from services.errors import ConfigError
from services.risk.config import InstrumentRules, RiskLimits, assets_of, rules_book
from tests.services.risk.factory import BINANCE, OKX, RULES


def test_defaults_are_generous_and_enabled() -> None:
    limits = RiskLimits()
    assert limits.max_order_notional_usd_1e9 == 10_000_000 * 10**9
    assert limits.max_position_usd_1e9 == 100_000_000 * 10**9
    assert limits.daily_loss_limit_usd_1e9 == 1_000_000 * 10**9
    assert limits.max_open_orders == 500
    assert limits.max_position_qty_1e8 == {}


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match="max_orders"):
        msgspec.json.decode(b'{"max_orders": 3}', type=RiskLimits)


def test_negative_limit_names_field_and_value() -> None:
    with pytest.raises(ConfigError, match=r"max_open_orders must be >= 0, got -1"):
        RiskLimits(max_open_orders=-1)


def test_zero_tick_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"tick_1e9 for ETH-USDT on okx must be > 0, got 0"):
        InstrumentRules(
            venue="okx", symbol="ETH-USDT", base_asset="ETH", quote_asset="USDT", tick_1e9=0, lot_1e8=1
        )


def test_rules_book_indexes_by_venue_then_symbol_and_refuses_duplicates() -> None:
    assert RULES == {"okx": {"BTC-USDT": OKX}, "binance": {"BTC-USDT": BINANCE}}
    with pytest.raises(ConfigError, match="BTC-USDT on okx given twice"):
        rules_book([OKX, OKX])


def test_assets_come_from_rules_or_the_canonical_name() -> None:
    assert assets_of(RULES, "okx", "BTC-USDT") == ("BTC", "USDT")
    assert assets_of(RULES, "kraken", "ETH-USD") == ("ETH", "USD")
    with pytest.raises(ConfigError, match="no instrument rules for WEIRD on kraken"):
        assets_of(RULES, "kraken", "WEIRD")
