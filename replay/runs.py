"""A backtest run: recordings + orders + seed -> an output directory.

    DIR/events.jsonl   the complete output log: every event the kernel appended (commands,
                       graph, risk, routing, execution, TCA), one `{"seq","subject","event"}`
                       JSON line each, in log order
    DIR/report.json    the summary (orders, fills, PnL, shortfall, fees, venue mix, equity curve)
    DIR/plot.png       with `plot=True`: the equity curve, and fills over the NBBO

Market data comes in time order from the recordings (`RecordingReader`, streamed) into
`replay.backtest.run_backtest` (the synchronous kernel with a virtual clock); each order of
ORDERS.jsonl (`{"offset_ms": ..., "order": <POST /v1/orders body>}`) becomes the same
`SubmitGraph` command the API appends, at `offset_ms` after the first market event. No clock,
network or global randomness is read, so the same recordings, orders and seed give a
byte-identical DIR.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from events import AnyEvent, encode_json
from events.execution import FillRecorded
from events.subjects import subject_for
from projections.market import MarketBooks
from replay.algo import AlgoSpec, AlgoTarget
from replay.backtest import BacktestSummary, run_backtest
from replay.recording import MdEvent, RecordingReader
from services.errors import CrossbookError
from services.graph import parse_order_body
from services.graph.errors import GraphError

TENANT = "backtest"
MAX_LABEL_BYTES = 32  # a mesh label, as the deployments API allows
DRAIN_NS = 60 * 10**9  # after the data ends, venue replies and timers due within this still land
EQUITY_STEP_NS = 10**9  # one equity point per second of market time
PROGRESS_EVERY = 20_000  # market events between progress callbacks
EVENTS_FILE = "events.jsonl"
REPORT_FILE = "report.json"
PLOT_FILE = "plot.png"


class BacktestError(CrossbookError):
    """A backtest input is unusable (names the file, line and value)."""


@dataclass(frozen=True)
class AlgoInput:
    """`--algo`: the module and the instances it runs (`[label=]SYMBOL[@venue]` each); no targets =
    the first book's symbol at its venue. Several are several modules (deployments) in one run."""

    wasm: bytes
    name: str
    targets: list[AlgoTarget] | None = None


def parse_symbols(value: str | list[str] | None) -> list[AlgoTarget] | None:
    """`--symbols quoter=BTC-USDT@binance,ETH-USDT` -> [AlgoTarget("BTC-USDT", "binance", "quoter"),
    AlgoTarget("ETH-USDT")] (the deployments API's `[label=]SYMBOL[@venue]`)."""
    if not value:
        return None
    items = value.split(",") if isinstance(value, str) else value
    out: list[AlgoTarget] = []
    for item in items:
        label, _, target = item.strip().rpartition("=")
        symbol, _, venue = target.partition("@")
        if not symbol:
            raise BacktestError(f"--symbols: empty symbol in {value!r}")
        if len(label.encode()) > MAX_LABEL_BYTES:
            raise BacktestError(f"--symbols: label {label!r} is longer than {MAX_LABEL_BYTES} bytes")
        out.append(AlgoTarget(symbol, venue or None, label or None))
    return out


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


# --- the curves the report and the plot draw (the totals come from the run's summary) ------


@dataclass
class Curves:
    """Equity (PnL marked at the NBBO mid, sampled once a second of market time), fills and the
    first symbol's NBBO, folded from the output log and the kernel's own market view."""

    cash_1e17: int = 0  # quote x 1e17 (px_1e9 * qty_1e8), fees included
    qty_1e8: dict[str, int] = field(default_factory=dict)
    equity: list[tuple[int, int]] = field(default_factory=list)  # (ts_ns, pnl_1e9)
    fill_points: list[tuple[int, str, str, int, int]] = field(default_factory=list)  # ts, venue, side, px, qty
    nbbo_points: list[tuple[int, int, int]] = field(default_factory=list)  # ts, bid, ask
    _next_sample_ns: int = 0

    def on_output(self, event: AnyEvent) -> None:
        if isinstance(event, FillRecorded):
            sign = 1 if event.side == "buy" else -1
            self.qty_1e8[event.symbol] = self.qty_1e8.get(event.symbol, 0) + sign * event.qty_1e8
            self.cash_1e17 -= sign * event.px_1e9 * event.qty_1e8 + event.fee_usd_1e9 * 10**8
            self.fill_points.append((event.ts_ns, event.venue, event.side, event.px_1e9, event.qty_1e8))

    def pnl_1e9(self, market: MarketBooks) -> int:
        total_1e17 = self.cash_1e17
        for symbol, qty in self.qty_1e8.items():
            nbbo = market.nbbo(symbol)
            if qty and nbbo is not None and nbbo.bid_px_1e9 and nbbo.ask_px_1e9:
                total_1e17 += qty * (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
        return total_1e17 // 10**8

    def sample(self, ts_ns: int, market: MarketBooks, symbol: str | None) -> None:
        """The state just before `ts_ns` (at most once per EQUITY_STEP_NS)."""
        if ts_ns < self._next_sample_ns:
            return
        self._next_sample_ns = (ts_ns // EQUITY_STEP_NS + 1) * EQUITY_STEP_NS
        self.equity.append((ts_ns, self.pnl_1e9(market)))
        nbbo = market.nbbo(symbol) if symbol else None
        if nbbo is not None:
            self.nbbo_points.append((ts_ns, nbbo.bid_px_1e9, nbbo.ask_px_1e9))


def build_report(summary: BacktestSummary, curves: Curves, *, data: list[str]) -> dict[str, Any]:
    traded = summary.bought_qty_1e8 + summary.sold_qty_1e8
    ended = sum(summary.graphs.values())
    statuses = dict(summary.graphs)
    if summary.orders > ended:
        statuses["OPEN"] = summary.orders - ended  # still working when the data (and drain) ended
    return {
        "seed": summary.seed,
        "data": data,
        "market_events": summary.market_events,
        "output_events": summary.events_out,
        "start_ns": summary.first_ts_ns,
        "end_ns": summary.last_ts_ns,
        "orders": summary.orders,
        "orders_by_status": dict(sorted(statuses.items())),
        "fills": summary.fills,
        "filled_qty_1e8": traded,
        "bought_qty_1e8": summary.bought_qty_1e8,
        "sold_qty_1e8": summary.sold_qty_1e8,
        "avg_fill_px_1e9": summary.notional_usd_1e9 * 10**8 // traded if traded else None,
        "notional_usd_1e9": summary.notional_usd_1e9,
        "fees_usd_1e9": summary.fees_usd_1e9,
        "cash_usd_1e9": summary.cash_usd_1e9,
        "pnl_usd_1e9": summary.pnl_usd_1e9,
        "positions_qty_1e8": dict(sorted(summary.position_qty_1e8.items())),
        "implementation_shortfall_ppm": summary.shortfall_ppm,
        "venue_mix": [
            {"venue": v, "fills": t.fills, "qty_1e8": t.qty_1e8, "notional_usd_1e9": t.notional_usd_1e9,
             "fees_usd_1e9": t.fees_usd_1e9, "share_ppm": t.qty_1e8 * 1_000_000 // traded if traded else 0}
            for v, t in sorted(summary.venues.items())
        ],
        "equity": [[t, p] for t, p in curves.equity],
    }


# --- the run --------------------------------------------------------------------------------


@dataclass
class RunResult:
    report: dict[str, Any]
    out: Path


def _validate(orders: list[TimedOrder]) -> None:
    # Name the file's line before the run starts (the run itself names only an index).
    for order in orders:
        try:
            parsed = parse_order_body(order.body, lambda: "0" * 32, force_sandbox=True)
        except GraphError as exc:
            raise BacktestError(f"order on line {order.line}: {exc}") from exc
        if parsed.notional_usd_1e9:
            raise BacktestError(f"order on line {order.line}: sized by notional; backtests need qty for now")


def run_to_dir(
    data: list[Path],
    orders: list[TimedOrder],
    seed: int,
    out: Path,
    *,
    plot: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
    algo: AlgoInput | list[AlgoInput] | None = None,
) -> RunResult:
    """Run a backtest (`replay.backtest.run_backtest`) and write DIR (see the module docstring)."""
    _validate(orders)
    reader = RecordingReader(data)
    total = reader.total
    curves = Curves()
    symbol: list[str] = []
    out.mkdir(parents=True, exist_ok=True)

    def tap(events: Iterable[MdEvent]) -> Iterator[MdEvent]:
        # Sees each market event before the kernel folds it: samples are the state just before.
        market = run.kernel.market
        for n, event in enumerate(events, start=1):
            if not symbol and event.symbol:
                symbol.append(event.symbol)
            curves.sample(event.ts_ns, market, symbol[0] if symbol else None)
            yield event
            if on_progress is not None and n % PROGRESS_EVERY == 0:
                on_progress(n, total)

    algos = [algo] if isinstance(algo, AlgoInput) else list(algo or [])
    factory = None
    if algos:
        from replay.algo import BacktestAlgo

        def factory(clock: Callable[[], int], market: MarketBooks, tenant: str) -> BacktestAlgo:
            return BacktestAlgo([AlgoSpec(a.wasm, a.name, a.targets) for a in algos], clock=clock, market=market,
                                tenant=tenant)

    run = run_backtest(tap(reader), [(o.offset_ns, o.body) for o in orders], seed=seed, tenant=TENANT,
                       drain_ns=DRAIN_NS, algo=factory)
    encoder = msgspec.json.Encoder()
    with (out / EVENTS_FILE).open("wb") as log:
        for seq, event in enumerate(run, start=1):
            log.write(b'{"seq":%d,"subject":%s,"event":' % (seq, encoder.encode(subject_for(event))))
            log.write(encode_json(event))
            log.write(b"}\n")
            curves.on_output(event)
    curves.sample(run.summary.last_ts_ns + EQUITY_STEP_NS, run.kernel.market, symbol[0] if symbol else None)
    report = build_report(run.summary, curves, data=[p.name for p in data])
    if run.algo is not None:
        report["algo"] = run.algo.report()
    (out / REPORT_FILE).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if plot:
        from replay.plot import plot_run

        plot_run(curves, out / PLOT_FILE, symbol=symbol[0] if symbol else "")
    if on_progress is not None:
        on_progress(total, total)
    return RunResult(report, out)
