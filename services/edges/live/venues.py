"""Venues with live order entry, and where their order REST API is."""

from __future__ import annotations

import os
from collections.abc import Callable

from events.venues import ONCHAIN_VENUES, instrument_type_of
from services.edges import registry
from services.edges.binance.orders import BinanceOrders
from services.edges.bitmart.orders import BitmartSpotOrders
from services.edges.bybit.orders import BybitOrders
from services.edges.hyperliquid.orders import HyperliquidOrders
from services.edges.okx.orders import OkxOrders
from services.edges.bitget.orders import BitgetSpotOrders
from services.edges.binance.userstream import BinanceSpotUserStream
from services.edges.bybit.userstream import BybitUserStream
from services.edges.coinbase.orders import CoinbaseOrders
from services.edges.cryptocom.orders import CryptocomOrders
from services.edges.kraken.orders import KrakenSpotOrders
from services.edges.kalshi.orders import KalshiOrders
from services.edges.kalshi.orders import request_cost as kalshi_cost
from services.edges.polymarket.orders import PolymarketOrders
from services.edges.polymarket.orders import request_cost as polymarket_cost
from services.edges.okx.userstream import OkxUserStream
from services.edges.budget import Cost, Limit
from services.edges.privstream import VenuePrivateStream
from services.edges.transport import SignedRequest, VenueOrders

ORDERS: dict[str, type[VenueOrders]] = {
    "binance": BinanceOrders,  # spot and USD-M perps
    "okx": OkxOrders,  # spot and linear swaps
    "bybit": BybitOrders,  # spot and linear perps
    "bitmart": BitmartSpotOrders,
    "hyperliquid": HyperliquidOrders,
    "coinbase": CoinbaseOrders,
    "kraken": KrakenSpotOrders,
    "bitget": BitgetSpotOrders,
    "cryptocom": CryptocomOrders,
    "kalshi": KalshiOrders,
    "polymarket": PolymarketOrders,
}
# Venues whose user-data WebSocket drives the live executor (REST polls slower while it is up).
PRIVATE_STREAMS: dict[str, type[VenuePrivateStream]] = {
    "binance": BinanceSpotUserStream,
    "okx": OkxUserStream,
    "bybit": BybitUserStream,
}
# Order entry above that speaks only the venue's spot API: a perp child there (same venue id,
# `-PERP` symbol) is refused, never sent to the spot endpoint.
SPOT_ONLY = frozenset({"bitmart", "coinbase", "kraken", "bitget", "cryptocom"})


def can_trade(venue: str, symbol: str) -> bool:
    """Whether a live child of `symbol` can be placed at `venue` (the router routes live graphs
    only there, the API refuses a live order with nowhere to go, the executor rejects the rest)."""
    if venue in ONCHAIN_VENUES:
        return True  # a swap, sent by the DEX executor (services/edges/evm/service.py)
    return venue in ORDERS and not (venue in SPOT_ONLY and instrument_type_of(venue, symbol) == "perp")


def rest_url(venue: str) -> str:
    """`CROSSBOOK_<VENUE>_REST_URL` (a loopback order server, a testnet), else the venue's own."""
    return os.environ.get(f"CROSSBOOK_{venue.upper()}_REST_URL") or registry.adapters()[venue].default_rest_url  # spot edge


def rest_urls(venues: list[str] | None = None) -> dict[str, str]:
    return {venue: rest_url(venue) for venue in (venues or list(ORDERS))}


def stream_url(venue: str) -> str:
    """`CROSSBOOK_<VENUE>_USER_WS_URL`; else, when the REST API is overridden (a loopback server,
    which serves its stream too), that host over ws://; else "" (the stream's own default)."""
    explicit = os.environ.get(f"CROSSBOOK_{venue.upper()}_USER_WS_URL")
    if explicit:
        return explicit
    rest = os.environ.get(f"CROSSBOOK_{venue.upper()}_REST_URL", "")
    return rest.replace("https://", "wss://", 1).replace("http://", "ws://", 1)


def stream_urls() -> dict[str, str]:
    return {venue: stream_url(venue) for venue in PRIVATE_STREAMS}


def usdm_rest_url(binance_url: str) -> str:
    """Where Binance USD-M orders go: `CROSSBOOK_BINANCE_USDM_REST_URL`, else fapi.binance.com
    when spot goes to Binance itself, else "" (the same server as spot: a local server speaks
    both, and a spot URL pointed elsewhere never sends perps to the real venue by default)."""
    explicit = os.environ.get("CROSSBOOK_BINANCE_USDM_REST_URL")
    if explicit:
        return explicit
    adapters = registry.adapters()
    if binance_url.rstrip("/") == adapters["binance"].default_rest_url.rstrip("/"):
        return adapters["binance_usdm"].default_rest_url
    return ""


def new_orders(venue: str, url: str) -> VenueOrders:
    """The venue's order wire format for its REST API at `url`."""
    orders = ORDERS[venue]()
    if isinstance(orders, BinanceOrders):
        orders.usdm_host = usdm_rest_url(url)
    return orders


# How long after it was signed a new-order request can still be executed: the venue refuses it
# later (Binance recvWindow and Bybit X-BAPI-RECV-WINDOW, both sent as 5 s; OKX's 30 s timestamp
# check; BitMart's minute). Hyperliquid has no such window (a nonce stays valid for days):
# a minute is assumed. Plus 2 s for the venue's clock running ahead of ours.
LANDING_WINDOW_MS = {"binance": 5_000, "bybit": 5_000, "okx": 30_000, "bitmart": 60_000, "hyperliquid": 60_000}
CLOCK_MARGIN_MS = 2_000


def landing_window_ns(venue: str) -> int:
    """Until this long after its ChildSubmitted, "the venue has no such order" may still change."""
    return (LANDING_WINDOW_MS.get(venue, 60_000) + CLOCK_MARGIN_MS) * 1_000_000


# Rate limits per account (docs/venues.md; figures marked [verify] there are the documented
# defaults, a venue may grant more). Binance also reports its counts in reply headers, which
# the budget takes when they are higher than its own (another sender on the same key).
LIMITS: dict[str, tuple[Limit, ...]] = {
    "binance": (
        Limit("weight_1m", "weight", 6000, 60.0, "x-mbx-used-weight-1m"),
        Limit("orders_10s", "orders", 100, 10.0, "x-mbx-order-count-10s"),
        Limit("orders_1d", "orders", 200_000, 86_400.0, "x-mbx-order-count-1d"),
    ),
    "okx": (Limit("trade_2s", "weight", 60, 2.0),),  # place/amend/cancel 60 requests / 2 s
    "bybit": (Limit("requests_1s", "weight", 10, 1.0),),  # order endpoints, per UID
    "bitmart": (Limit("requests_2s", "weight", 40, 2.0),),
    "hyperliquid": (Limit("weight_1m", "weight", 1200, 60.0),),
    "coinbase": (Limit("requests_1s", "weight", 30, 1.0),),  # private REST, per user [verify]
    # Kraken's decaying counters as windows (Starter tier): API counter max 15, -0.33/s; trading
    # counter max 60, -1/s (its per-pair and young-order cancel penalties are not modelled).
    "kraken": (Limit("api_counter", "weight", 15, 45.0), Limit("trading_counter", "orders", 60, 60.0)),
    "bitget": (Limit("orders_1s", "orders", 10, 1.0), Limit("requests_1s", "weight", 20, 1.0)),  # per UID [verify]
    "cryptocom": (Limit("orders_100ms", "orders", 15, 0.1), Limit("requests_100ms", "weight", 15, 0.1)),  # [verify]
    # Basic tier: 20 reads and 10 writes per second (a batch counts each order) [verify tier].
    "kalshi": (Limit("reads_1s", "weight", 20, 1.0), Limit("writes_1s", "orders", 10, 1.0)),
    # CLOB: 9000 requests / 10 s in all; POST /order 3500 / 10 s burst, 36000 / 10 min sustained.
    "polymarket": (Limit("requests_10s", "weight", 9000, 10.0), Limit("orders_10s", "orders", 3500, 10.0),
                   Limit("orders_10m", "orders", 36_000, 600.0)),
}

# Request weights where the venue gives them; else 1, and a new order counts one order.
_COSTS: dict[str, dict[tuple[str, str], Cost]] = {
    "binance": {
        ("POST", "/api/v3/order"): Cost(1, 1), ("GET", "/api/v3/order"): Cost(4),
        ("DELETE", "/api/v3/order"): Cost(1), ("GET", "/api/v3/myTrades"): Cost(20),
        ("GET", "/api/v3/openOrders"): Cost(6), ("GET", "/api/v3/account"): Cost(20),
        # USD-M: its own limits (2400/min/IP, 1200 orders/min) are not kept apart from spot's:
        # counted here against spot's, the stricter, with USD-M's weights.
        ("POST", "/fapi/v1/order"): Cost(1, 1), ("GET", "/fapi/v1/order"): Cost(1),
        ("DELETE", "/fapi/v1/order"): Cost(1), ("GET", "/fapi/v1/userTrades"): Cost(5),
    },
    "hyperliquid": {("POST", "/exchange"): Cost(1, 1), ("POST", "/info"): Cost(20)},
    # Order calls spend the trading counter, not the API counter; history calls cost 2.
    "kraken": {
        ("POST", "/0/private/AddOrder"): Cost(0, 1), ("POST", "/0/private/CancelOrder"): Cost(0, 1),
        ("POST", "/0/private/AmendOrder"): Cost(0, 1), ("POST", "/0/private/ClosedOrders"): Cost(2),
        ("POST", "/0/private/TradesHistory"): Cost(2),
    },
    "bitget": {("POST", "/api/v2/spot/trade/place-order"): Cost(1, 1)},
    "cryptocom": {("POST", "/private/create-order"): Cost(1, 1)},
}


# Venues whose costs depend on more than (method, path): order ids in paths, batch sizes.
_COST_FNS: dict[str, Callable[[SignedRequest], Cost]] = {
    "kalshi": kalshi_cost,
    "polymarket": polymarket_cost,
}


def request_cost(venue: str) -> Callable[[SignedRequest], Cost]:
    if venue in _COST_FNS:
        return _COST_FNS[venue]
    costs = _COSTS.get(venue, {})
    return lambda request: costs.get((request.method, request.path), Cost())
