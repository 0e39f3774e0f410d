"""Reference data for trading: each venue's instruments with tick, lot and assets.

The embedded default market is the local venue servers' instrument lists; live venues will
load theirs from the venue's instrument endpoint (next step)."""

from __future__ import annotations

from services.edges import registry
from services.edges.sandbox import default_fee_schedule
from services.refdata import split_symbol
from services.risk import InstrumentRules


def instrument_rules() -> list[InstrumentRules]:
    rules = []
    for venue, instruments in sorted(registry.sim_instruments().items()):
        fee = default_fee_schedule(venue).taker_ppm
        for inst in instruments:
            base, quote = split_symbol(inst.symbol)
            rules.append(
                InstrumentRules(
                    venue=venue,
                    symbol=inst.symbol,
                    base_asset=base,
                    quote_asset=quote,
                    tick_1e9=inst.tick_1e9,
                    lot_1e8=inst.lot_1e8,
                    min_qty_1e8=inst.lot_1e8,
                    fee_ppm=fee,
                )
            )
    return rules
