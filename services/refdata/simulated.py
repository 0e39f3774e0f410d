"""The simulated market as a reference-data source: the local venue servers' instrument lists,
priced with the sandbox's built-in fee schedules (the base retail tier of each venue)."""

from __future__ import annotations

from services.edges import registry
from services.edges.book import L2Book
from services.edges.sandbox.errors import UnknownFeeVenue
from events.venues import PERP_SUFFIX
from services.edges.sandbox.fees import FeeSchedule, default_fee_schedule
from services.refdata.book import ReferenceData
from services.refdata.symbols import split_symbol
from services.risk.config import InstrumentRules


def traded_symbols(edge: str, symbol: str) -> list[str]:
    """The canonical symbols one edge instrument trades as: itself, or every book its edge
    derives from it (a Kalshi market is its YES and its NO contract)."""
    cls = registry.adapters().get(edge)
    if cls is None:
        return [symbol]
    adapter = cls()
    return [s for s, _, _ in adapter.derive_books(adapter.to_venue(symbol), L2Book(), 0)]


def simulated() -> ReferenceData:
    data = ReferenceData()
    by_venue: dict[str, list[InstrumentRules]] = {}
    # A venue's spot and perp edges (binance, binance_usdm) feed one venue id.
    for edge, instruments in sorted(registry.sim_instruments().items()):
        venue = registry.venue_of(edge)
        rules = by_venue.setdefault(venue, [])
        for inst in instruments:
            for symbol in traded_symbols(edge, inst.symbol):
                base, quote = split_symbol(symbol)
                fees = _fees(venue, "perp" if symbol.endswith(PERP_SUFFIX) else "spot")
                rules.append(InstrumentRules(
                    venue=venue, symbol=symbol, base_asset=base, quote_asset=quote, tick_1e9=inst.tick_1e9,
                    lot_1e8=inst.lot_1e8, min_qty_1e8=inst.lot_1e8, fee_ppm=fees.taker_ppm if fees else 0,
                ))
    for venue, rules in by_venue.items():
        data.feed(venue, rules, _fees(venue, "spot"), _fees(venue, "perp"))
    return data


def _fees(venue: str, instrument_type: str) -> FeeSchedule | None:
    try:
        return default_fee_schedule(venue, instrument_type)
    except UnknownFeeVenue:
        return None
