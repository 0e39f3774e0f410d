"""Reference data: what each venue trades and on what terms (assets, tick, lot, fees).

Fed per venue by a source: the simulated market is one (`simulated.py`, the local venue
servers' instrument lists and the sandbox fee schedules); a live venue's exchange info is
another (not wired yet); the configured on-chain pools are a third (read from the chain's
node at start-up where CROSSBOOK_DEX_ETHEREUM_RPC_URL is set: services/edges/evm/venues.py).
Risk, the router, the API and the views read instruments and fees here, never from the sandbox package or the simulators' lists."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from services.refdata.symbols import split_symbol  # first: the sandbox engine needs it while book.py loads
from services.refdata.book import ReferenceData  # noqa: E402

if TYPE_CHECKING:
    from services.edges.sandbox.fees import FeeSchedule
    from services.risk.config import InstrumentRules

__all__ = ["ReferenceData", "fee_schedule", "instrument_rules", "reference_data", "split_symbol"]

log = logging.getLogger("crossbook.refdata")
_current: ReferenceData | None = None


def reference_data() -> ReferenceData:
    """The process's reference data: the simulated market's until a live source feeds a venue."""
    global _current
    if _current is None:
        from services.refdata.simulated import simulated  # the simulators import this package

        _current = simulated()
        if os.environ.get("CROSSBOOK_DEX_ETHEREUM_RPC_URL"):
            from services.edges.evm.venues import feed_configured  # web3 only where a chain is set

            try:
                feed_configured(_current)
            except Exception:  # the node is down: the process runs, its pools are not routed to
                log.exception("refdata: the on-chain pools could not be read; not routing to them")
    return _current


def instrument_rules() -> list[InstrumentRules]:
    """Every venue's instrument rules (the risk and router rule books are built from them)."""
    return reference_data().instrument_rules()


def fee_schedule(venue: str, symbol: str = "") -> FeeSchedule | None:
    """The fee schedule of `symbol` on `venue` (a perp's where the venue prices perps apart), or
    None when no source gave one (do not route there)."""
    return reference_data().fees(venue, symbol)
