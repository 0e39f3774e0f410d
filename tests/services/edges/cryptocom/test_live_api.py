"""A live key trades at Crypto.com through the API against the local Crypto.com private server
(every `sig` recomputed): place, fill, position, cancel, sync."""

from __future__ import annotations

from decimal import Decimal

from services.bus import Bus
from services.edges.cryptocom.orders import CryptocomOrders
from services.edges.cryptocom.private_server import cryptocom_app
from services.edges.live.loopback import Account, LoopbackVenue
from services.settings import Settings
from tests.services.edges.live.private_api import private_stack, round_trip


async def test_a_live_key_places_fills_and_cancels_at_cryptocom_through_the_api(bus: Bus, settings: Settings) -> None:
    venue = LoopbackVenue(accounts={"cdc-live-key": Account("cdc-live-secret")},
                          balances={"USDT": Decimal(10_000_000)}, assets={"BTC_USDT": ("BTC", "USDT")})
    async with private_stack(bus, settings, "cryptocom", "BTC-USDT", venue, cryptocom_app) as live:
        await round_trip(live, "cryptocom", "BTC-USDT", "BTC_USDT", {"api_key": "cdc-live-key",
                                                                     "api_secret": "cdc-live-secret"},
                         CryptocomOrders().client_id, "POST /private/cancel-order")
