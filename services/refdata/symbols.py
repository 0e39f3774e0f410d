"""Canonical symbol spelling: which part is the base asset and which the quote."""

from __future__ import annotations


def split_symbol(symbol: str) -> tuple[str, str]:
    """Base and quote asset of a canonical symbol (BTC-USDT, BTC-USDT-PERP, KALSHI:YES, token id)."""
    parts = symbol.split("-")
    if len(parts) >= 2 and parts[0].isalpha() and parts[1].isalpha() and parts[1].isupper():
        return parts[0], parts[1]
    return symbol, "USD"  # prediction-market contracts settle in dollars
