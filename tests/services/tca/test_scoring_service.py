"""TcaService publishes venue scores over real JetStream exactly once, across restarts and while
it was down (scores derived from events it never saw live are released after its replay)."""

from __future__ import annotations

import asyncio

from events.ids import derive_id
from events.subjects import VENUE_SCORES
from events.tca import VenueScored
from services.bus import Bus
from services.tca.service import TcaService
from tests.services.tca.test_end_to_end import read_ledger
from tests.services.tca.test_scoring import BTC, USD, ack, child, fill, plan


async def run_once(bus: Bus) -> int:
    """Start a TCA, let it replay and release what it held, stop it; return how many it published."""
    tca = TcaService(bus)
    await tca.start()
    try:
        await tca.follower.wait_caught_up()
        assert tca._task is not None
        await asyncio.wait_for(asyncio.shield(tca._task), 10)
        await tca.outbox.drain()
        assert tca.held_scores == {}
        return tca.outbox.published
    finally:
        await tca.stop()


async def logged_scores(bus: Bus) -> list[VenueScored]:
    return [e for e in await read_ledger(bus, [VENUE_SCORES]) if isinstance(e, VenueScored)]


async def test_scores_are_published_once_across_restarts_and_downtime(bus: Bus) -> None:
    # Arrange: one child acked after 4 ms and filled at the planned price, before any TCA runs.
    await bus.publish_many([
        plan("p", "okx", 100_000 * USD), child("c1", "okx", 1_000_000), ack("c1", "okx", 5_000_000),
        fill("f1", "c1", "okx", BTC, 100_000 * USD, 6_000_000),
    ])
    # Act + Assert: the first run replays it and publishes the latest score only (the fill's,
    # which carries the ack's latency too), not the ack's superseded one.
    assert await run_once(bus) == 1
    [first] = await logged_scores(bus)
    assert first.event_id == derive_id("venue_score", "fill-f1")
    assert (first.latency_ema_ns, first.fill_rate_ppm, first.realised_slippage_ppm) == (4_000_000, 1_000_000, 0)
    # A restart over the same log publishes nothing.
    assert await run_once(bus) == 0
    # While no TCA runs, two more children are acked after 44 ms: the next run releases only the
    # latest score (the first of the two moved the latency 4 -> 9 ms, the second 9 -> 13.375 ms).
    await bus.publish_many([
        child("c2", "okx", 10_000_000), ack("c2", "okx", 54_000_000),
        child("c3", "okx", 60_000_000), ack("c3", "okx", 104_000_000),
    ])
    assert await run_once(bus) == 1
    [*_, latest] = await logged_scores(bus)
    assert (latest.event_id, latest.latency_ema_ns, latest.latency_samples) == (
        derive_id("venue_score", "ack-c3"), 13_375_000, 3
    )
    assert await run_once(bus) == 0
    assert len(await logged_scores(bus)) == 2
