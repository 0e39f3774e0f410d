"""The simulated venue: fills child orders against the venue's real current book.

Matching rules (adversarial on purpose, so sandbox results never flatter a strategy):
- Takers walk the opposite side level by level at each level's own price, never past their
  limit, and only take size the sandbox has not already taken from that level (`liquidity.py`).
- A resting order joins the back of its price level: `queue_ahead` = displayed size there
  (0 when the price improves on the book). Trades at its price eat the queue first; only the
  excess fills it. A level shrinking beyond the traded volume (cancels) advances the queue by
  the order's proportional share, rounded down; the queue never exceeds the displayed size.
- A trade through the order's price, or an opposite book that crosses it, fills it as maker at
  its own limit price (never the better book price) up to the traded / crossing size.
- An order reaches the venue at `now_ns + latency`; market data stamped earlier cannot fill it.
Known simplifications: the taker part of an order matches the book known at `now_ns` (the
book's motion during the latency window is not replayed); cancels take effect at once; our own
resting orders are not in the displayed book, so our takers never self-match.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, TypeVar

from events.market import BookDeltaBatch, BookSnapshot, TradePrinted, VenueStatusChanged, covers
from events.venues import PERP_SUFFIX
from services.edges.sandbox import ids
from services.edges.sandbox.errors import SandboxError
from services.edges.sandbox.fees import FeeSchedule, fee_usd_1e9
from services.edges.sandbox.liquidity import BookSide, LevelChange, SymbolLiquidity
from services.edges.sandbox.orders import (
    Acked,
    Amended,
    Cancelled,
    Filled,
    Liquidity,
    OpenOrder,
    OrderStatus,
    Outcome,
    Rejected,
    SandboxOrder,
    Side,
)
from services.refdata import split_symbol
from services.risk.money import usd_to_quote_qty_up

MarketEvent = BookSnapshot | BookDeltaBatch | TradePrinted | VenueStatusChanged
_O = TypeVar("_O", Acked, Filled, Rejected, Cancelled, Amended)


@dataclass(slots=True)
class _Order:
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    limit_px_1e9: int | None
    qty_1e8: int
    active_from_ns: int
    seq: int  # time priority among our own orders
    filled_1e8: int = 0
    queue_ahead_1e8: int = 0
    fills: int = 0
    status: OrderStatus = "open"
    post_only: bool = False  # kept across a cancel-replace

    @property
    def remaining_1e8(self) -> int:
        return self.qty_1e8 - self.filled_1e8

    def priority(self) -> tuple[int, int]:
        px = self.limit_px_1e9 or 0
        return (-px if self.side == "buy" else px, self.seq)


def _own_level(side: Side) -> BookSide:
    return "bid" if side == "buy" else "ask"


def _opposite(side: Side) -> BookSide:
    return "ask" if side == "buy" else "bid"


class SandboxVenue:
    """One venue's simulated order transport. Feed it the venue's market data, send it orders.

    `latency_ns` (+ a uniform draw in [0, jitter_ns] from `rng` per request) is the one-way
    order-entry latency. `max_book_age_ns` rejects orders when the book is older than that.
    `symbols`, when given, is the venue's listing: other symbols are `unknown_symbol`.
    `native_amend` False makes every amend a cancel-replace (venues without an amend call).
    """

    def __init__(
        self,
        venue: str,
        fees: FeeSchedule,
        latency_ns: int,
        rng: random.Random,
        *,
        jitter_ns: int = 0,
        max_book_age_ns: int | None = None,
        symbols: Iterable[str] | None = None,
        native_amend: bool = True,
        perp_fees: FeeSchedule | None = None,
    ) -> None:
        if fees.venue != venue:
            raise SandboxError(f"fee schedule venue={fees.venue!r} does not match venue={venue!r}")
        if latency_ns < 0 or jitter_ns < 0:
            raise SandboxError(f"latency_ns={latency_ns} and jitter_ns={jitter_ns} must be >= 0")
        if max_book_age_ns is not None and max_book_age_ns <= 0:
            raise SandboxError(f"max_book_age_ns={max_book_age_ns} must be positive")
        self.venue = venue
        self.fees = fees
        self.perp_fees = perp_fees or fees  # the venue's perps (`-PERP` symbols), where priced apart
        self.latency_ns = latency_ns
        self.jitter_ns = jitter_ns
        self.max_book_age_ns = max_book_age_ns
        self.native_amend = native_amend
        self._rng = rng
        self._listed = frozenset(symbols) if symbols is not None else None
        self._books: dict[str, SymbolLiquidity] = {}
        self._orders: dict[str, _Order] = {}
        self._resting: dict[str, dict[str, _Order]] = {}
        self._history: dict[str, list[Outcome]] = {}
        # What a request answered, replayed verbatim on a retry (idempotency).
        self._submitted: dict[str, tuple[Outcome, ...]] = {}
        self._replaced: dict[str, tuple[int, int, tuple[Outcome, ...]]] = {}
        self._seq = 0

    # --- market data ------------------------------------------------------------------------
    def on_book(
        self,
        symbol: str,
        bids: Iterable[tuple[int, int]],
        asks: Iterable[tuple[int, int]],
        ts_ns: int,
        *,
        snapshot: bool = True,
        truncate_depth: int = 0,
    ) -> list[Outcome]:
        """Apply a snapshot (replace) or absolute deltas; return fills of resting orders.

        `ts_ns` must be on the same clock as `now_ns` (our receive time, not the venue's).
        """
        book = self._books.setdefault(symbol, SymbolLiquidity())
        changes = book.apply(bids, asks, snapshot=snapshot, ts_ns=ts_ns, truncate_depth=truncate_depth)
        resting = self._resting.get(symbol)
        if not resting:
            return []
        self._advance_queues(resting, changes, ts_ns)
        if book.stale:
            return []
        return self._fill_crossed(symbol, book, ts_ns)

    def on_trade(
        self, symbol: str, px_1e9: int, qty_1e8: int, aggressor: Literal["buy", "sell", "unknown"], ts_ns: int
    ) -> list[Outcome]:
        """Record a public trade; return fills of resting orders it reached."""
        if qty_1e8 <= 0 or px_1e9 <= 0:
            raise SandboxError(f"trade px_1e9={px_1e9} qty_1e8={qty_1e8} must be positive")
        book = self._books.get(symbol)
        hit = self._hit_side(book, px_1e9, aggressor)
        if book is not None and hit is not None:
            book.note_trade(hit, px_1e9, qty_1e8)
        resting = self._resting.get(symbol)
        if not resting:
            return []
        if hit is None:
            return []  # an unknown aggressor inside the spread: no side can claim it
        side: Side = "buy" if hit == "bid" else "sell"  # a sell aggressor only meets resting buys
        out: list[Outcome] = []
        passing = qty_1e8
        reached = [o for o in resting.values() if o.side == side and ts_ns >= o.active_from_ns and _reaches(o, px_1e9)]
        for order in sorted(reached, key=_Order.priority):
            if passing == 0:
                break
            if order.limit_px_1e9 == px_1e9:
                ahead = min(order.queue_ahead_1e8, passing)
                order.queue_ahead_1e8 -= ahead
                q = min(order.remaining_1e8, passing - ahead)
            else:  # traded through our price: our whole level went first
                order.queue_ahead_1e8 = 0
                q = min(order.remaining_1e8, passing)
            if q:
                out.append(self._maker_fill(order, q, ts_ns))
                passing -= q
        return out

    def needs_market(self, symbol: str) -> bool:
        """Whether the next book update or trade of `symbol` can change an outcome: an order
        rests there, or liquidity the sandbox took is remembered until its level changes."""
        book = self._books.get(symbol)
        if book is None:
            return False
        consumed = book.consumed
        return bool(self._resting.get(symbol) or consumed["bid"] or consumed["ask"])

    def resync(
        self, symbol: str, bids: Iterable[tuple[int, int]], asks: Iterable[tuple[int, int]], ts_ns: int
    ) -> None:
        """Catch up a book that was not fed while nothing depended on it (`needs_market` False):
        replace it with the current levels; volume traded before now explains no later change."""
        book = self._books.setdefault(symbol, SymbolLiquidity())
        book.apply(bids, asks, snapshot=True, ts_ns=ts_ns)
        book.traded["bid"].clear()
        book.traded["ask"].clear()

    def set_stale(self, symbol: str, stale: bool = True) -> None:
        """Mark a book stale (no orders, no fills) until cleared or a snapshot arrives."""
        self._books.setdefault(symbol, SymbolLiquidity()).stale = stale

    def on_event(self, event: MarketEvent) -> list[Outcome]:
        """Feed one `md.*` event of this venue (others are ignored); return resting fills."""
        if event.venue != self.venue:
            return []
        match event:
            case BookSnapshot() | BookDeltaBatch():
                return self.on_book(
                    event.symbol,
                    event.bids,
                    event.asks,
                    event.ts_recv_ns or event.ts_ns,
                    snapshot=isinstance(event, BookSnapshot),
                    truncate_depth=event.truncate_depth,
                )
            case TradePrinted():
                return self.on_trade(
                    event.symbol, event.px_1e9, event.qty_1e8, event.aggressor, event.ts_recv_ns or event.ts_ns
                )
            case VenueStatusChanged():
                if event.state != "connected":
                    # A venue-wide change covers only its edge's instruments (spot or perps).
                    covered = [s for s in self._books if covers(event, s)]
                    for symbol in [event.symbol] if event.symbol else covered:
                        self.set_stale(symbol)
                return []
        return []  # other md.* facts (funding) move no book

    # --- order entry ------------------------------------------------------------------------
    def submit(self, order: SandboxOrder, now_ns: int) -> list[Outcome]:
        """Place an order; a repeated client_order_id returns the first answer, nothing new."""
        seen = self._submitted.get(order.client_order_id)
        if seen is not None:
            return list(seen)
        ts = now_ns + self._latency()
        out = self._place(order, now_ns, ts)
        self._submitted[order.client_order_id] = tuple(out)
        return out

    def cancel(self, client_order_id: str, now_ns: int) -> list[Outcome]:
        """Cancel an open order: Cancelled(remaining), or Rejected if unknown or already final."""
        ts = now_ns + self._latency()
        order = self._orders.get(client_order_id)
        refusal = self._refuse_change(client_order_id, order, ts)
        if refusal is not None:
            return [refusal]
        assert order is not None
        return [self._close(order, "cancelled", "user", ts)]

    def amend(
        self,
        client_order_id: str,
        new_qty_1e8: int,
        new_px_1e9: int | None,
        now_ns: int,
        *,
        new_client_order_id: str | None = None,
    ) -> list[Outcome]:
        """Change an open order's total quantity and/or price.

        A pure size decrease is `native_atomic` and keeps queue priority (when the venue amends
        natively). Anything else is `cancel_replace`: [Cancelled(old), Amended, Acked(new),
        Filled(new)...] with the replacement at the back of its level.
        """
        order = self._orders.get(client_order_id)
        if order is not None and order.status == "replaced":
            qty, px, answer = self._replaced[client_order_id]
            if (qty, px) == (new_qty_1e8, new_px_1e9 if new_px_1e9 is not None else px):
                return list(answer)  # a retry of the amend that replaced it
        ts = now_ns + self._latency()
        refusal = self._refuse_change(client_order_id, order, ts)
        if refusal is not None:
            return [refusal]
        assert order is not None and order.limit_px_1e9 is not None
        px = order.limit_px_1e9 if new_px_1e9 is None else new_px_1e9
        if new_qty_1e8 <= order.filled_1e8 or px <= 0:
            why = f"new_qty_1e8={new_qty_1e8} filled_qty_1e8={order.filled_1e8} new_px_1e9={px}"
            return [self._record(Rejected(client_order_id, "invalid_order", why, ts))]
        if self.native_amend and px == order.limit_px_1e9 and new_qty_1e8 <= order.qty_1e8:
            order.qty_1e8 = new_qty_1e8
            amended = Amended(client_order_id, order.venue_order_id, new_qty_1e8, px, "native_atomic", None, ts)
            return [self._record(amended)]
        refusal = self._refuse_book(client_order_id, order.symbol, now_ns, ts)
        if refusal is not None:
            return [self._record(refusal)]
        new_id = new_client_order_id or ids.replacement_client_order_id(client_order_id, self.venue)
        if new_id in self._orders or new_id in self._submitted:
            why = f"new_client_order_id={new_id!r} is already in use"
            return [self._record(Rejected(client_order_id, "invalid_order", why, ts))]
        filled = order.filled_1e8
        out: list[Outcome] = [self._close(order, "replaced", "replaced", ts)]
        out.append(
            self._record(Amended(client_order_id, order.venue_order_id, new_qty_1e8, px, "cancel_replace", new_id, ts))
        )
        replacement = SandboxOrder(new_id, order.symbol, order.side, new_qty_1e8 - filled, "limit", px, "gtc",
                                   post_only=order.post_only)
        out += self._place(replacement, now_ns, ts)
        self._submitted[new_id] = tuple(out)
        self._replaced[client_order_id] = (new_qty_1e8, px, tuple(out))
        return out

    # --- reads ------------------------------------------------------------------------------
    def open_orders(self, symbol: str | None = None) -> list[OpenOrder]:
        """Return resting orders, best priority first per symbol and side."""
        books = [symbol] if symbol is not None else sorted(self._resting)
        out = []
        for sym in books:
            for o in sorted(self._resting.get(sym, {}).values(), key=lambda o: (o.side, o.priority())):
                assert o.limit_px_1e9 is not None
                out.append(
                    OpenOrder(
                        o.client_order_id,
                        o.venue_order_id,
                        o.symbol,
                        o.side,
                        o.limit_px_1e9,
                        o.qty_1e8,
                        o.filled_1e8,
                        o.queue_ahead_1e8,
                        o.active_from_ns,
                    )
                )
        return out

    def level_qty(self, symbol: str, side: BookSide, px_1e9: int) -> int:
        """Return the displayed size at one price (0 when absent or no book)."""
        book = self._books.get(symbol)
        return book.displayed(side, px_1e9) if book is not None else 0

    def best_px(self, symbol: str, side: BookSide) -> int | None:
        """Return the best displayed price of one side, or None."""
        book = self._books.get(symbol)
        return book.best(side) if book is not None else None

    def history(self, client_order_id: str) -> tuple[Outcome, ...]:
        """Return every outcome ever reported for a client order id (for reconciliation)."""
        return tuple(self._history.get(client_order_id, ()))

    def remembered(self) -> int:
        """How many order records it holds (open orders, answers kept for retries, history)."""
        return len(self._orders) + len(self._submitted) + len(self._history) + len(self._replaced)

    def forget(self, client_order_id: str) -> bool:
        """Drop a final order's records to bound memory; False if it is open or unknown.

        Call it only once a retry of that id can no longer arrive (after the bus's dedup window):
        a forgotten id is new again.
        """
        order = self._orders.get(client_order_id)
        if order is not None and order.status == "open":
            return False
        known = client_order_id in self._submitted or client_order_id in self._history
        for table in (self._orders, self._submitted, self._replaced, self._history):
            table.pop(client_order_id, None)
        return known

    # --- internals --------------------------------------------------------------------------
    def _latency(self) -> int:
        if self.jitter_ns == 0:
            return self.latency_ns
        return self.latency_ns + self._rng.randint(0, self.jitter_ns)

    def _record(self, outcome: _O) -> _O:
        self._history.setdefault(outcome.client_order_id, []).append(outcome)
        return outcome

    def _refuse_book(self, coid: str, symbol: str, now_ns: int, ts: int) -> Rejected | None:
        if self._listed is not None and symbol not in self._listed:
            return Rejected(coid, "unknown_symbol", f"symbol={symbol!r} is not listed on {self.venue}", ts)
        book = self._books.get(symbol)
        if book is None or not book.has_book:
            return Rejected(coid, "no_book", f"no book for symbol={symbol!r} on {self.venue}", ts)
        if book.stale:
            return Rejected(coid, "stale_book", f"book for symbol={symbol!r} is marked stale", ts)
        if self.max_book_age_ns is not None and now_ns - book.ts_ns > self.max_book_age_ns:
            age = now_ns - book.ts_ns
            return Rejected(coid, "stale_book", f"book for symbol={symbol!r} is {age} ns old", ts)
        return None

    def _refuse_change(self, coid: str, order: _Order | None, ts: int) -> Rejected | None:
        if order is None:
            return Rejected(coid, "unknown_order", f"client_order_id={coid!r} is unknown", ts)
        if order.status != "open":
            return self._record(Rejected(coid, "not_open", f"client_order_id={coid!r} is {order.status}", ts))
        return None

    def _place(self, order: SandboxOrder, now_ns: int, ts: int) -> list[Outcome]:
        coid = order.client_order_id
        refusal = _invalid(order, ts) or self._refuse_book(coid, order.symbol, now_ns, ts)
        if refusal is not None:
            return [self._record(refusal)]
        book = self._books[order.symbol]
        limit = order.limit_px_1e9 if order.order_type == "limit" else None
        opposite = _opposite(order.side)
        best = book.best(opposite) if order.post_only else None
        if best is not None and limit is not None and (best <= limit if order.side == "buy" else best >= limit):
            # As venues do (Binance GTX, Coinbase/OKX post_only): a post-only order that would
            # take liquidity is rejected whole, never partly filled.
            why = f"post-only {order.side} at px_1e9={limit} would cross the best {opposite} px_1e9={best}"
            return [self._record(Rejected(coid, "post_only_would_cross", why, ts))]
        if order.tif == "fok":
            available = book.available_within(opposite, limit)
            if available < order.qty_1e8:
                why = f"qty_1e8={order.qty_1e8} but only {available} is available within the limit"
                return [self._record(Rejected(coid, "fok_unfillable", why, ts))]
        self._seq += 1
        state = _Order(
            coid,
            ids.sandbox_venue_order_id(self.venue, coid),
            order.symbol,
            order.side,
            limit,
            order.qty_1e8,
            ts,
            self._seq,
            post_only=order.post_only,
        )
        self._orders[coid] = state
        out: list[Outcome] = [self._record(Acked(coid, state.venue_order_id, ts))]
        for px, q in book.take(opposite, order.qty_1e8, limit):
            out.append(self._fill(state, px, q, "taker", ts))
        if state.remaining_1e8 == 0:
            state.status = "filled"
        elif order.order_type == "market" or order.tif != "gtc":
            out.append(self._close(state, "cancelled", "ioc_remainder", ts))
        else:
            assert limit is not None
            state.queue_ahead_1e8 = book.displayed(_own_level(order.side), limit)
            self._resting.setdefault(order.symbol, {})[coid] = state
        return out

    def _fill(self, order: _Order, px: int, qty: int, liquidity: Liquidity, ts: int) -> Filled:
        order.filled_1e8 += qty
        order.fills += 1
        schedule = self.perp_fees if order.symbol.endswith(PERP_SUFFIX) else self.fees
        fee = fee_usd_1e9(schedule, liquidity, px, qty)
        fill = Filled(
            order.client_order_id,
            order.venue_order_id,
            ids.sandbox_fill_id(order.venue_order_id, order.fills),
            order.symbol,
            order.side,
            qty,
            px,
            fee,
            liquidity,
            ts,
            fee_asset=split_symbol(order.symbol)[1],  # simulated fees are charged in the quote asset
            fee_qty_1e8=usd_to_quote_qty_up(fee),
        )
        return self._record(fill)

    def _maker_fill(self, order: _Order, qty: int, ts: int) -> Filled:
        assert order.limit_px_1e9 is not None
        fill = self._fill(order, order.limit_px_1e9, qty, "maker", ts)
        if order.remaining_1e8 == 0:
            order.status = "filled"
            self._resting[order.symbol].pop(order.client_order_id, None)
        return fill

    def _close(self, order: _Order, status: OrderStatus, reason: str, ts: int) -> Cancelled:
        order.status = status
        self._resting.get(order.symbol, {}).pop(order.client_order_id, None)
        done = Cancelled(order.client_order_id, order.venue_order_id, order.filled_1e8, order.remaining_1e8, reason, ts)
        return self._record(done)

    def _advance_queues(self, resting: dict[str, _Order], changes: list[LevelChange], ts: int) -> None:
        by_level = {(c.side, c.px_1e9): c for c in changes}
        for order in resting.values():
            change = by_level.get((_own_level(order.side), order.limit_px_1e9 or 0))
            if change is None:
                continue
            if ts < order.active_from_ns:
                # Not at the venue yet: it will join behind whatever is displayed on arrival.
                order.queue_ahead_1e8 = change.new_qty_1e8
                continue
            drop = change.old_qty_1e8 - change.new_qty_1e8
            cancelled = drop - change.traded_qty_1e8  # traded volume already advanced the queue
            if cancelled > 0 and change.old_qty_1e8 > 0:
                order.queue_ahead_1e8 -= cancelled * order.queue_ahead_1e8 // change.old_qty_1e8
            order.queue_ahead_1e8 = min(order.queue_ahead_1e8, change.new_qty_1e8)

    def _fill_crossed(self, symbol: str, book: SymbolLiquidity, ts: int) -> list[Outcome]:
        out: list[Outcome] = []
        for order in sorted(self._resting[symbol].values(), key=_Order.priority):
            if ts < order.active_from_ns:
                continue
            taken = book.take(_opposite(order.side), order.remaining_1e8, order.limit_px_1e9)
            qty = sum(q for _, q in taken)
            if qty:
                out.append(self._maker_fill(order, qty, ts))
        return out

    @staticmethod
    def _hit_side(book: SymbolLiquidity | None, px: int, aggressor: str) -> BookSide | None:
        if aggressor == "sell":
            return "bid"
        if aggressor == "buy":
            return "ask"
        if book is None:
            return None
        best_bid, best_ask = book.best("bid"), book.best("ask")
        if best_bid is not None and px <= best_bid:
            return "bid"
        if best_ask is not None and px >= best_ask:
            return "ask"
        return None


def _reaches(order: _Order, trade_px: int) -> bool:
    # A sell aggressor printing at or below our bid reached it; mirror for asks.
    assert order.limit_px_1e9 is not None
    return trade_px <= order.limit_px_1e9 if order.side == "buy" else trade_px >= order.limit_px_1e9


def _invalid(order: SandboxOrder, ts: int) -> Rejected | None:
    problem = ""
    if order.qty_1e8 <= 0:
        problem = f"qty_1e8={order.qty_1e8} must be positive"
    elif order.side not in ("buy", "sell"):
        problem = f"side={order.side!r} must be buy or sell"
    elif order.tif not in ("gtc", "ioc", "fok"):
        problem = f"tif={order.tif!r} must be gtc, ioc or fok"
    elif order.order_type == "limit":
        if order.limit_px_1e9 is None or order.limit_px_1e9 <= 0:
            problem = f"limit order needs a positive limit_px_1e9, got {order.limit_px_1e9}"
    elif order.order_type == "market":
        if order.post_only:
            problem = "a market order cannot be post-only"
        elif order.limit_px_1e9 is not None:
            problem = f"market order carries limit_px_1e9={order.limit_px_1e9}; send an IOC limit instead"
    else:
        problem = f"order_type={order.order_type!r} must be market or limit"
    if not problem:
        return None
    return Rejected(order.client_order_id, "invalid_order", problem, ts)
