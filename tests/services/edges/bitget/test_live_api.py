"""A live key trades at Bitget through the API against the local Bitget private server
(key, timestamp, passphrase and signature checked): place, fill, position, cancel, sync."""

from __future__ import annotations

from decimal import Decimal

from services.bus import Bus
from services.edges.bitget.orders import BitgetSpotOrders
from services.edges.bitget.private_server import bitget_app
from services.edges.live.loopback import Account, LoopbackVenue
from services.settings import Settings
from tests.services.edges.live.private_api import private_stack, round_trip


async def test_a_live_key_places_fills_and_cancels_at_bitget_through_the_api(bus: Bus, settings: Settings) -> None:
    venue = LoopbackVenue(accounts={"bg-live-key": Account("bg-live-secret", "bg-live-pass")},
                          balances={"USDT": Decimal(10_000_000)}, assets={"BTCUSDT": ("BTC", "USDT")})
    async with private_stack(bus, settings, "bitget", "BTC-USDT", venue, bitget_app) as live:
        creds = {"api_key": "bg-live-key", "api_secret": "bg-live-secret", "passphrase": "bg-live-pass"}
        await round_trip(live, "bitget", "BTC-USDT", "BTCUSDT", creds, BitgetSpotOrders().client_id,
                         "POST /api/v2/spot/trade/cancel-order")
