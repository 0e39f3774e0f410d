"""A live key trades at Kraken through the API against the local Kraken private server (key,
increasing nonce and API-Sign checked): place, fill, position, cancel, sync."""

from __future__ import annotations

import base64
from decimal import Decimal

from services.bus import Bus
from services.edges.kraken.orders import KrakenSpotOrders
from services.edges.kraken.private_server import kraken_app
from services.edges.live.loopback import Account, LoopbackVenue
from services.settings import Settings
from tests.services.edges.live.private_api import private_stack, round_trip

SECRET = base64.b64encode(b"kraken-live-secret-for-the-api-test").decode()


async def test_a_live_key_places_fills_and_cancels_at_kraken_through_the_api(bus: Bus, settings: Settings) -> None:
    venue = LoopbackVenue(accounts={"kr-live-key": Account(SECRET)}, balances={"USD": Decimal(10_000_000)},
                          assets={"XBTUSD": ("BTC", "USD")})
    async with private_stack(bus, settings, "kraken", "BTC-USD", venue, kraken_app) as live:
        await round_trip(live, "kraken", "BTC-USD", "XBTUSD", {"api_key": "kr-live-key", "api_secret": SECRET},
                         KrakenSpotOrders().client_id, "POST /0/private/CancelOrder")
