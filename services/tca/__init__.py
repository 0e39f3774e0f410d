"""Transaction cost analysis: one `TcaReported` per completed node (see `report.py` for the maths).

    build_report(activation=, completed=, plan=, fills=, children=, submitted=, acks=, event_id=)
        -> TcaReported   (pure, exact integer money; bps as one correctly rounded float)
    TcaFold().apply(event) -> TcaReported | None   (the fold the service and a rebuild share)
    VenueScorer().apply(event) -> VenueScored | None   (`scoring.py`: per venue/symbol EMAs of
        latency, fill rate and slippage, emitted on a material move; the router costs with them)
    TcaService(bus)   (follows LEDGER, publishes reports and venue scores through an Outbox;
        scores TWAP/VWAP parents against the market's interval TWAP/VWAP: `interval.py`)
    plot.order_png(report, fills, quotes) / plot.aggregate_png(reports) -> PNG bytes (`plot.py`)

Errors: TcaInputError (a TcaError, a CrossbookError).
"""

from services.tca.errors import TcaError, TcaInputError
from services.tca.report import build_report

__all__ = ["TcaError", "TcaInputError", "build_report"]
