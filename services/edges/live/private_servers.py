"""Every venue's local private order server, by venue id (each lives in its venue's folder)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.types import ASGIApp

from services.edges.binance.private_server import binance_app
from services.edges.bitmart.private_server import bitmart_app
from services.edges.bybit.private_server import bybit_app
from services.edges.hyperliquid.private_server import hyperliquid_app
from services.edges.live.loopback import LoopbackVenue, RateLimited
from services.edges.okx.private_server import okx_app

__all__ = ["APPS", "binance_app", "bitmart_app", "bybit_app", "hyperliquid_app", "okx_app", "serve_venue"]

APPS: dict[str, Callable[[LoopbackVenue], Starlette]] = {
    "binance": binance_app, "okx": okx_app, "bybit": bybit_app, "bitmart": bitmart_app,
    "hyperliquid": hyperliquid_app,
}


def serve_venue(name: str, venue: LoopbackVenue) -> ASGIApp:
    """The local server of venue `name`, behind the rate limits `venue.limits` (none by default)."""
    return RateLimited(venue, APPS[name](venue))
