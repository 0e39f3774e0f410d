"""The local harness's bookkeeping: position, average entry and realised PnL from fills, and the
fill model (marketable orders take levels, post-only that would cross is rejected)."""

from __future__ import annotations

from collections.abc import Callable

from services.algos import abi
from services.algos.harness import AlgoHarness, Trade
from services.algos.host import AlgoInstance
from services.algos.module import AlgoModule

Loader = Callable[[str], AlgoModule]
U = 100_000_000  # one unit in qty_1e8


def test_position_entry_and_realised_pnl(wat_module: Loader) -> None:
    h = AlgoHarness(AlgoInstance(wat_module("doc_example.wat")))
    h._book_fill(2 * U, 100)  # buy 2 @ 100
    h._book_fill(1 * U, 130)  # buy 1 @ 130 -> avg 110
    assert (h.position_1e8, h.avg_entry_1e9, h.realized_pnl_1e9) == (3 * U, 110, 0)
    h._book_fill(-1 * U, 120)  # sell 1 @ 120: +10
    assert (h.position_1e8, h.avg_entry_1e9, h.realized_pnl_1e9) == (2 * U, 110, 10)
    h._book_fill(-3 * U, 100)  # sell 3 @ 100: close 2 (-20), open short 1 @ 100
    assert (h.position_1e8, h.avg_entry_1e9, h.realized_pnl_1e9) == (-1 * U, 100, -10)
    h._book_fill(1 * U, 90)  # buy back @ 90: +10, flat
    assert (h.position_1e8, h.avg_entry_1e9, h.realized_pnl_1e9) == (0, 0, 0)


def test_a_resting_bid_fills_on_a_print_and_on_a_trade_through(wat_module: Loader) -> None:
    h = AlgoHarness(AlgoInstance(wat_module("doc_example.wat")))  # posts id 1 at the best bid
    first = abi.Book(bids=((100, 5 * U),), asks=((102, 5 * U),), recv_ns=1)
    h.book(first)
    assert list(h.orders) == [1] and h.orders[1].px_1e9 == 100
    h.book(first, trade=Trade(px_1e9=100, qty_1e8=U // 4, aggressor_side=-1))  # a seller hits 0.25 of it
    assert h.fills[-1] == abi.Fill(order_id=1, px_1e9=100, qty_1e8=U // 4, recv_ns=1, side=1)
    assert h.orders[1].status is abi.OrderStatus.PARTIAL
    down = abi.Book(bids=((98, 5 * U),), asks=((99, 5 * U),), recv_ns=2)  # the ask trades through 100
    h.book(down)
    assert [f.qty_1e8 for f in h.fills] == [U // 4, 3 * U // 4] and h.position_1e8 == U
    assert h.state().unrealized_pnl_1e9 == (98 - 100)  # mid 98 (integer), one unit long from 100


def test_post_only_that_would_cross_is_rejected(wat_module: Loader) -> None:
    h = AlgoHarness(AlgoInstance(wat_module("doc_example.wat")))
    crossed = abi.Book(bids=((105, U),), asks=((104, U),), recv_ns=1)  # its bid at 105 would cross 104
    h.book(crossed)
    assert h.rejects == [abi.Reject(order_id=1, code=abi.RejectCode.INVALID_PARAMS)] and h.orders == {}
