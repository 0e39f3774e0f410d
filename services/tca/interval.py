"""The market over an order's life, for the interval benchmarks of TWAP/VWAP parents.

Times are the events' `ts_ns` (our hosts' clock, the clock of the order's own events). The
interval is [first accept, completion] (`NodeActivated.ts_ns`, `NodeCompleted.ts_ns`).

* mid of an NBBO = (bid + ask) // 2 (floored, like the API's quote); a one-sided or empty NBBO
  has no mid.
* interval TWAP: each NBBO's mid holds from its `ts_ns` until the next NBBO; the one in force at
  the start is the last at or before it. TWAP = sum(mid * held_ns) / sum(held_ns), rounded half
  up. Time without a mid counts in neither sum. None when no mid held during the interval; for
  an empty interval (start == end) the mid in force at the start.
* interval VWAP: sum(px * qty) / sum(qty) over the market's trades (`md.<venue>.<sym>.trade`)
  with start <= ts_ns <= end, rounded half up; None when no trade printed.

MD is age-bounded, so the TCA service keeps its own record (`MarketTape`): every symbol's mids
and trades for `keep_ns` behind its newest event, and never trimmed past the start of an
interval still open (pinned from its accept until its report is scored).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from events import AnyEvent
from events.market import NbboChanged, TradePrinted
from services.tca.report import half_up

DEFAULT_KEEP_NS = 600 * 10**9  # covers the lag between the MD and LEDGER followers many times over
NodeKey = tuple[str, str]
MidPoint = tuple[int, int | None]  # (ts_ns, mid_1e9 or None when the NBBO is not two-sided)
TradePoint = tuple[int, int, int]  # (ts_ns, px_1e9, qty_1e8)


def nbbo_mid(event: NbboChanged) -> int | None:
    if event.bid_px_1e9 <= 0 or event.ask_px_1e9 <= 0:
        return None
    return (event.bid_px_1e9 + event.ask_px_1e9) // 2


def interval_twap(points: Iterable[MidPoint], start_ns: int, end_ns: int) -> int | None:
    """Time-weighted mid over [start_ns, end_ns] (see the module doc); points in any order."""
    mid: int | None = None  # the mid in force at `since`
    since = start_ns
    weighted = held = 0
    for ts, point_mid in sorted(points, key=lambda p: p[0]):  # stable: log order among equal times
        if ts <= start_ns:
            mid = point_mid
            continue
        if ts > end_ns:
            break
        if mid is not None:
            weighted += mid * (ts - since)
            held += ts - since
        since, mid = ts, point_mid
    if mid is not None and end_ns > since:
        weighted += mid * (end_ns - since)
        held += end_ns - since
    if held == 0:
        return mid if end_ns == start_ns else None
    return half_up(weighted, held)


def interval_vwap(trades: Iterable[TradePoint], start_ns: int, end_ns: int) -> int | None:
    """Volume-weighted trade price over [start_ns, end_ns]; None without trades."""
    gross = volume = 0
    for ts, px, qty in trades:
        if start_ns <= ts <= end_ns:
            gross += px * qty
            volume += qty
    return half_up(gross, volume) if volume > 0 else None


class MarketTape:
    """Per-symbol NBBO mids and market trades, in MD log order (the TCA service's record)."""

    def __init__(self, keep_ns: int = DEFAULT_KEEP_NS) -> None:
        self.keep_ns = keep_ns
        self.mids: dict[str, deque[MidPoint]] = {}
        self.trades: dict[str, deque[TradePoint]] = {}
        self.newest_ns: dict[str, int] = {}
        self.pins: dict[NodeKey, tuple[str, int]] = {}  # open intervals: node -> (symbol, start)

    def apply(self, event: AnyEvent, seq: int = 0) -> None:
        match event:
            case NbboChanged():
                self.mids.setdefault(event.symbol, deque()).append((event.ts_ns, nbbo_mid(event)))
            case TradePrinted() if event.qty_1e8 > 0:
                self.trades.setdefault(event.symbol, deque()).append((event.ts_ns, event.px_1e9, event.qty_1e8))
            case _:
                return
        self.newest_ns[event.symbol] = max(self.newest_ns.get(event.symbol, 0), event.ts_ns)
        self._trim(event.symbol)

    def pin(self, key: NodeKey, symbol: str, start_ns: int) -> None:
        """Keep `symbol`'s record from `start_ns` on until `unpin(key)` (the first pin of a node holds)."""
        self.pins.setdefault(key, (symbol, start_ns))

    def unpin(self, key: NodeKey) -> None:
        self.pins.pop(key, None)

    def benchmarks(self, symbol: str, start_ns: int, end_ns: int) -> tuple[int | None, int | None]:
        """(interval TWAP, interval VWAP) of `symbol` over [start_ns, end_ns]."""
        return (
            interval_twap(self.mids.get(symbol, ()), start_ns, end_ns),
            interval_vwap(self.trades.get(symbol, ()), start_ns, end_ns),
        )

    def _trim(self, symbol: str) -> None:
        cutoff = self.newest_ns[symbol] - self.keep_ns
        for pinned_symbol, start_ns in self.pins.values():
            if pinned_symbol == symbol:
                cutoff = min(cutoff, start_ns)
        mids = self.mids.get(symbol)
        while mids is not None and len(mids) > 1 and mids[1][0] <= cutoff:
            mids.popleft()  # the mid in force at the cutoff stays
        trades = self.trades.get(symbol)
        while trades and trades[0][0] < cutoff:
            trades.popleft()
