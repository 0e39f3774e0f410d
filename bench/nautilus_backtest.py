"""NautilusTrader's BacktestEngine on a Crossbook recording: the baseline of bench/backtest.py.

Runs in the bench-only venv that has `nautilus_trader` (never a project dependency); reads the
recording with plain pyarrow, turns each row into NautilusTrader's own data (a snapshot into
CLEAR + ADDs, a delta into UPDATE/DELETE per level, a trade into a TradeTick; the last delta of
a row flagged F_LAST), then times `engine.run()` only, with logging bypassed and a strategy
submitting the same market orders at the same times. Prints one JSON line.

    python bench/nautilus_backtest.py '{"path": "...", "orders": [{"offset_ns", "side", "qty"}]}'
"""

from __future__ import annotations

import json
import sys
import time

import pyarrow.parquet as pq
from nautilus_trader import __version__
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import BookOrder, OrderBookDelta, TradeTick
from nautilus_trader.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    OmsType,
    OrderSide,
    RecordFlag,
)
from nautilus_trader.model.identifiers import TradeId, TraderId, Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy


class TimedOrders(StrategyConfig, frozen=True):
    orders: tuple[tuple[int, str, str], ...] = ()  # (ts_ns, side, qty)


class TimedOrderStrategy(Strategy):
    def __init__(self, config: TimedOrders, instrument_id: object) -> None:
        super().__init__(config)
        self.instrument_id = instrument_id
        self.fills = 0

    def on_start(self) -> None:
        for k, (ts_ns, side, qty) in enumerate(self.config.orders):
            self.clock.set_time_alert_ns(f"order-{k}", ts_ns, lambda _, s=side, q=qty: self._send(s, q))

    def _send(self, side: str, qty: str) -> None:
        order = self.order_factory.market(self.instrument_id, OrderSide.BUY if side == "buy" else OrderSide.SELL,
                                          Quantity.from_str(qty))
        self.submit_order(order)

    def on_order_filled(self, event: object) -> None:
        self.fills += 1


def main() -> None:
    spec = json.loads(sys.argv[1])
    instrument = TestInstrumentProvider.btcusdt_binance()
    iid = instrument.id
    pp, sp = instrument.price_precision, instrument.size_precision
    px = lambda v: Price(v / 1e9, pp)  # noqa: E731
    qty = lambda v: Quantity(v / 1e8, sp)  # noqa: E731

    data: list[object] = []
    rows = 0
    table = pq.read_table(spec["path"])
    for batch in table.to_batches(65_536):
        c = batch.to_pydict()
        for i in range(batch.num_rows):
            rows += 1
            ts, kind = c["ts_ns"][i], c["kind"][i]
            if kind == "trade":
                data.append(TradeTick(iid, px(c["price_1e9"][i]), qty(c["qty_1e8"][i]), AggressorSide.BUYER,
                                      TradeId(c["trade_id"][i]), ts, ts))
                continue
            levels = [(OrderSide.BUY, p, q) for p, q in zip(c["bid_price_1e9"][i], c["bid_qty_1e8"][i])]
            levels += [(OrderSide.SELL, p, q) for p, q in zip(c["ask_price_1e9"][i], c["ask_qty_1e8"][i])]
            out = []
            if kind == "snapshot":
                out.append(OrderBookDelta.clear(iid, 0, ts, ts))
            for side, p, q in levels:
                if kind == "snapshot":
                    action = BookAction.ADD
                else:
                    action = BookAction.UPDATE if q else BookAction.DELETE
                out.append(OrderBookDelta(iid, action, BookOrder(side, px(p), qty(q), 0), 0, 0, ts, ts))
            last = out[-1]
            out[-1] = OrderBookDelta(iid, last.action, last.order, int(RecordFlag.F_LAST), 0, ts, ts)
            data.extend(out)

    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BENCH-001"),
                                                 logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(venue=Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                     base_currency=None, starting_balances=[Money(100_000_000, USDT), Money(1_000, BTC)],
                     book_type=BookType.L2_MBP)
    engine.add_instrument(instrument)
    engine.add_data(data)
    start = table.column("ts_ns")[0].as_py()
    orders = tuple((start + o["offset_ns"], o["side"], f"{o['qty']:.{sp}f}") for o in spec["orders"])
    strategy = TimedOrderStrategy(TimedOrders(orders=orders), iid)
    engine.add_strategy(strategy)
    wall, cpu = time.perf_counter(), time.process_time()
    engine.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "rows": rows, "data_objects": len(data), "fills": strategy.fills,
                      "version": __version__}))


if __name__ == "__main__":
    main()
