"""The simulated market as a reference-data source: the local venue servers' instrument lists,
priced with the sandbox's built-in fee schedules (the base retail tier of each venue)."""

from __future__ import annotations

from services.edges import registry
from services.edges.book import L2Book
from services.edges.sandbox.errors import UnknownFeeVenue
from services.edges.sandbox.fees import default_fee_schedule
from services.refdata.book import ReferenceData
from services.refdata.symbols import split_symbol
from services.risk.config import InstrumentRules


def traded_symbols(venue: str, symbol: str) -> list[str]:
    """The canonical symbols one venue instrument trades as: itself, or every book its edge
    derives from it (a Kalshi market is its YES and its NO contract)."""
    cls = registry.adapters().get(venue)
    if cls is None:
        return [symbol]
    adapter = cls()
    return [s for s, _, _ in adapter.derive_books(adapter.to_venue(symbol), L2Book(), 0)]


def simulated() -> ReferenceData:
    data = ReferenceData()
    for venue, instruments in sorted(registry.sim_instruments().items()):
        try:
            fees = default_fee_schedule(venue)
        except UnknownFeeVenue:
            fees = None
        rules = []
        for inst in instruments:
            for symbol in traded_symbols(venue, inst.symbol):
                base, quote = split_symbol(symbol)
                rules.append(InstrumentRules(
                    venue=venue, symbol=symbol, base_asset=base, quote_asset=quote, tick_1e9=inst.tick_1e9,
                    lot_1e8=inst.lot_1e8, min_qty_1e8=inst.lot_1e8, fee_ppm=fees.taker_ppm if fees else 0,
                ))
        data.feed(venue, rules, fees)
    return data
