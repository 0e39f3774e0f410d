"""Coinbase adapter settings."""

from __future__ import annotations

import msgspec


class CoinbaseConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What to subscribe besides level2, and how to read `market_trades.side`."""

    subscribe_trades: bool = True
    # Real-frame authors read `side` as the MAKER's side (aggressor = opposite), as on the old
    # Exchange feed; the REST schema calls it the taker side. Unverified: flip here if wrong.
    trade_side_is_maker: bool = True
