"""A live key trades at Coinbase through the API against the local Coinbase private server
(every JWT verified with the key's public key): place, fill, position, cancel, sync."""

from __future__ import annotations

from decimal import Decimal

from services.bus import Bus
from services.edges.coinbase.orders import CoinbaseOrders
from services.edges.coinbase.private_server import coinbase_app
from services.edges.live.loopback import Account, LoopbackVenue
from services.settings import Settings
from tests.services.edges.coinbase.test_orders import KEY_NAME, PRIVATE, PUBLIC
from tests.services.edges.live.private_api import private_stack, round_trip


async def test_a_live_key_places_fills_and_cancels_at_coinbase_through_the_api(bus: Bus, settings: Settings) -> None:
    venue = LoopbackVenue(accounts={KEY_NAME: Account(PUBLIC)}, balances={"USD": Decimal(10_000_000)},
                          assets={"BTC-USD": ("BTC", "USD")})
    async with private_stack(bus, settings, "coinbase", "BTC-USD", venue, coinbase_app) as live:
        await round_trip(live, "coinbase", "BTC-USD", "BTC-USD", {"api_key": KEY_NAME, "api_secret": PRIVATE},
                         CoinbaseOrders().client_id, "POST /api/v3/brokerage/orders/batch_cancel")
