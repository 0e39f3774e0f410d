"""An L2 book keyed by integer price, best-first iteration, optional raw strings for checksums."""

from __future__ import annotations

from typing import NamedTuple

from sortedcontainers import SortedDict


class RawLevel(NamedTuple):
    """One parsed level: fixed-point values plus the exact wire text (checksums need it)."""

    px_1e9: int
    qty_1e8: int
    raw_px: str = ""
    raw_qty: str = ""


class NegativeSizeError(ValueError):
    pass


class L2Book:
    """Bids and asks as `px_1e9 -> qty_1e8`; a size of 0 removes the level.

    Bids are stored under the negated price so both sides iterate best-first.
    When `keep_raw` is set the venue's own price/size text is kept per level.
    """

    __slots__ = ("_bids", "_asks", "_raw_bids", "_raw_asks", "keep_raw")

    def __init__(self, keep_raw: bool = False) -> None:
        self._bids: SortedDict = SortedDict()
        self._asks: SortedDict = SortedDict()
        self._raw_bids: dict[int, tuple[str, str]] = {}
        self._raw_asks: dict[int, tuple[str, str]] = {}
        self.keep_raw = keep_raw

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._raw_bids.clear()
        self._raw_asks.clear()

    def set_bid(self, level: RawLevel) -> None:
        px, qty = level.px_1e9, level.qty_1e8
        if qty:
            self._bids[-px] = qty
            if self.keep_raw:
                self._raw_bids[px] = (level.raw_px, level.raw_qty)
        else:
            self._bids.pop(-px, None)
            if self.keep_raw:
                self._raw_bids.pop(px, None)

    def set_ask(self, level: RawLevel) -> None:
        px, qty = level.px_1e9, level.qty_1e8
        if qty:
            self._asks[px] = qty
            if self.keep_raw:
                self._raw_asks[px] = (level.raw_px, level.raw_qty)
        else:
            self._asks.pop(px, None)
            if self.keep_raw:
                self._raw_asks.pop(px, None)

    def add_bid(self, px_1e9: int, delta_1e8: int) -> int:
        """Apply a signed size change (Kalshi); return the new size."""
        new = self._bids.get(-px_1e9, 0) + delta_1e8
        if new < 0:
            raise NegativeSizeError(f"bid {px_1e9} would go negative: {new}")
        self.set_bid(RawLevel(px_1e9, new))
        return new

    def add_ask(self, px_1e9: int, delta_1e8: int) -> int:
        new = self._asks.get(px_1e9, 0) + delta_1e8
        if new < 0:
            raise NegativeSizeError(f"ask {px_1e9} would go negative: {new}")
        self.set_ask(RawLevel(px_1e9, new))
        return new

    def bid_qty(self, px_1e9: int) -> int:
        return self._bids.get(-px_1e9, 0)

    def ask_qty(self, px_1e9: int) -> int:
        return self._asks.get(px_1e9, 0)

    def bids(self, n: int | None = None) -> list[tuple[int, int]]:
        items = self._bids.items() if n is None else self._bids.items()[:n]
        return [(-k, v) for k, v in items]

    def asks(self, n: int | None = None) -> list[tuple[int, int]]:
        items = self._asks.items() if n is None else self._asks.items()[:n]
        return list(items)

    def raw_bids(self, n: int) -> list[tuple[str, str]]:
        return [self._raw_bids[-k] for k in self._bids.keys()[:n]]

    def raw_asks(self, n: int) -> list[tuple[str, str]]:
        return [self._raw_asks[k] for k in self._asks.keys()[:n]]

    def best_bid(self) -> tuple[int, int] | None:
        if not self._bids:
            return None
        k, v = self._bids.peekitem(0)
        return -k, v

    def best_ask(self) -> tuple[int, int] | None:
        if not self._asks:
            return None
        return self._asks.peekitem(0)

    def is_crossed(self) -> bool:
        if not self._bids or not self._asks:
            return False
        return -self._bids.peekitem(0)[0] >= self._asks.peekitem(0)[0]

    def truncate(self, depth: int) -> None:
        """Drop levels beyond `depth` on each side (venues that stop sending deletes past it)."""
        while len(self._bids) > depth:
            k, _ = self._bids.popitem(-1)
            self._raw_bids.pop(-k, None)
        while len(self._asks) > depth:
            k, _ = self._asks.popitem(-1)
            self._raw_asks.pop(k, None)

    def depth(self) -> tuple[int, int]:
        return len(self._bids), len(self._asks)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, L2Book):
            return NotImplemented
        return self.bids() == other.bids() and self.asks() == other.asks()

    def __repr__(self) -> str:
        return f"L2Book(bids={self.bids(3)}..., asks={self.asks(3)}..., depth={self.depth()})"
