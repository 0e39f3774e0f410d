"""A WASM module exporting `algo_on_nbbo` inside a backtest: it is called whenever the NBBO of its
symbol over the kernel's books changes, with that NBBO's best bid and ask, the same way twice."""

from __future__ import annotations

from collections.abc import Callable

import wasmtime

from events import encode
from events.market import BookDeltaBatch, BookSnapshot, VenueStatusChanged
from projections.market import MarketBooks, NbboFold
from replay.algo import BacktestAlgo
from replay.backtest import run_backtest
from replay.synthetic import synthetic_l2
from tests.services.algos.guests import IDLE, NBBO_LOGGER

EVENTS = 3_000


def backtest(wat: str) -> tuple[list[bytes], BacktestAlgo]:
    made: list[BacktestAlgo] = []

    def factory(clock: Callable[[], int], market: MarketBooks, tenant: str) -> BacktestAlgo:
        made.append(BacktestAlgo(wasmtime.wat2wasm(wat), [("BTC-USDT", "binance")], clock=clock, market=market,
                                 tenant=tenant, name="nbbo"))
        return made[0]

    out = [encode(e) for e in run_backtest(synthetic_l2(events=EVENTS, seed=5), [], seed=3, algo=factory)]
    return out, made[0]


def expected_nbbos() -> list[tuple[int, int, int, int]]:
    """(bid, ask, venues, venue books) at each NBBO change, folded apart from the backtest."""
    fold = NbboFold()
    seen: list[tuple[int, int, int, int]] = []
    for event in synthetic_l2(events=EVENTS, seed=5):
        if fold.apply(event) and isinstance(event, (BookSnapshot, BookDeltaBatch, VenueStatusChanged)):
            nbbo = fold.nbbo("BTC-USDT")
            if nbbo is not None:
                seen.append((nbbo.bid_px_1e9, nbbo.ask_px_1e9, len(nbbo.venues), len(nbbo.venues)))
    return seen


def test_on_nbbo_is_called_on_each_nbbo_change_with_its_bid_and_ask_the_same_way_twice() -> None:
    out, algo = backtest(NBBO_LOGGER)
    again, algo_again = backtest(NBBO_LOGGER)
    (inst,) = algo.instances
    lines = [message for _, _, message in inst.logs if message.startswith("nbbo ")]
    got = [tuple(int(x) for x in line.split()[1:]) for line in lines]
    expected = expected_nbbos()
    assert inst.paused is None and inst.nbbos == len(expected) > 100
    assert got == expected  # every change, in order, with the right best bid/ask and both venues' books
    assert {venues for _, _, venues, _ in got} == {1, 2}  # binance alone first, then okx too
    # Deterministic: the same calls at the same virtual times, the same output.
    assert inst.logs == algo_again.instances[0].logs and out == again
    assert algo.report()["instances"][0]["nbbos"] == inst.nbbos


def test_a_module_without_the_export_gets_no_nbbo_calls() -> None:
    _, algo = backtest(IDLE)
    (inst,) = algo.instances
    assert inst.nbbos == 0 and inst.books > 0 and inst.paused is None
