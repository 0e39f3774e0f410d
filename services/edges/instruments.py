"""Reference data for trading: each venue's instruments with tick, lot and assets.

The embedded default market is the local venue servers' instrument lists; live venues will
load theirs from the venue's instrument endpoint (next step)."""

from __future__ import annotations

from services.edges import registry
from services.edges.book import L2Book
from services.edges.sandbox import default_fee_schedule
from services.risk import InstrumentRules


def split_symbol(symbol: str) -> tuple[str, str]:
    """Base and quote asset of a canonical symbol (BTC-USDT, BTC-USDT-PERP, KALSHI:YES, token id)."""
    parts = symbol.split("-")
    if len(parts) >= 2 and parts[0].isalpha() and parts[1].isalpha() and parts[1].isupper():
        return parts[0], parts[1]
    return symbol, "USD"  # prediction-market contracts settle in dollars


def traded_symbols(venue: str, symbol: str) -> list[str]:
    """The canonical symbols one venue instrument trades as: itself, or every book its edge
    derives from it (a Kalshi market is its YES and its NO contract)."""
    cls = registry.adapters().get(venue)
    if cls is None:
        return [symbol]
    adapter = cls()
    return [s for s, _, _ in adapter.derive_books(adapter.to_venue(symbol), L2Book(), 0)]


def instrument_rules() -> list[InstrumentRules]:
    rules = []
    for venue, instruments in sorted(registry.sim_instruments().items()):
        fee = default_fee_schedule(venue).taker_ppm
        for inst in instruments:
            for symbol in traded_symbols(venue, inst.symbol):
                base, quote = split_symbol(symbol)
                rules.append(
                    InstrumentRules(
                        venue=venue,
                        symbol=symbol,
                        base_asset=base,
                        quote_asset=quote,
                        tick_1e9=inst.tick_1e9,
                        lot_1e8=inst.lot_1e8,
                        min_qty_1e8=inst.lot_1e8,
                        fee_ppm=fee,
                    )
                )
    return rules
