"""One symbol's displayed book plus the liquidity the sandbox has already taken from it.

A sandbox order never reaches the real venue, so the real book does not shrink after we
"trade". Without bookkeeping, two market orders against the same book state would both take
the same level. `consumed` remembers what we took per level until a later book update changes
that level's size (the venue's view of it moved, so the old accounting no longer applies).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.edges.sandbox.errors import InvalidBookUpdate

BookSide = Literal["bid", "ask"]


@dataclass(frozen=True, slots=True)
class LevelChange:
    """A level whose displayed size changed; `traded_qty_1e8` is the trade volume printed at
    that level since its previous change (it explains part of a decrease)."""

    side: BookSide
    px_1e9: int
    old_qty_1e8: int
    new_qty_1e8: int
    traded_qty_1e8: int


class SymbolLiquidity:
    """Displayed levels, consumed quantities and traded volume per level, for one symbol."""

    __slots__ = ("consumed", "has_book", "levels", "stale", "traded", "ts_ns")

    def __init__(self) -> None:
        self.levels: dict[BookSide, dict[int, int]] = {"bid": {}, "ask": {}}
        self.consumed: dict[BookSide, dict[int, int]] = {"bid": {}, "ask": {}}
        self.traded: dict[BookSide, dict[int, int]] = {"bid": {}, "ask": {}}
        self.ts_ns = 0
        self.stale = False
        self.has_book = False

    # --- updates ----------------------------------------------------------------------------
    def apply(
        self,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        *,
        snapshot: bool,
        ts_ns: int,
        truncate_depth: int = 0,
    ) -> list[LevelChange]:
        """Apply a full snapshot (replace) or absolute deltas (size 0 deletes); return changes."""
        changes: list[LevelChange] = []
        for side, levels in (("bid", bids), ("ask", asks)):
            new = _checked(side, levels)
            book_side: BookSide = "bid" if side == "bid" else "ask"
            if snapshot:
                old_book = self.levels[book_side]
                for px in old_book.keys() - new.keys():
                    self._set(book_side, px, 0, changes)
            for px, qty in new.items():
                self._set(book_side, px, qty, changes)
            if truncate_depth > 0:
                for px in self.sorted_prices(book_side)[truncate_depth:]:
                    self._set(book_side, px, 0, changes)
        self.ts_ns = ts_ns
        self.has_book = True
        if snapshot:
            self.stale = False  # a snapshot is a resync: the book is whole again
        return changes

    def _set(self, side: BookSide, px: int, qty: int, changes: list[LevelChange]) -> None:
        book = self.levels[side]
        old = book.get(px, 0)
        if old == qty:
            return
        if qty:
            book[px] = qty
        else:
            del book[px]
        self.consumed[side].pop(px, None)
        traded = self.traded[side].pop(px, 0)
        changes.append(LevelChange(side, px, old, qty, traded))

    def note_trade(self, side: BookSide, px_1e9: int, qty_1e8: int) -> None:
        """Remember volume that traded against a displayed level until that level changes."""
        if px_1e9 in self.levels[side]:  # volume at an absent level explains no later shrinkage
            self.traded[side][px_1e9] = self.traded[side].get(px_1e9, 0) + qty_1e8

    # --- reads ------------------------------------------------------------------------------
    def sorted_prices(self, side: BookSide) -> list[int]:
        """Return the side's prices best first."""
        return sorted(self.levels[side], reverse=(side == "bid"))

    def best(self, side: BookSide) -> int | None:
        book = self.levels[side]
        if not book:
            return None
        return max(book) if side == "bid" else min(book)

    def displayed(self, side: BookSide, px_1e9: int) -> int:
        return self.levels[side].get(px_1e9, 0)

    def available(self, side: BookSide, px_1e9: int) -> int:
        return max(0, self.levels[side].get(px_1e9, 0) - self.consumed[side].get(px_1e9, 0))

    def available_within(self, side: BookSide, limit_px_1e9: int | None) -> int:
        """Return untaken size at prices no worse than the limit for a taker of `side`."""
        return sum(self.available(side, px) for px in self.levels[side] if _within(side, px, limit_px_1e9))

    # --- taking -----------------------------------------------------------------------------
    def take(self, side: BookSide, qty_1e8: int, limit_px_1e9: int | None) -> list[tuple[int, int]]:
        """Take up to `qty_1e8` from `side`, best level first, never past the limit.

        Returns (px_1e9, qty_1e8) per level touched and records it as consumed.
        """
        taken: list[tuple[int, int]] = []
        left = qty_1e8
        for px in self.sorted_prices(side):
            if left == 0 or not _within(side, px, limit_px_1e9):
                break
            q = min(left, self.available(side, px))
            if q == 0:
                continue
            self.consumed[side][px] = self.consumed[side].get(px, 0) + q
            taken.append((px, q))
            left -= q
        return taken


def _within(side: BookSide, px_1e9: int, limit_px_1e9: int | None) -> bool:
    # A buyer takes asks at or below its limit; a seller takes bids at or above it.
    if limit_px_1e9 is None:
        return True
    return px_1e9 <= limit_px_1e9 if side == "ask" else px_1e9 >= limit_px_1e9


def _checked(side: str, levels: Iterable[tuple[int, int]]) -> dict[int, int]:
    out: dict[int, int] = {}
    for px, qty in levels:
        if px <= 0:
            raise InvalidBookUpdate(f"{side} level px_1e9={px} is not positive")
        if qty < 0:
            raise InvalidBookUpdate(f"{side} level px_1e9={px} has negative qty_1e8={qty}")
        out[px] = qty
    return out
