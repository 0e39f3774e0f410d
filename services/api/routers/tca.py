"""TCA reads: GET /v1/tca (aggregate, contract §3) and GET /v1/execution/review/{graph_id}.

Reports come from the ledger projection (`LedgerView.tca`, folded from `TcaReported`); nothing
here computes a report. Like the order routes, a caller sees only the reports of the graphs
it may see (`orders.visible`: its own tenant; a seq_test_ key only the sandbox book)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends

from events.tca import TcaReported
from services.api import history
from services.api.access import AuthContext
from services.api.auth import Auth
from services.api.errors import ApiError
from services.api.state import ApiState, get_state
from services.graph import to_status_json
from services.tca.report import BPS_FROM_PPM, ppm_as_bps

router = APIRouter(prefix="/v1", tags=["tca"])
State = Annotated[ApiState, Depends(get_state)]
MAX_REPORTS = 100
PERCENTILES = (("p50", 50), ("p75", 75), ("p95", 95), ("p99", 99))
_ENVELOPE = ("event_id", "ts_ns", "tenant", "causation_id", "correlation_id", "schema", "type")


def notional(report: TcaReported) -> int:
    return sum(v.notional_usd_1e9 for v in report.venue_mix)


def report_json(report: TcaReported, is_prediction: bool = False) -> dict[str, Any]:
    """One TcaReport row: the event's fields plus the contract's names for the same facts."""
    row: dict[str, Any] = {k: v for k, v in msgspec.to_builtins(report).items() if k not in _ENVELOPE}
    row["report_id"] = report.event_id
    row["arrival_mid_1e9"] = report.arrival_mid_px_1e9
    row["completed_ns"] = report.ts_ns
    row["notional_usd_1e9"] = notional(report)
    row["is_prediction"] = is_prediction
    for bps_name, ppm_name in BPS_FROM_PPM.items():  # the contract's bps, from the integer figures
        row[bps_name] = ppm_as_bps(row[ppm_name])
    for venue in row["venue_mix"]:
        venue["avg_price_1e9"] = venue["avg_px_1e9"]
        # Share of the filled quantity, floored to a whole basis point.
        venue["share_bps"] = venue["qty_1e8"] * 10_000 // report.filled_qty_1e8
    return row


def weighted_mean(reports: Sequence[TcaReported], value: Callable[[TcaReported], float | None]) -> float | None:
    """Notional-weighted mean over the reports that have the value; None when none has it."""
    pairs = [(v, notional(r)) for r in reports if (v := value(r)) is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def weighted_percentile(reports: Sequence[TcaReported], value: Callable[[TcaReported], float], pct: int) -> float | None:
    """The smallest value whose cumulative notional reaches `pct`% of the total (nearest rank)."""
    pairs = sorted((value(r), notional(r)) for r in reports)
    total = sum(w for _, w in pairs)
    if not total:
        return None
    cum = 0
    for v, w in pairs:
        cum += w
        if cum * 100 >= pct * total:  # integer weights: the threshold test is exact
            return v
    return pairs[-1][0]


def is_prediction(state: ApiState, report: TcaReported) -> bool:
    graph = state.ledger.graphs.get(report.graph_id)
    node = graph.nodes.get(report.node_id) if graph is not None else None
    return node is not None and node.spec.instrument.type == "prediction"


def aggregate(reports: Sequence[TcaReported], symbol: str | None, predictions: Collection[str]) -> dict[str, Any]:
    """The contract's TCA aggregate over `reports` given oldest first (`predictions`: the ids of
    those on a prediction market)."""
    is_bps = weighted_mean(reports, lambda r: ppm_as_bps(r.implementation_shortfall_ppm))
    savings_usd = sum(r.savings_usd_1e9 or 0 for r in reports)
    newest = list(reversed(reports))[:MAX_REPORTS]
    return {
        "symbol": symbol,
        "order_count": len(reports),
        "notional_usd_1e9": sum(notional(r) for r in reports),
        "weighted": {
            "implementation_shortfall_bps": is_bps,
            "slippage_bps": weighted_mean(reports, lambda r: ppm_as_bps(r.slippage_ppm)),
            "fees_bps": weighted_mean(reports, lambda r: ppm_as_bps(r.fees_ppm)),
            # No arrival spread is on the log yet to split IS into spread and impact.
            "spread_cost_bps": None,
            "market_impact_bps": None,
            "savings_vs_benchmark_bps": -is_bps if is_bps is not None else None,
            "savings_vs_single_venue_bps": weighted_mean(reports, lambda r: ppm_as_bps(r.savings_vs_single_venue_ppm)),
            "savings_usd_1e9": savings_usd,
            "savings_usd": savings_usd / 1e9,
        },
        "percentiles": {
            "is_bps": {
                name: weighted_percentile(reports, lambda r: r.implementation_shortfall_ppm / 100, pct)
                for name, pct in PERCENTILES
            }
        },
        "reports": [report_json(r, r.event_id in predictions) for r in newest],
    }


async def visible_reports(state: ApiState, auth: AuthContext) -> list[TcaReported]:
    """The caller's reports, oldest first (log order), from the durable view."""
    return (await history.reports(state, auth))[0]


@router.get("/tca")
async def tca(state: State, auth: Auth, symbol: str | None = None) -> dict[str, Any]:
    found, predictions = await history.reports(state, auth)
    reports = [r for r in found if symbol is None or r.symbol == symbol]
    return aggregate(reports, symbol, predictions)


@router.get("/execution/review/{graph_id}")
async def execution_review(graph_id: str, state: State, auth: Auth) -> dict[str, Any]:
    graph = await history.graph(state, graph_id, auth)
    if graph is None:
        raise ApiError(404, f"unknown graph {graph_id!r}", code="NOT_FOUND")
    reports, predictions = await history.reports(state, auth, graph_id)
    return {
        "graph_id": graph_id,
        "graph": to_status_json(graph),
        "tca": aggregate(reports, None, predictions),
        "reports": [report_json(r, r.event_id in predictions) for r in reports],
    }
