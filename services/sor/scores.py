"""The router's view of venue scores: the latest `VenueScored` per venue, symbol and sandbox flag."""

from __future__ import annotations

from events.tca import VenueScored
from services.sor.model import VenueScore


class VenueScoreBook:
    """Fold of `VenueScored` (log order: the latest wins) into the planner's `scores` argument."""

    def __init__(self) -> None:
        self.latest: dict[tuple[str, str, bool], VenueScored] = {}

    def apply(self, event: VenueScored) -> None:
        self.latest[(event.venue, event.symbol, event.is_sandbox)] = event

    def for_symbol(self, symbol: str, is_sandbox: bool) -> dict[str, VenueScore]:
        """venue -> VenueScore for one symbol; sandbox orders use sandbox scores, live orders live ones."""
        return {
            venue: VenueScore(
                latency_ns=s.latency_ema_ns, fill_rate_ppm=s.fill_rate_ppm, realised_slippage_ppm=s.realised_slippage_ppm
            )
            for (venue, sym, sandbox), s in self.latest.items()
            if sym == symbol and sandbox == is_sandbox
        }
