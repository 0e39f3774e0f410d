"""A synthetic L2 market for tests and benchmarks: seeded, consistent books on a few venues.

Each venue starts with a snapshot `depth` levels deep on each side of its mid (spread two
ticks); then, one event per `step_ns`: mostly a size change at one of the top levels, sometimes a
public trade at the touch followed by the delta that consumes it, sometimes the mid moving one
tick (the touch on one side goes, a level joins the other). Same arguments, same events.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from events import AnyEvent
from events.market import BookDeltaBatch, BookSnapshot, TradePrinted

START_NS = 1_800_000_000_000_000_000
BTC_1E8 = 10**8


def synthetic_l2(
    *,
    events: int,
    seed: int = 1,
    venues: Sequence[str] = ("binance", "okx"),
    symbol: str = "BTC-USDT",
    start_ns: int = START_NS,
    step_ns: int = 1_000_000,
    mid_px_1e9: int = 100_000 * 10**9,
    tick_1e9: int = 10**8,
    depth: int = 10,
    trade_ratio_pct: int = 10,
    move_ratio_pct: int = 5,
) -> Iterator[AnyEvent]:
    """Yield `events` market events (the snapshots included), time-ordered."""
    rng = random.Random(seed)
    books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}
    ts = start_ns
    n = 0

    def size() -> int:
        return rng.randint(1, 200) * BTC_1E8 // 100  # 0.01 .. 2 BTC

    for venue in venues:
        bids = {mid_px_1e9 - tick_1e9 * i: size() for i in range(1, depth + 1)}
        asks = {mid_px_1e9 + tick_1e9 * i: size() for i in range(1, depth + 1)}
        books[venue] = (bids, asks)
        if n < events:
            yield BookSnapshot(event_id=f"md-{n}", ts_ns=ts, ts_recv_ns=ts, venue=venue, symbol=symbol,
                               bids=sorted(bids.items(), reverse=True), asks=sorted(asks.items()))
            n += 1
    while n < events:
        ts += step_ns
        venue = venues[rng.randrange(len(venues))]
        bids, asks = books[venue]
        roll = rng.randrange(100)
        if roll < trade_ratio_pct and n + 1 < events:
            buy = rng.random() < 0.5
            side = asks if buy else bids
            px = min(side) if buy else max(side)
            qty = min(side[px], rng.randint(1, 50) * BTC_1E8 // 100)
            yield TradePrinted(event_id=f"md-{n}", ts_ns=ts, ts_recv_ns=ts, venue=venue, symbol=symbol, px_1e9=px,
                               qty_1e8=qty, aggressor="buy" if buy else "sell")
            left = side[px] - qty or size()  # an emptied touch is refilled at once (it keeps the level)
            side[px] = left
            level = [(px, left)]
            yield BookDeltaBatch(event_id=f"md-{n + 1}", ts_ns=ts, ts_recv_ns=ts, venue=venue, symbol=symbol,
                                 bids=[] if buy else level, asks=level if buy else [])
            n += 2
        elif roll < trade_ratio_pct + move_ratio_pct:
            up = rng.random() < 0.5
            best_bid, best_ask = max(bids), min(asks)
            if up:  # the ask touch goes, a bid joins one tick above the old one
                del asks[best_ask]
                new_ask = max(asks) + tick_1e9
                asks[new_ask] = size()
                bids[best_bid + tick_1e9] = size()
                gone_bid = min(bids)
                del bids[gone_bid]
                bid_levels = [(best_bid + tick_1e9, bids[best_bid + tick_1e9]), (gone_bid, 0)]
                ask_levels = [(best_ask, 0), (new_ask, asks[new_ask])]
            else:
                del bids[best_bid]
                new_bid = min(bids) - tick_1e9
                bids[new_bid] = size()
                asks[best_ask - tick_1e9] = size()
                gone_ask = max(asks)
                del asks[gone_ask]
                bid_levels = [(best_bid, 0), (new_bid, bids[new_bid])]
                ask_levels = [(best_ask - tick_1e9, asks[best_ask - tick_1e9]), (gone_ask, 0)]
            yield BookDeltaBatch(event_id=f"md-{n}", ts_ns=ts, ts_recv_ns=ts, venue=venue, symbol=symbol,
                                 bids=bid_levels, asks=ask_levels)
            n += 1
        else:
            side = bids if rng.random() < 0.5 else asks
            ordered = sorted(side, reverse=side is bids)
            px = ordered[min(int(rng.expovariate(0.5)), len(ordered) - 1)]  # mostly near the touch
            side[px] = size()
            level = [(px, side[px])]
            yield BookDeltaBatch(event_id=f"md-{n}", ts_ns=ts, ts_recv_ns=ts, venue=venue, symbol=symbol,
                                 bids=level if side is bids else [], asks=[] if side is bids else level)
            n += 1
