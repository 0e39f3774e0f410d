"""Kraken adapter settings: instrument precisions for the book checksum."""

from __future__ import annotations

import msgspec

# (price_precision, qty_precision) as Kraken's `instrument` channel / AssetPairs report them.
DEFAULT_PRECISIONS: dict[str, tuple[int, int]] = {
    "BTC/USD": (1, 8),
    "ETH/USD": (2, 8),
}


class KrakenConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Per-symbol precisions and which extra channels to subscribe."""

    precisions: dict[str, tuple[int, int]] = msgspec.field(default_factory=lambda: dict(DEFAULT_PRECISIONS))
    # The instrument snapshot refreshes precisions for every pair (and any we have no row for).
    subscribe_instrument: bool = True
    subscribe_trades: bool = True
