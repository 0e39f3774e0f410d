"""Transaction cost analysis: one `TcaReported` per completed node (see `report.py` for the maths).

    build_report(activation=, completed=, plan=, fills=, children=, submitted=, acks=, event_id=)
        -> TcaReported   (pure, exact integer money; bps as one correctly rounded float)
    TcaFold().apply(event) -> TcaReported | None   (the fold the service and a rebuild share)
    TcaService(bus)   (follows LEDGER, publishes reports through an Outbox)

Errors: TcaInputError (a TcaError, a CrossbookError).
"""

from services.tca.errors import TcaError, TcaInputError
from services.tca.report import build_report

__all__ = ["TcaError", "TcaInputError", "build_report"]
