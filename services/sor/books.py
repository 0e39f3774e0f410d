"""Turn the market projection into the SOR's per-venue inputs (shared by the router and preview)."""

from __future__ import annotations

from collections.abc import Callable

from projections.market import MarketBooks
from services.refdata import fee_schedule
from services.risk import RulesBook
from services.sor.model import VenueBook

SOR_DEPTH = 20
DEFAULT_LATENCY_NS = 20_000_000


def venue_books(
    market: MarketBooks, rules: RulesBook, symbol: str, side: str, venue: str | None = None,
    region_rtt_ns: Callable[[str], int] | None = None,
) -> list[VenueBook]:
    """Usable venue books for `symbol` (opposite side, best first), optionally pinned to a venue;
    `region_rtt_ns(venue)`: the round trip to the region of the venue's edge (None: one region)."""
    out = []
    for name, book in sorted(market.by_symbol.get(symbol, {}).items()):
        if not book.usable or (venue and name != venue):
            continue
        instrument = rules.get(name, {}).get(symbol)
        if instrument is None:
            continue
        bids, asks = book.top(SOR_DEPTH)
        levels = asks if side == "buy" else bids
        fees = fee_schedule(name, symbol)  # a perp's own schedule where the venue prices perps apart
        if not levels or fees is None:  # no fee schedule from the venue's reference data: never routed to
            continue
        out.append(
            VenueBook(
                venue=name,
                levels=levels,
                taker_fee_ppm=fees.taker_ppm,
                latency_ns=DEFAULT_LATENCY_NS,
                region_rtt_ns=region_rtt_ns(name) if region_rtt_ns is not None else 0,
                min_qty_1e8=instrument.min_qty_1e8,
                lot_1e8=instrument.lot_1e8,
                tick_1e9=instrument.tick_1e9,
            )
        )
    return out
