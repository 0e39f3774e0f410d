"""A backtest run: recordings + orders + seed -> an output directory.

    DIR/events.jsonl   the complete output log: every event the kernel appended (commands,
                       graph, risk, routing, execution, TCA), one `{"seq","subject","event"}`
                       JSON line each, in log order
    DIR/report.json    the summary (orders, fills, PnL, shortfall, fees, venue mix, equity curve)
    DIR/plot.png       with `plot=True`: the equity curve, and fills over the NBBO

Market data comes in time order from the recordings (`RecordingReader`, streamed); each order
of ORDERS.jsonl (`{"offset_ms": ..., "order": <POST /v1/orders body>}`) becomes the same
`SubmitGraph` command the API appends, at `offset_ms` after the first market event. Ids derive
from the seed and the order's line; no clock, network or global randomness is read, so the same
recordings, orders and seed give a byte-identical DIR.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from events import AnyEvent, encode_json
from events.execution import FillRecorded
from events.graph import GraphSubmitted
from events.ids import derive_id
from events.subjects import subject_for
from events.tca import TcaReported
from projections.market import MarketBooks
from replay.recording import MdEvent, RecordingReader
from services.errors import CrossbookError

TENANT = "backtest"
DRAIN_NS = 60 * 10**9  # after the data ends, venue replies and timers due within this still land
EQUITY_STEP_NS = 10**9  # one equity point per second of market time
PROGRESS_EVERY = 20_000  # market events between progress callbacks
EVENTS_FILE = "events.jsonl"
REPORT_FILE = "report.json"
PLOT_FILE = "plot.png"


class BacktestError(CrossbookError):
    """A backtest input is unusable (names the file, line and value)."""


@dataclass(frozen=True)
class TimedOrder:
    offset_ns: int
    body: dict[str, Any]
    line: int


def load_orders(path: Path) -> list[TimedOrder]:
    """ORDERS.jsonl -> orders sorted by offset (stable: equal offsets keep file order)."""
    out: list[TimedOrder] = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BacktestError(f"{path}:{line_no}: not JSON ({exc.msg})") from exc
        out.append(parse_order_row(row, f"{path}:{line_no}", line_no))
    return sorted(out, key=lambda o: o.offset_ns)


def parse_order_row(row: object, where: str, line: int) -> TimedOrder:
    if not isinstance(row, dict) or not isinstance(row.get("order"), dict):
        raise BacktestError(f"{where}: expected {{\"offset_ms\": <ms>, \"order\": {{...}}}}, got {row!r:.120}")
    offset = row.get("offset_ms")
    if not isinstance(offset, (int, float)) or isinstance(offset, bool) or offset < 0:
        raise BacktestError(f"{where}: offset_ms {offset!r} must be a number >= 0")
    return TimedOrder(offset_ns=int(round(offset * 1_000_000)), body=row["order"], line=line)


# --- the report fold ------------------------------------------------------------------------


@dataclass
class _Position:
    qty_1e8: int = 0
    cash_1e17: int = 0  # quote currency x 1e17 (px_1e9 * qty_1e8)


@dataclass
class ReportFold:
    """Folds the output log (and the market, for marks) into the report."""

    orders: int = 0
    fills: int = 0
    filled_qty_1e8: int = 0
    notional_1e17: int = 0
    fees_usd_1e9: int = 0
    venue_qty_1e8: dict[str, int] = field(default_factory=dict)
    positions: dict[str, _Position] = field(default_factory=dict)
    shortfall_weighted: int = 0  # sum of shortfall_ppm * filled qty
    shortfall_qty_1e8: int = 0
    tca_reports: int = 0
    statuses: dict[str, str] = field(default_factory=dict)
    equity: list[tuple[int, int]] = field(default_factory=list)  # (ts_ns, pnl_quote_1e9)
    fill_points: list[tuple[int, str, str, int, int]] = field(default_factory=list)  # ts, venue, side, px, qty
    nbbo_points: list[tuple[int, int, int]] = field(default_factory=list)  # ts, bid, ask (first symbol)
    _next_sample_ns: int = 0

    def on_output(self, event: AnyEvent) -> None:
        if isinstance(event, GraphSubmitted):
            self.orders += 1
            self.statuses[event.graph_id] = "OPEN"  # until its graph completes or is cancelled
        elif isinstance(event, FillRecorded):
            self.fills += 1
            self.filled_qty_1e8 += event.qty_1e8
            self.notional_1e17 += event.px_1e9 * event.qty_1e8
            self.fees_usd_1e9 += event.fee_usd_1e9
            self.venue_qty_1e8[event.venue] = self.venue_qty_1e8.get(event.venue, 0) + event.qty_1e8
            pos = self.positions.setdefault(event.symbol, _Position())
            sign = 1 if event.side == "buy" else -1
            pos.qty_1e8 += sign * event.qty_1e8
            pos.cash_1e17 -= sign * event.px_1e9 * event.qty_1e8 + event.fee_usd_1e9 * 10**8
            self.fill_points.append((event.ts_ns, event.venue, event.side, event.px_1e9, event.qty_1e8))
        elif isinstance(event, TcaReported):
            self.tca_reports += 1
            self.shortfall_weighted += event.implementation_shortfall_ppm * event.filled_qty_1e8
            self.shortfall_qty_1e8 += event.filled_qty_1e8
        else:
            tag = type(event).__struct_config__.tag
            graph_id = getattr(event, "graph_id", None)
            if graph_id and tag in ("ord.graph_completed.v1", "ord.graph_cancelled.v1"):
                self.statuses[graph_id] = "COMPLETED" if tag == "ord.graph_completed.v1" else "CANCELLED"

    def pnl_1e9(self, market: MarketBooks) -> int:
        """Cash plus positions marked at the NBBO mid, in quote units x 1e9 (fees included)."""
        total_1e17 = 0
        for symbol, pos in self.positions.items():
            total_1e17 += pos.cash_1e17
            nbbo = market.nbbo(symbol)
            if pos.qty_1e8 and nbbo is not None and nbbo.bid_px_1e9 and nbbo.ask_px_1e9:
                total_1e17 += pos.qty_1e8 * (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
        return total_1e17 // 10**8

    def sample(self, ts_ns: int, market: MarketBooks, symbol: str | None) -> None:
        if ts_ns < self._next_sample_ns:
            return
        self._next_sample_ns = (ts_ns // EQUITY_STEP_NS + 1) * EQUITY_STEP_NS
        self.equity.append((ts_ns, self.pnl_1e9(market)))
        if symbol is not None:
            nbbo = market.nbbo(symbol)
            if nbbo is not None:
                self.nbbo_points.append((ts_ns, nbbo.bid_px_1e9, nbbo.ask_px_1e9))

    def report(self, market: MarketBooks, *, seed: int, data: list[str], market_events: int, output_events: int,
               start_ns: int, end_ns: int) -> dict[str, Any]:
        total_qty = sum(self.venue_qty_1e8.values())
        return {
            "seed": seed,
            "data": data,
            "market_events": market_events,
            "output_events": output_events,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "orders": self.orders,
            "orders_by_status": _count(self.statuses.values()),
            "fills": self.fills,
            "filled_qty_1e8": self.filled_qty_1e8,
            "avg_fill_px_1e9": self.notional_1e17 // self.filled_qty_1e8 if self.filled_qty_1e8 else None,
            "fees_usd_1e9": self.fees_usd_1e9,
            "pnl_quote_1e9": self.pnl_1e9(market),
            "positions": {s: {"qty_1e8": p.qty_1e8, "cash_quote_1e9": p.cash_1e17 // 10**8}
                          for s, p in sorted(self.positions.items())},
            "implementation_shortfall_ppm": (
                self.shortfall_weighted // self.shortfall_qty_1e8 if self.shortfall_qty_1e8 else None
            ),
            "tca_reports": self.tca_reports,
            "venue_mix": [
                {"venue": v, "qty_1e8": q, "share_ppm": q * 1_000_000 // total_qty}
                for v, q in sorted(self.venue_qty_1e8.items())
            ],
            "equity": [[t, p] for t, p in self.equity],
        }


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


# --- the run --------------------------------------------------------------------------------

Driver = Callable[[Iterator[MdEvent], list[TimedOrder], int, Callable[[int], None]], Iterator[tuple[bool, AnyEvent]]]


@dataclass
class RunResult:
    report: dict[str, Any]
    out: Path


def run_to_dir(
    data: list[Path],
    orders: list[TimedOrder],
    seed: int,
    out: Path,
    *,
    plot: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run a backtest and write DIR (see the module docstring)."""
    from replay.driver import drive

    reader = RecordingReader(data)
    total = reader.total
    fold = ReportFold()
    held: list[MarketBooks] = []
    out.mkdir(parents=True, exist_ok=True)
    counts = {"market": 0, "output": 0}
    first_symbol: list[str] = []
    bounds = [0, 0]
    encoder = msgspec.json.Encoder()

    def progress(done: int) -> None:
        if on_progress is not None:
            on_progress(done, total)

    with (out / EVENTS_FILE).open("wb") as log:
        for is_market, event in drive(iter(reader), orders, seed, progress, held.append):
            if is_market:
                counts["market"] += 1
                market = held[0]  # the kernel's fold, already holding this event
                if not bounds[0]:
                    bounds[0] = event.ts_ns
                bounds[1] = event.ts_ns
                symbol = getattr(event, "symbol", "")
                if not first_symbol and symbol:
                    first_symbol.append(symbol)
                fold.sample(event.ts_ns, market, first_symbol[0] if first_symbol else None)
                continue
            counts["output"] += 1
            log.write(b'{"seq":%d,"subject":%s,"event":' % (counts["output"], encoder.encode(subject_for(event))))
            log.write(encode_json(event))
            log.write(b"}\n")
            fold.on_output(event)
    market = held[0] if held else MarketBooks()
    fold.sample(bounds[1] + EQUITY_STEP_NS, market, first_symbol[0] if first_symbol else None)
    report = fold.report(market, seed=seed, data=[p.name for p in data], market_events=counts["market"],
                         output_events=counts["output"], start_ns=bounds[0], end_ns=bounds[1])
    (out / REPORT_FILE).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if plot:
        from replay.plot import plot_run

        plot_run(fold, out / PLOT_FILE, symbol=first_symbol[0] if first_symbol else "")
    progress(total)
    return RunResult(report, out)


def derived_graph_id(seed: int, order: TimedOrder) -> str:
    """The graph id of an order that names none: from the seed and its line (hex like the API's)."""
    return "g_" + derive_id("backtest-order", str(seed), str(order.line)).replace("-", "")


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
