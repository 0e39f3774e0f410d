"""Venue ids and instrument types, as users see them (pure data: no project imports).

Spot and perpetuals of one exchange share its venue id (`binance`, `bybit`, `okx`) and are told
apart by `instrument_type`, which follows from the canonical symbol: a perpetual's symbol ends
in `-PERP` (`BTC-USDT-PERP`), a prediction venue's contracts are `prediction`, the rest `spot`.
So a (venue, symbol) pair names one book, one position and one fee schedule, and no event needs
an instrument-type field of its own. Logs written before this carried the perp edges' own ids
(`binance_usdm`, `bybit_linear`): `venue_id` maps them to their exchange, so they decode and
show under the same venue as everything newer."""

from __future__ import annotations

from typing import Literal

InstrumentType = Literal["spot", "perp", "prediction"]
INSTRUMENT_TYPES: tuple[InstrumentType, ...] = ("spot", "perp", "prediction")
PERP_SUFFIX = "-PERP"
PREDICTION_VENUES = frozenset({"kalshi", "polymarket"})
# On-chain pools, one venue id per protocol and chain (services/edges/evm/venues.py): their
# children are swaps, executed only by the DEX executor, never by the sandbox or live executors.
ONCHAIN_VENUES = frozenset({"uniswap_v2_ethereum", "uniswap_v3_ethereum"})
# The credential (a chain's signer key in the vault) that trades at an on-chain venue.
SIGNER_OF = {"uniswap_v2_ethereum": "dex_ethereum", "uniswap_v3_ethereum": "dex_ethereum"}


def credential_venue(venue: str) -> str:
    """The venue id a tenant's credentials for `venue` are stored under (its chain's signer)."""
    return SIGNER_OF.get(venue, venue)


def account_venue(venue: str) -> str:
    """The venue id whose balances trade at `venue`: a pool's chain wallet (`dex_ethereum`), one
    account shared by every pool venue that wallet signs for; any other venue is its own."""
    return SIGNER_OF.get(venue, venue)

# Venue ids the perp edges wrote before spot and perps shared one id.
LEGACY_VENUES = {"binance_usdm": "binance", "bybit_linear": "bybit"}


def venue_id(venue: str) -> str:
    """The venue id users see for a venue id found in the log (old perp ids -> their exchange)."""
    return LEGACY_VENUES.get(venue, venue)


def instrument_type_of(venue: str, symbol: str) -> InstrumentType:
    if venue in PREDICTION_VENUES:
        return "prediction"
    return "perp" if symbol.endswith(PERP_SUFFIX) else "spot"


def perp_symbol(symbol: str) -> str:
    """`BTC-USDT` -> `BTC-USDT-PERP` (a perp symbol is kept)."""
    return symbol if symbol.endswith(PERP_SUFFIX) else symbol + PERP_SUFFIX
