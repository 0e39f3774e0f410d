"""The router's view of venue scores: the latest `VenueScored` per venue, symbol and sandbox flag."""

from __future__ import annotations

from events.tca import VenueScored
from services.sor.model import VenueScore


class VenueScoreBook:
    """Fold of `VenueScored` (log order: the latest wins) into the planner's `scores` argument,
    kept indexed by (symbol, is_sandbox) so a plan reads its scores without a scan."""

    def __init__(self) -> None:
        self.by_symbol: dict[tuple[str, bool], dict[str, VenueScore]] = {}

    def apply(self, event: VenueScored) -> None:
        scores = self.by_symbol.setdefault((event.symbol, event.is_sandbox), {})
        scores[event.venue] = VenueScore(
            latency_ns=event.latency_ema_ns,
            fill_rate_ppm=event.fill_rate_ppm,
            realised_slippage_ppm=event.realised_slippage_ppm,
        )

    def for_symbol(self, symbol: str, is_sandbox: bool) -> dict[str, VenueScore]:
        """venue -> VenueScore for one symbol; sandbox orders use sandbox scores, live orders live ones."""
        return dict(self.by_symbol.get((symbol, is_sandbox), {}))
