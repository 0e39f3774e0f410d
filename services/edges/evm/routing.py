"""A pool's equivalent book as the router sees a venue: the side an order takes, with gas.

The pool fee is inside the level prices; gas is a fixed cost per swap, which the router's model
(a fee in ppm of notional) cannot hold exactly. It is charged here as a fee over the notional of
the whole order at this pool, so the comparison is exact when the pool takes the whole order and
favours the pool when it takes part (its gas then spreads over less). `min_qty_1e8` guards that:
below it, gas would be more than `max_gas_share_ppm` of the notional, and the pool gets nothing.
"""

from __future__ import annotations

from events.base import Side
from services.edges.evm.pools import PoolBook
from services.sor.cost import walk
from services.sor.model import VenueBook

WEI = 10**18


def gas_cost_quote_1e9(book: PoolBook, native_px_1e9: int) -> int:
    """Gas for one swap in quote currency x 1e9 (native price in quote, x 1e9), rounded up."""
    return -(-book.gas_cost_wei() * native_px_1e9 // WEI)


def venue_book(
    book: PoolBook, side: Side, order_qty_1e8: int, *, native_px_1e9: int, latency_ns: int = 0,
    max_gas_share_ppm: int = 100_000,
) -> VenueBook | None:
    """The VenueBook of `book` for an order, or None when the pool cannot take any of it or gas
    would cost more than `max_gas_share_ppm` of what it can take. `latency_ns` is the chain's
    time to inclusion (block time), for the router's latency charge."""
    levels = book.asks if side == "buy" else book.bids
    if not levels:
        return None
    depth = sum(q for _, q in levels)
    qty = min(order_qty_1e8, depth)
    gross_1e17, _ = walk(levels, qty)
    notional_1e9 = gross_1e17 // 10**8
    gas = gas_cost_quote_1e9(book, native_px_1e9)
    if notional_1e9 <= 0 or gas * 1_000_000 > notional_1e9 * max_gas_share_ppm:
        return None
    fee_ppm = -(-gas * 1_000_000 // notional_1e9)
    # the smallest take whose gas stays within the cap, at the best level's price
    best_px = levels[0][0]
    min_qty = -(-gas * 1_000_000 * 10**8 // (best_px * max_gas_share_ppm)) if gas else 0
    return VenueBook(venue=book.venue, levels=levels, taker_fee_ppm=fee_ppm, latency_ns=latency_ns,
                     min_qty_1e8=min(min_qty, qty))
