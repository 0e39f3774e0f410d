"""TcaService reads MD for its market record from a window behind the newest NBBO (and open
intervals), not the whole MD stream from sequence 1: a trader restart costs the same whatever
the MD history."""

from __future__ import annotations

import asyncio
import time

from events import AnyEvent
from services.bus import Bus
from services.tca.service import TcaService
from tests.services.tca.test_interval import nbbo

USD = 10**9


async def test_the_market_record_starts_from_a_window_behind_the_newest_nbbo(bus: Bus) -> None:
    # Arrange: 2000 NBBOs of history, then (once their storage time is past the window) 10 new ones.
    keep_ns = 200_000_000  # the record keeps 0.2 s: the window is twice that behind the newest NBBO
    start = time.time_ns()
    await bus.publish_many([nbbo(start + i, 99 * USD, 101 * USD) for i in range(2000)])
    await asyncio.sleep(3 * keep_ns / 1e9)  # stream storage times, the window's clock, must move on
    now = time.time_ns()
    recent = await bus.publish_many([nbbo(now + i, 100 * USD, 102 * USD) for i in range(10)])
    service = TcaService(bus)
    service.tape.keep_ns = keep_ns
    applied: list[AnyEvent] = []
    record = service.md_follower.apply
    service.md_follower.apply = lambda event, seq: (applied.append(event), record(event, seq))

    # Act
    await service.start()
    try:
        await service.md_follower.wait_for(recent[-1].seq, timeout=10)
    finally:
        await service.stop()

    # Assert: only the window was read, and the record holds the recent mids.
    assert len(applied) == 10
    assert [mid for _, mid in service.tape.mids["BTC-USDT"]][-1] == 101 * USD
