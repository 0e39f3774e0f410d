"""Deterministic identifiers: the same event always yields the same order, so a retried
submission can never become a second order."""

from __future__ import annotations

import hashlib


def _digest(*parts: str) -> str:
    # "\x1f" (unit separator) cannot occur in event ids, so ("a|b", "c") != ("a", "b|c").
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def derive_client_order_id(event_id: str, *, leg: int = 0, venue: str = "") -> str:
    """Return the child client order id for leg `leg` of the event `event_id`.

    32 lowercase hex characters (128 bits) fit every venue's limit (OKX: 32 alphanumerics,
    Binance/Bybit: 36); Hyperliquid's cloid wants the same 128 bits as "0x" + 32 hex.
    """
    if not event_id:
        raise ValueError("event_id is empty: a client order id must come from an event")
    if leg < 0:
        raise ValueError(f"leg={leg} is negative")
    hex32 = _digest("coid", event_id, str(leg))[:32]
    return "0x" + hex32 if venue == "hyperliquid" else hex32


def sandbox_venue_order_id(venue: str, client_order_id: str) -> str:
    """Return the simulated venue's order id for a client order id (stable across restarts)."""
    return f"sbx-{venue}-{_digest('void', venue, client_order_id)[:20]}"


def sandbox_fill_id(venue_order_id: str, n: int) -> str:
    """Return the id of the `n`-th fill (1-based) of a venue order."""
    return f"{venue_order_id}-f{n}"


def replacement_client_order_id(client_order_id: str, venue: str) -> str:
    """Return the id a cancel-replace gives the replacing order when the caller names none."""
    return derive_client_order_id(f"replace:{client_order_id}", venue=venue)
