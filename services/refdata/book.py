"""The reference data a process holds: per venue, its instrument rules and its fee schedules
(one for spot, and one for its perps where the venue prices them apart: same venue id, `-PERP`
symbols)."""

from __future__ import annotations

from collections.abc import Iterable

from events.venues import PERP_SUFFIX
from services.edges.sandbox.fees import FeeSchedule
from services.risk.config import InstrumentRules


class ReferenceData:
    """Instruments and fees per venue, each venue replaced whole by the source that feeds it."""

    def __init__(self) -> None:
        self._instruments: dict[str, list[InstrumentRules]] = {}
        self._fees: dict[str, FeeSchedule] = {}
        self._perp_fees: dict[str, FeeSchedule] = {}
        self._latency_ns: dict[str, int] = {}  # a venue's own time to execution
        self._wait_cost_ppm: dict[str, int] = {}  # a chain's cost of waiting for its block (ppm)

    def feed(
        self, venue: str, instruments: Iterable[InstrumentRules], fees: FeeSchedule | None,
        perp_fees: FeeSchedule | None = None, latency_ns: int | None = None, wait_cost_ppm: int | None = None,
    ) -> None:
        self._instruments[venue] = list(instruments)
        if wait_cost_ppm is None:
            self._wait_cost_ppm.pop(venue, None)
        else:
            self._wait_cost_ppm[venue] = wait_cost_ppm
        if latency_ns is None:
            self._latency_ns.pop(venue, None)
        else:
            self._latency_ns[venue] = latency_ns
        for book, schedule in ((self._fees, fees), (self._perp_fees, perp_fees)):
            if schedule is None:
                book.pop(venue, None)
            else:
                book[venue] = schedule

    def venues(self) -> list[str]:
        return sorted(self._instruments)

    def fees(self, venue: str, symbol: str = "") -> FeeSchedule | None:
        """The schedule that prices `symbol` on `venue` (its perps' own where it has one)."""
        if symbol.endswith(PERP_SUFFIX) and venue in self._perp_fees:
            return self._perp_fees[venue]
        return self._fees.get(venue)

    def latency_ns(self, venue: str) -> int | None:
        """The venue's declared time to execution (None: the router's default estimate)."""
        return self._latency_ns.get(venue)

    def wait_cost_ppm(self, venue: str) -> int:
        """What waiting for inclusion costs at an on-chain venue, ppm of notional (0 elsewhere)."""
        return self._wait_cost_ppm.get(venue, 0)

    def instrument_rules(self) -> list[InstrumentRules]:
        return [rule for venue in self.venues() for rule in self._instruments[venue]]
