"""services/refdata: per-venue reference data, and the simulated market as one source of it."""

from __future__ import annotations

from services.edges import registry
from services.edges.sandbox.fees import FeeSchedule
from services.refdata import ReferenceData, fee_schedule, instrument_rules
from services.refdata.simulated import simulated, traded_symbols
from services.risk.config import InstrumentRules


def _rule(venue: str, symbol: str, fee_ppm: int = 1_000) -> InstrumentRules:
    return InstrumentRules(venue=venue, symbol=symbol, base_asset="BTC", quote_asset="USDT", tick_1e9=1, lot_1e8=1,
                           min_qty_1e8=1, fee_ppm=fee_ppm)


def test_a_source_replaces_its_venue_whole_and_leaves_the_others() -> None:
    data = ReferenceData()
    data.feed("okx", [_rule("okx", "BTC-USDT"), _rule("okx", "ETH-USDT")], FeeSchedule("okx", 800, 1_000))
    data.feed("binance", [_rule("binance", "BTC-USDT")], FeeSchedule("binance", 1_000, 1_000))
    # Act: okx's exchange info now lists one symbol and gives no fee schedule
    data.feed("okx", [_rule("okx", "BTC-USDT", 500)], None)
    assert [(r.venue, r.symbol, r.fee_ppm) for r in data.instrument_rules()] == [
        ("binance", "BTC-USDT", 1_000), ("okx", "BTC-USDT", 500),
    ]
    assert data.fees("okx") is None and data.fees("binance") == FeeSchedule("binance", 1_000, 1_000)


def test_the_simulated_market_gives_every_simulated_venue_its_instruments_and_fees() -> None:
    data = simulated()
    # One venue id per exchange: the perp edges (binance_usdm, bybit_linear) feed their exchange's.
    assert data.venues() == sorted({registry.venue_of(edge) for edge in registry.sim_instruments()})
    assert "binance_usdm" not in data.venues() and "bybit_linear" not in data.venues()
    for venue in data.venues():
        # Every book an instrument trades as (a Kalshi market is its YES and its NO contract).
        listed = {
            s for edge, instruments in registry.sim_instruments().items() if registry.venue_of(edge) == venue
            for i in instruments for s in traded_symbols(edge, i.symbol)
        }
        assert {r.symbol for r in data.instrument_rules() if r.venue == venue} == listed
        for rule in (r for r in data.instrument_rules() if r.venue == venue):
            fees = data.fees(venue, rule.symbol)
            assert fees is not None and fees.venue == venue and rule.fee_ppm == fees.taker_ppm
    # Binance's perps are priced apart from its spot, under the one venue id.
    assert data.fees("binance", "BTC-USDT-PERP") == FeeSchedule("binance", 200, 500)
    assert data.fees("binance", "BTC-USDT") == FeeSchedule("binance", 1_000, 1_000)
    assert {r.symbol for r in data.instrument_rules() if r.venue == "binance"} >= {"BTC-USDT", "BTC-USDT-PERP"}
    # The process-wide accessors read the same source.
    assert instrument_rules() == data.instrument_rules()
    assert fee_schedule("binance") == data.fees("binance") and fee_schedule("no-such-venue") is None
