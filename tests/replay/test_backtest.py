"""replay/backtest.py: a backtest streams the market through the kernel; the same data, orders and
seed give the same events byte for byte, another seed moves what the latency model draws."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from events import AnyEvent, encode
from events.commands import SubmitGraph
from events.execution import ChildAcked, FillRecorded
from events.graph import GraphCompleted
from events.routing import ChildAllocated
from events.tca import TcaReported
from projections.market import MarketBooks, nbbo_event
from replay.backtest import run_backtest
from replay.synthetic import synthetic_l2
from services.graph.errors import ValidationError

SECOND = 1_000_000_000
ORDERS: list[tuple[int, dict[str, Any]]] = [
    (i * SECOND // 2, {"symbol": "BTC-USDT", "side": "buy" if i % 3 else "sell", "qty": 0.05 + 0.01 * (i % 4)})
    for i in range(30)
]


def market(events: int = 20_000) -> Iterator[AnyEvent]:
    return synthetic_l2(events=events, seed=11)


def encoded(seed: int) -> list[bytes]:
    return [encode(e) for e in run_backtest(market(), ORDERS, seed=seed)]


def test_the_same_inputs_and_seed_give_the_same_bytes_and_another_seed_moves_the_latency_draws() -> None:
    first, again, other = encoded(7), encoded(7), encoded(8)
    assert first == again
    assert first != other
    # The seed moves when venues answer (the latency draws); what follows from that (fills on a
    # book that moved meanwhile, venue scores) may move too, but the same orders went in.
    def decoded(log: list[bytes], kind: type) -> list[Any]:
        return [e for e in map(msgspec.msgpack.decode, log) if e["type"] == kind.__struct_config__.tag]

    assert decoded(first, SubmitGraph) == decoded(other, SubmitGraph)
    acks, other_acks = decoded(first, ChildAcked), decoded(other, ChildAcked)
    assert len(acks) >= 30 and len(other_acks) >= 30
    sent = {c["client_order_id"]: c["ts_ns"] for c in decoded(first, ChildAllocated)}
    other_sent = {c["client_order_id"]: c["ts_ns"] for c in decoded(other, ChildAllocated)}
    delays = [a["ts_ns"] - sent[a["client_order_id"]] for a in acks]
    other_delays = [a["ts_ns"] - other_sent[a["client_order_id"]] for a in other_acks]
    assert all(20_000_000 <= d <= 25_000_000 for d in delays + other_delays)  # 20 ms + up to 5 ms of jitter
    assert delays != other_delays


def test_a_backtest_streams_and_its_summary_adds_up() -> None:
    run = run_backtest(market(), ORDERS, seed=7)
    events = list(run)
    summary = run.summary
    fills = [e for e in events if isinstance(e, FillRecorded)]
    assert summary.market_events == 20_000
    assert summary.orders == 30 == sum(isinstance(e, SubmitGraph) for e in events)
    assert summary.graphs == {"COMPLETED": 30} == {"COMPLETED": sum(isinstance(e, GraphCompleted) for e in events)}
    assert summary.fills == len(fills) >= 30
    assert summary.fees_usd_1e9 == sum(f.fee_usd_1e9 for f in fills) > 0
    bought = sum(f.qty_1e8 for f in fills if f.side == "buy")
    sold = sum(f.qty_1e8 for f in fills if f.side == "sell")
    assert (summary.bought_qty_1e8, summary.sold_qty_1e8) == (bought, sold)
    assert summary.position_qty_1e8 == {"BTC-USDT": bought - sold}
    assert sum(v.qty_1e8 for v in summary.venues.values()) == bought + sold
    assert sum(isinstance(e, TcaReported) for e in events) == 30
    assert summary.shortfall_ppm is not None
    hot = run.kernel.hot_size()
    assert hot["graphs"] == hot["venue_orders"] == hot["reservations"] == 0  # every order ended and left


def test_an_invalid_order_body_names_its_index() -> None:
    orders = [(0, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.1}), (SECOND, {"symbol": "BTC-USDT", "side": "hold"})]
    with pytest.raises(ValidationError) as caught:
        list(run_backtest(market(2_000), orders, seed=1))
    assert "in order 1" in "".join(getattr(caught.value, "__notes__", []))


DIGEST = """
import hashlib, sys
from events import encode
from replay.backtest import run_backtest
from replay.synthetic import synthetic_l2
orders = [(i * 300_000_000, {"symbol": "BTC-USDT", "side": "buy" if i % 2 else "sell", "qty": 0.05 + (i % 3) * 0.1})
          for i in range(40)]
orders += [(i * 700_000_000, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.3, "price": 99_990}) for i in range(8)]
digest = hashlib.sha256()
for event in run_backtest(synthetic_l2(events=10_000, seed=2, venues=("binance", "okx", "bybit")), orders, seed=3):
    digest.update(encode(event))
print(digest.hexdigest())
"""


def test_two_processes_with_different_hash_seeds_write_the_same_bytes() -> None:
    # Nothing in the kernel may depend on set or dict-of-str iteration order across processes.
    root = Path(__file__).resolve().parents[2]
    digests = {
        subprocess.run([sys.executable, "-c", DIGEST], cwd=root, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1 and len(digests.pop().strip()) == 64


def test_recorded_events_other_than_books_trades_and_status_are_skipped_and_counted() -> None:
    # A recording may hold the NBBO the cluster published; the kernel folds its own.
    first = list(market(2_000))
    books = MarketBooks()
    books.apply(first[0])
    nbbo = books.nbbo("BTC-USDT")
    assert nbbo is not None
    recorded = [nbbo_event(nbbo, "recorded-nbbo", first[0].ts_ns), *first]
    with_nbbo = run_backtest(recorded, ORDERS[:2], seed=7)
    plain = run_backtest(first, ORDERS[:2], seed=7)
    assert [encode(e) for e in with_nbbo] == [encode(e) for e in plain]
    assert (with_nbbo.summary.market_events, with_nbbo.summary.skipped_events) == (2_000, 1)
