"""Maker/taker fee schedules per venue, in integer ppm of notional (1 bp = 100 ppm).

Rounding: a fee is a cost, so it always rounds up (towards +inf); a rebate (negative ppm) is
proceeds, so its size rounds down, which is the same ceiling. Quote currencies are treated as
USD (USDT/USDC/USD at par): the sandbox does not convert non-USD quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from events.venues import LEGACY_VENUES
from services.edges.sandbox.errors import SandboxError, UnknownFeeVenue

Liquidity = Literal["maker", "taker"]
# "notional": ppm * px * qty. "binary_pq": Kalshi's ppm * contracts * P * (1 - P), P in dollars,
# rounded up to the next cent.
FeeModel = Literal["notional", "binary_pq"]

PPM = 1_000_000
_QTY = 10**8
_PX = 10**9
_CENT_USD_1E9 = 10**7


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """One venue's fee rates; negative ppm is a rebate."""

    venue: str
    maker_ppm: int
    taker_ppm: int
    model: FeeModel = "notional"

    def __post_init__(self) -> None:
        for name in ("maker_ppm", "taker_ppm"):
            value = getattr(self, name)
            if not -PPM < value < PPM:
                raise SandboxError(f"fee {name}={value} for venue={self.venue!r} is not within (-1e6, 1e6) ppm")
        if self.model not in ("notional", "binary_pq"):
            raise SandboxError(f"fee model={self.model!r} for venue={self.venue!r} is unknown")

    def ppm(self, liquidity: Liquidity) -> int:
        return self.maker_ppm if liquidity == "maker" else self.taker_ppm


def _ceil_div(num: int, den: int) -> int:
    return -((-num) // den)


def notional_usd_1e9(px_1e9: int, qty_1e8: int, *, round_up: bool) -> int:
    """Return px * qty in USD_1e9; round up for what we pay, down for what we receive."""
    raw = px_1e9 * qty_1e8
    return _ceil_div(raw, _QTY) if round_up else raw // _QTY


def fee_usd_1e9(schedule: FeeSchedule, liquidity: Liquidity, px_1e9: int, qty_1e8: int) -> int:
    """Return the fee of one fill in USD_1e9 (positive = paid, negative = rebate), rounded up."""
    ppm = schedule.ppm(liquidity)
    if schedule.model == "binary_pq":
        # ppm/1e6 * qty/1e8 * px/1e9 * (1e9-px)/1e9 dollars; a cent is 1e-2 dollars.
        pq = px_1e9 * max(0, _PX - px_1e9)
        cents = _ceil_div(ppm * qty_1e8 * pq, PPM * _QTY * _PX * _PX // 100)
        return cents * _CENT_USD_1E9
    # One division for ppm * px * qty so the only rounding is the final ceiling.
    return _ceil_div(ppm * px_1e9 * qty_1e8, PPM * _QTY)


# Base retail tier of each venue's published schedule (no volume tier, no token discount),
# deliberately the most expensive tier so sandbox costs are never flattering.
_DEFAULTS = MappingProxyType(
    {
        s.venue: s
        for s in (
            FeeSchedule("binance", maker_ppm=1_000, taker_ppm=1_000),  # spot 0.10% / 0.10%
            FeeSchedule("okx", maker_ppm=800, taker_ppm=1_000),  # spot Lv1 0.08% / 0.10%
            FeeSchedule("bybit", maker_ppm=1_000, taker_ppm=1_000),  # spot 0.10% / 0.10%
            FeeSchedule("bitget", maker_ppm=1_000, taker_ppm=1_000),  # spot 0.10% / 0.10%
            FeeSchedule("bitmart", maker_ppm=1_000, taker_ppm=1_000),  # spot LV1 class A 0.10% / 0.10%
            FeeSchedule("cryptocom", maker_ppm=2_500, taker_ppm=5_000),  # spot tier 1 0.25% / 0.50%
            FeeSchedule("coinbase", maker_ppm=6_000, taker_ppm=12_000),  # Advanced <$1k 0.60% / 1.20%
            FeeSchedule("kraken", maker_ppm=2_500, taker_ppm=4_000),  # Pro <$10k 0.25% / 0.40%
            FeeSchedule("hyperliquid", maker_ppm=150, taker_ppm=450),  # perps tier 0 0.015% / 0.045%
            FeeSchedule("kalshi", maker_ppm=0, taker_ppm=70_000, model="binary_pq"),  # 0.07*C*P*(1-P)
            FeeSchedule("polymarket", maker_ppm=0, taker_ppm=0),  # fee-free CLOB markets
        )
    }
)


# A venue's perpetuals, where they are priced apart from its spot (same venue id, `-PERP` symbols).
_PERP_DEFAULTS = MappingProxyType(
    {
        s.venue: s
        for s in (
            FeeSchedule("binance", maker_ppm=200, taker_ppm=500),  # USD-M 0.02% / 0.05%
            FeeSchedule("bybit", maker_ppm=200, taker_ppm=550),  # linear perps 0.02% / 0.055%
            FeeSchedule("okx", maker_ppm=200, taker_ppm=500),  # swap Lv1 0.02% / 0.05%
        )
    }
)


def default_fee_schedule(venue: str, instrument_type: str = "spot") -> FeeSchedule:
    """Return the built-in schedule for `venue`'s spot (or its perps, where they are priced apart);
    raise UnknownFeeVenue when there is none. An old perp venue id (binance_usdm) is its perps."""
    if venue in LEGACY_VENUES:
        venue, instrument_type = LEGACY_VENUES[venue], "perp"
    if instrument_type == "perp" and venue in _PERP_DEFAULTS:
        return _PERP_DEFAULTS[venue]
    try:
        return _DEFAULTS[venue]
    except KeyError:
        raise UnknownFeeVenue(venue) from None


def default_fee_venues() -> tuple[str, ...]:
    """Return the venues with a built-in schedule, sorted."""
    return tuple(sorted(_DEFAULTS))
