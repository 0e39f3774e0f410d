"""A deterministic, live-looking market for one symbol: random-walk mid, realistic depth."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from decimal import Decimal

from services.edges.book import L2Book, RawLevel


@dataclass(frozen=True, slots=True)
class SimInstrument:
    symbol: str  # canonical symbol
    mid_px_1e9: int
    tick_1e9: int
    lot_1e8: int
    depth: int = 25
    base_qty_1e8: int = 50_000_000  # typical size near the top


@dataclass(frozen=True, slots=True)
class SimTrade:
    px_1e9: int
    qty_1e8: int
    aggressor: str
    trade_id: int


@dataclass(frozen=True, slots=True)
class SimFunding:
    """A perp's funding as a venue would print it: rate per interval, mark, index, next time."""

    rate_1e9: int  # signed fraction x 1e9
    mark_px_1e9: int
    index_px_1e9: int
    next_funding_ms: int

    @property
    def rate_text(self) -> str:
        return format(Decimal(self.rate_1e9).scaleb(-9), "f")


BASE_FUNDING_1E9 = 100_000  # 0.01% per interval: the usual resting rate of USDT perps
MAX_FUNDING_1E9 = 7_500_000  # 0.75% cap


class SimMarket:
    """The server's true book. `step()` mutates it and returns the absolute level changes."""

    def __init__(self, instrument: SimInstrument, seed: int) -> None:
        self.instrument = instrument
        self.rng = random.Random(seed)
        self.book = L2Book()
        self.trade_seq = 0
        # Every venue quoting a symbol follows one shared, mean-reverting anchor path (seeded by
        # the symbol), so simulated venues stay within a few ticks of each other like real ones.
        self.anchor_rng = random.Random(zlib.crc32(instrument.symbol.encode()))
        self.anchor_cbps = 0  # anchor offset from the base price, in 1/100 bp
        self.anchor_steps = 0
        self.base_px_1e9 = _two_significant_digits(instrument.mid_px_1e9)
        self.offset_ticks = self.rng.randint(-1, 1)
        self.mid_ticks = self._target_ticks()
        self.last_trade: SimTrade | None = None
        self._reset_book()

    def _target_ticks(self) -> int:
        px = self.base_px_1e9 + self.base_px_1e9 * self.anchor_cbps // 1_000_000
        return px // self.instrument.tick_1e9 + self.offset_ticks

    def _size(self, distance: int) -> int:
        inst = self.instrument
        lots = max(1, int(inst.base_qty_1e8 * (1 + distance * 0.35) * self.rng.uniform(0.3, 1.7)) // inst.lot_1e8)
        return lots * inst.lot_1e8

    def _reset_book(self) -> None:
        inst = self.instrument
        self.book.clear()
        for i in range(inst.depth):
            self.book.set_bid(RawLevel((self.mid_ticks - 1 - i) * inst.tick_1e9, self._size(i)))
            self.book.set_ask(RawLevel((self.mid_ticks + 1 + i) * inst.tick_1e9, self._size(i)))

    def step(self, n_changes: int = 4, anchor_step: int | None = None) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Advance the market one tick; return (bid changes, ask changes) as absolute sizes.

        `anchor_step` (a shared time index from the server) keeps every venue's anchor on the
        same point of the path even when one server ticks slower than another."""
        inst = self.instrument
        tick = inst.tick_1e9
        bids: dict[int, int] = {}
        asks: dict[int, int] = {}
        target_step = self.anchor_steps + 1 if anchor_step is None else anchor_step
        while self.anchor_steps < target_step:
            self.anchor_cbps += self.anchor_rng.randint(-4, 4) - self.anchor_cbps // 300
            self.anchor_steps += 1
        gap = self._target_ticks() - self.mid_ticks
        drift = max(-50, min(50, gap))  # follow the shared anchor closely, whatever the tick size
        if drift:
            self.mid_ticks += drift
            best_bid = (self.mid_ticks - 1) * tick
            best_ask = (self.mid_ticks + 1) * tick
            # Clear levels the new mid crossed; add fresh ones at the inside.
            for px, _ in self.book.bids():
                if px >= best_ask or px > best_bid:
                    bids[px] = 0
            for px, _ in self.book.asks():
                if px <= best_bid or px < best_ask:
                    asks[px] = 0
            for px, q in bids.items():
                self.book.set_bid(RawLevel(px, q))
            for px, q in asks.items():
                self.book.set_ask(RawLevel(px, q))
            # Refill the side the move thinned, so both sides keep their full depth.
            for i in range(inst.depth):
                px = (self.mid_ticks - 1 - i) * tick
                if not self.book.bid_qty(px):
                    bids[px] = self._size(i)
                    self.book.set_bid(RawLevel(px, bids[px]))
                px = (self.mid_ticks + 1 + i) * tick
                if not self.book.ask_qty(px):
                    asks[px] = self._size(i)
                    self.book.set_ask(RawLevel(px, asks[px]))
        for _ in range(n_changes):
            distance = min(int(self.rng.expovariate(0.25)), inst.depth - 1)
            if self.rng.random() < 0.5:
                px = (self.mid_ticks - 1 - distance) * tick
                q = 0 if (distance > 2 and self.rng.random() < 0.15) else self._size(distance)
                bids[px] = q
                self.book.set_bid(RawLevel(px, q))
            else:
                px = (self.mid_ticks + 1 + distance) * tick
                q = 0 if (distance > 2 and self.rng.random() < 0.15) else self._size(distance)
                asks[px] = q
                self.book.set_ask(RawLevel(px, q))
        # Keep depth bounded: drop levels that drifted out of range.
        for px, _ in self.book.bids()[inst.depth + 5 :]:
            bids[px] = 0
            self.book.set_bid(RawLevel(px, 0))
        for px, _ in self.book.asks()[inst.depth + 5 :]:
            asks[px] = 0
            self.book.set_ask(RawLevel(px, 0))
        self.last_trade = None
        if self.rng.random() < 0.3:
            self.trade_seq += 1
            buy = self.rng.random() < 0.5
            top = self.book.best_ask() if buy else self.book.best_bid()
            if top:
                qty = max(inst.lot_1e8, (top[1] // 3) // inst.lot_1e8 * inst.lot_1e8)
                self.last_trade = SimTrade(top[0], qty, "buy" if buy else "sell", self.trade_seq)
        return sorted(bids.items(), reverse=True), sorted(asks.items())

    def funding(self, now_ms: int, interval_ms: int) -> SimFunding:
        """Funding from the mark's premium over the index (the shared anchor path): the resting
        rate plus an eighth of the premium, capped, settling on the next interval boundary."""
        tick = self.instrument.tick_1e9
        bid, ask = self.book.best_bid(), self.book.best_ask()
        mark = (bid[0] + ask[0]) // 2 // tick * tick if bid and ask else self.mid_ticks * tick
        index = self._target_ticks() * tick
        premium_1e9 = (mark - index) * 10**9 // index if index else 0
        rate = max(-MAX_FUNDING_1E9, min(MAX_FUNDING_1E9, BASE_FUNDING_1E9 + premium_1e9 // 8))
        return SimFunding(rate, mark, index, (now_ms // interval_ms + 1) * interval_ms)


def _two_significant_digits(px_1e9: int) -> int:
    magnitude = 10 ** max(len(str(px_1e9)) - 2, 0)
    return (px_1e9 + magnitude // 2) // magnitude * magnitude
