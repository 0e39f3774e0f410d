"""A local, deterministic runner for one algo instance: books in, fills out, state kept.

Like upstream's `AlgoHarness`, for tests, examples and the benchmark, not for trading: the algo
service runs instances against the real order path. The harness keeps the `AlgoState` the host
writes before each callback (orders, position, average entry, PnL) and fills the algo's orders
with a simple model: a marketable order (market, IOC, FOK, or a limit that crosses) takes the
book's levels up to its price at once; a resting order fills whole when a later book trades
through it (best ask at or below a resting bid, best bid at or above a resting ask), or fills up
to a print's size when a trade prints at its price with the other side aggressing (queue position
ignored). A post-only order that would cross is rejected (INVALID_PARAMS), as venues do.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from services.algos import abi
from services.algos.host import AlgoInstance, CallbackResult

QTY_SCALE = 100_000_000  # qty_1e8 -> units


class Trade(NamedTuple):
    px_1e9: int
    qty_1e8: int
    aggressor_side: int  # 1 buy, -1 sell


class AlgoHarness:
    def __init__(self, instance: AlgoInstance, symbol: abi.SymbolMeta | None = None) -> None:
        self.instance = instance
        self.symbol = symbol or abi.SymbolMeta()
        self.orders: dict[int, abi.OpenOrder] = {}  # live orders by id, in placement order
        self.position_1e8 = 0
        self.avg_entry_1e9 = 0
        self.realized_pnl_1e9 = 0
        self.fill_count = 0
        self.fills: list[abi.Fill] = []
        self.rejects: list[abi.Reject] = []
        self.results: list[CallbackResult] = []
        self._mid_1e9 = 0
        self._state: abi.AlgoState | None = None

    # --- inputs -----------------------------------------------------------------------------

    def book(
        self, book: abi.Book, features: abi.OnlineFeatures | None = None, trade: Trade | None = None
    ) -> CallbackResult:
        """Fill resting orders the book or `trade` went through, then hand the book to the algo."""
        if book.bids and book.asks:
            self._mid_1e9 = (book.bids[0][0] + book.asks[0][0]) // 2
        if trade is not None:
            left = trade.qty_1e8
            for order in list(self.orders.values()):
                # A sell aggressor lifts resting bids at or above its price; a buy, asks at or below.
                hit = (order.side > 0 and trade.aggressor_side < 0 and order.px_1e9 >= trade.px_1e9) or (
                    order.side < 0 and trade.aggressor_side > 0 and order.px_1e9 <= trade.px_1e9
                )
                if hit and left > 0:
                    take = min(left, abs(order.qty_1e8) - order.filled_1e8)
                    self._fill(order, order.px_1e9, take, book.recv_ns)
                    left -= take
        for order in list(self.orders.values()):
            through = (order.side > 0 and book.asks and book.asks[0][0] <= order.px_1e9) or (
                order.side < 0 and book.bids and book.bids[0][0] >= order.px_1e9
            )
            if through:
                self._fill(order, order.px_1e9, abs(order.qty_1e8) - order.filled_1e8, book.recv_ns)
        result = self.instance.on_book(book, self.state(), features)
        self._apply(result, book)
        return result

    def heartbeat(self, now_ns: int, book: abi.Book, features: abi.OnlineFeatures | None = None) -> CallbackResult:
        result = self.instance.on_heartbeat(self.state(), now_ns, features)
        self._apply(result, book)
        return result

    def message(self, from_label: str, payload: bytes, book: abi.Book) -> CallbackResult:
        result = self.instance.on_message(from_label, payload, self.state())
        self._apply(result, book)
        return result

    def shutdown(self, book: abi.Book) -> CallbackResult:
        result = self.instance.on_shutdown(self.state())
        self._apply(result, book)
        return result

    def state(self) -> abi.AlgoState:
        if self._state is None:
            unrealized = 0
            if self.position_1e8 and self._mid_1e9:
                unrealized = (self._mid_1e9 - self.avg_entry_1e9) * self.position_1e8 // QTY_SCALE
            self._state = abi.AlgoState(
                position_1e8=self.position_1e8,
                avg_entry_1e9=self.avg_entry_1e9,
                realized_pnl_1e9=self.realized_pnl_1e9,
                unrealized_pnl_1e9=unrealized,
                orders=tuple(self.orders.values())[: abi.MAX_ORDERS],
                session_pnl_1e9=self.realized_pnl_1e9,
                total_fill_count=self.fill_count,
                symbol=self.symbol,
            )
        return self._state

    # --- the fill model ---------------------------------------------------------------------

    def _apply(self, result: CallbackResult, book: abi.Book) -> None:
        self.results.append(result)
        for action in result.actions:
            if action.kind is abi.ActionKind.CANCEL:
                if self.orders.pop(action.order_id, None) is not None:
                    self._state = None
            elif action.kind is abi.ActionKind.AMEND:
                old = self.orders[action.order_id]
                qty = action.qty_1e8 or abs(old.qty_1e8)
                self.orders[action.order_id] = abi.OpenOrder(
                    order_id=old.order_id, px_1e9=action.px_1e9 or old.px_1e9, qty_1e8=qty * old.side,
                    filled_1e8=old.filled_1e8, side=old.side, status=old.status,
                )
                self._state = None
            else:
                self._new(action, book)

    def _new(self, a: abi.Action, book: abi.Book) -> None:
        levels = book.asks if a.side > 0 else book.bids
        limit = a.px_1e9 if a.order_type is not abi.OrderType.MARKET else None

        def crosses(px: int) -> bool:
            return limit is None or (px <= limit if a.side > 0 else px >= limit)

        takeable = sum(sz for px, sz in levels if crosses(px))
        if a.order_type is abi.OrderType.POST_ONLY and takeable:
            return self._reject(a.order_id, abi.RejectCode.INVALID_PARAMS)
        if a.order_type is abi.OrderType.FOK and takeable < a.qty_1e8:
            return self._reject(a.order_id, abi.RejectCode.UNKNOWN)
        order = abi.OpenOrder(order_id=a.order_id, px_1e9=a.px_1e9, qty_1e8=a.qty_1e8 * a.side, side=a.side)
        self.orders[a.order_id] = order
        self._state = None
        left = a.qty_1e8
        for px, sz in levels:
            if left <= 0 or not crosses(px):
                break
            take = min(left, sz)
            self._fill(self.orders[a.order_id], px, take, book.recv_ns)
            left -= take
        if a.order_id in self.orders and a.order_type in (abi.OrderType.MARKET, abi.OrderType.IOC, abi.OrderType.FOK):
            del self.orders[a.order_id]  # the unfilled rest of an immediate order is cancelled

    def _reject(self, order_id: int, code: int) -> None:
        reject = abi.Reject(order_id=order_id, code=code)
        self.rejects.append(reject)
        self.results.append(self.instance.on_reject(reject))

    def _fill(self, order: abi.OpenOrder, px: int, qty: int, recv_ns: int) -> None:
        if qty <= 0:
            return
        filled = order.filled_1e8 + qty
        if filled >= abs(order.qty_1e8):
            self.orders.pop(order.order_id, None)
        else:
            self.orders[order.order_id] = abi.OpenOrder(
                order_id=order.order_id, px_1e9=order.px_1e9, qty_1e8=order.qty_1e8, filled_1e8=filled,
                side=order.side, status=abi.OrderStatus.PARTIAL,
            )
        self._book_fill(order.side * qty, px)
        fill = abi.Fill(order_id=order.order_id, px_1e9=px, qty_1e8=qty, recv_ns=recv_ns, side=order.side)
        self.fills.append(fill)
        self.fill_count += 1
        self._state = None
        self.results.append(self.instance.on_fill(fill, self.state()))

    def _book_fill(self, signed_qty: int, px: int) -> None:
        pos = self.position_1e8
        if pos == 0 or (pos > 0) == (signed_qty > 0):  # opening or adding
            new = pos + signed_qty
            self.avg_entry_1e9 = (self.avg_entry_1e9 * abs(pos) + px * abs(signed_qty)) // abs(new)
            self.position_1e8 = new
            return
        closed = min(abs(pos), abs(signed_qty))
        direction = 1 if pos > 0 else -1
        self.realized_pnl_1e9 += (px - self.avg_entry_1e9) * closed * direction // QTY_SCALE
        self.position_1e8 = pos + signed_qty
        if self.position_1e8 == 0:
            self.avg_entry_1e9 = 0
        elif (self.position_1e8 > 0) != (pos > 0):  # flipped: the rest opens at this price
            self.avg_entry_1e9 = px


def messages_of(results: Iterable[CallbackResult]) -> list[tuple[str, bytes]]:
    """(to_label, payload) of every mesh message in `results`, in order."""
    return [(m.to_label, m.payload) for r in results for m in r.messages]
