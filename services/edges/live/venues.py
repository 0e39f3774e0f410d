"""Venues with live order entry, and where their order REST API is."""

from __future__ import annotations

import os

from services.edges import registry
from services.edges.binance.orders import BinanceSpotOrders
from services.edges.bitmart.orders import BitmartSpotOrders
from services.edges.bybit.orders import BybitSpotOrders
from services.edges.hyperliquid.orders import HyperliquidOrders
from services.edges.okx.orders import OkxSpotOrders
from services.edges.transport import VenueOrders

ORDERS: dict[str, type[VenueOrders]] = {
    "binance": BinanceSpotOrders,
    "okx": OkxSpotOrders,
    "bybit": BybitSpotOrders,
    "bitmart": BitmartSpotOrders,
    "hyperliquid": HyperliquidOrders,
}
# Order entry above that speaks only the venue's spot API: a perp child there (same venue id,
# `-PERP` symbol) is refused, never sent to the spot endpoint.
SPOT_ONLY = frozenset({"binance", "okx", "bybit", "bitmart"})


def rest_url(venue: str) -> str:
    """`CROSSBOOK_<VENUE>_REST_URL` (a loopback order server, a testnet), else the venue's own."""
    return os.environ.get(f"CROSSBOOK_{venue.upper()}_REST_URL") or registry.adapters()[venue].default_rest_url  # spot edge


def rest_urls(venues: list[str] | None = None) -> dict[str, str]:
    return {venue: rest_url(venue) for venue in (venues or list(ORDERS))}
