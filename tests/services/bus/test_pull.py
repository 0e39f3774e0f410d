"""PullFeed against a real nats-server: messages as soon as they land, and a late answer to an
abandoned pull request never ends the current one."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from events import new_event_id
from events.market import TradePrinted
from services.bus import Bus
from services.bus.pull import PullFeed


def _trade(i: int) -> TradePrinted:
    return TradePrinted(event_id=new_event_id(), ts_ns=i, venue="okx", symbol="BTC-USDT",
                        px_1e9=97_000 * 10**9, qty_1e8=1_000_000, aggressor="buy")


async def _feed(bus: Bus) -> PullFeed:
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, filter_subject="md.>", mem_storage=True)
    consumer = (await bus.js.add_consumer("MD", config)).name
    return await PullFeed(bus.nc, "MD", consumer, batch=64).open()


async def test_an_idle_request_expires_and_the_next_one_delivers_at_once(bus: Bus) -> None:
    feed = await _feed(bus)
    try:
        with pytest.raises(TimeoutError):
            await feed.next_batch(0.2)  # nothing stored: the server's 408 ends the request
        waiting = asyncio.create_task(feed.next_batch(10.0))
        await bus.publish(_trade(1))
        # Returns with the one message long before the request's 10 s expiry.
        batch = await asyncio.wait_for(waiting, timeout=5.0)
        assert len(batch) == 1
    finally:
        await feed.close()


async def test_a_late_status_of_an_abandoned_request_does_not_end_the_current_one(bus: Bus) -> None:
    # Arrange: request 1 is over; request 2 is open at the server
    feed = await _feed(bus)
    try:
        with pytest.raises(TimeoutError):
            await feed.next_batch(0.2)
        waiting = asyncio.create_task(feed.next_batch(10.0))
        await bus.nc.flush()
        while feed._requests < 2:  # the task has issued its request
            await asyncio.sleep(0)
        # Act: request 1's expiry arrives late, then a real message
        await bus.nc.publish(f"{feed._inbox}.1", b"", headers={"Status": "408", "Description": "Request Timeout"})
        await bus.nc.flush()
        await bus.publish(_trade(2))
        # Assert: the stale 408 was ignored; the current request delivered the message
        batch = await asyncio.wait_for(waiting, timeout=5.0)
        assert [m.subject for m in batch] == ["md.okx.BTC-USDT.trade"]
    finally:
        await feed.close()
