"""The reference data a process holds: per venue, its instrument rules and its fee schedule."""

from __future__ import annotations

from collections.abc import Iterable

from services.edges.sandbox.fees import FeeSchedule
from services.risk.config import InstrumentRules


class ReferenceData:
    """Instruments and fees per venue, each venue replaced whole by the source that feeds it."""

    def __init__(self) -> None:
        self._instruments: dict[str, list[InstrumentRules]] = {}
        self._fees: dict[str, FeeSchedule] = {}

    def feed(self, venue: str, instruments: Iterable[InstrumentRules], fees: FeeSchedule | None) -> None:
        self._instruments[venue] = list(instruments)
        if fees is None:
            self._fees.pop(venue, None)
        else:
            self._fees[venue] = fees

    def venues(self) -> list[str]:
        return sorted(self._instruments)

    def fees(self, venue: str) -> FeeSchedule | None:
        return self._fees.get(venue)

    def instrument_rules(self) -> list[InstrumentRules]:
        return [rule for venue in self.venues() for rule in self._instruments[venue]]
