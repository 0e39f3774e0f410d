"""Turn the market projection into the SOR's per-venue inputs (shared by the router and preview)."""

from __future__ import annotations

from collections.abc import Callable

from projections.market import MarketBooks
from services.refdata import fee_schedule, reference_data
from services.risk import RulesBook
from services.sor.cost import min_qty_for_cost, order_cost_ppm
from services.sor.model import VenueBook

SOR_DEPTH = 20
DEFAULT_LATENCY_NS = 20_000_000
# A venue with a fixed cost per order (a pool's gas per swap) is not offered a take whose cost
# would be more than this share of its notional.
MAX_ORDER_COST_PPM = 100_000


def venue_books(
    market: MarketBooks, rules: RulesBook, symbol: str, side: str, venue: str | None = None,
    qty_1e8: int | None = None, resting: bool = False, region_rtt_ns: Callable[[str], int] | None = None,
) -> list[VenueBook]:
    """Usable venue books for `symbol` (opposite side, best first), optionally pinned to a venue.

    A book with a fixed cost per order (an on-chain pool's gas, from its snapshot) has that cost
    charged as a fee over the notional of taking `qty_1e8` there (the order's size; without it
    the book's whole depth), so pools and order books compare on net cost. Latency is the
    venue's declared time to execution where reference data has one; an on-chain venue's block
    wait is its reference data's wait cost, added to its fee.
    `resting`: only venues where an order can rest (a pool only swaps now). `region_rtt_ns(venue)`:
    the round trip to the region of the venue's edge (None: one region)."""
    refdata = reference_data()
    out = []
    for name, book in sorted(market.by_symbol.get(symbol, {}).items()):
        if not book.usable or (venue and name != venue) or (resting and book.order_cost_quote_1e9 > 0):
            continue
        instrument = rules.get(name, {}).get(symbol)
        if instrument is None:
            continue
        bids, asks = book.top(SOR_DEPTH)
        levels = asks if side == "buy" else bids
        fees = fee_schedule(name, symbol)  # a perp's own schedule where the venue prices perps apart
        if not levels or fees is None:  # no fee schedule from the venue's reference data: never routed to
            continue
        fee_ppm, min_qty = fees.taker_ppm, instrument.min_qty_1e8
        if book.order_cost_quote_1e9 > 0:
            depth = sum(q for _, q in levels)
            cost_ppm = order_cost_ppm(levels, depth if qty_1e8 is None else qty_1e8, book.order_cost_quote_1e9)
            if cost_ppm is None or cost_ppm > MAX_ORDER_COST_PPM:
                continue  # gas would eat the trade
            fee_ppm += cost_ppm
            min_qty = max(min_qty, min(depth, min_qty_for_cost(levels[0][0], book.order_cost_quote_1e9,
                                                               MAX_ORDER_COST_PPM)))
        # A chain's block wait is charged as the expected adverse move over it (cost.block_wait_ppm,
        # fed with the pools' reference data), not as ppm per ms of latency.
        fee_ppm += refdata.wait_cost_ppm(name)
        latency = refdata.latency_ns(name)
        out.append(
            VenueBook(
                venue=name,
                levels=levels,
                taker_fee_ppm=fee_ppm,
                latency_ns=DEFAULT_LATENCY_NS if latency is None else latency,
                region_rtt_ns=region_rtt_ns(name) if region_rtt_ns is not None else 0,
                min_qty_1e8=min_qty,
                lot_1e8=instrument.lot_1e8,
                tick_1e9=instrument.tick_1e9,
            )
        )
    return out
