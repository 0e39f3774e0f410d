"""PullFeed against a real nats-server: messages as soon as they land, a late answer to a
request that is over never ends the current one, idle heartbeats vouch for the stream read
through, and a request nobody answers is reported lost after a few missed heartbeats."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from events import new_event_id
from events.market import TradePrinted
from services.bus import Bus
from services.bus.pull import ConsumerStalled, PullFeed


def _trade(i: int, venue: str = "okx") -> TradePrinted:
    return TradePrinted(event_id=new_event_id(), ts_ns=i, venue=venue, symbol="BTC-USDT",
                        px_1e9=97_000 * 10**9, qty_1e8=1_000_000, aggressor="buy")


async def _feed(bus: Bus, subject: str = "md.>", **timing: float) -> PullFeed:
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, filter_subject=subject, mem_storage=True)
    consumer = (await bus.js.add_consumer("MD", config)).name
    return await PullFeed(bus.nc, "MD", consumer, batch=64, **timing).open()


async def _first_messages(feed: PullFeed) -> list[str]:
    while not (batch := await feed.next_batch()):
        pass  # heartbeats and expiries until something comes
    return [m.subject for m in batch]


async def test_an_idle_request_ends_and_the_next_one_delivers_at_once(bus: Bus) -> None:
    feed = await _feed(bus, heartbeat_s=0.1, expires_s=0.3)
    try:
        assert await feed.next_batch() == []  # nothing stored: a heartbeat or the 408
        waiting = asyncio.create_task(_first_messages(feed))
        await bus.publish(_trade(1))
        assert await asyncio.wait_for(waiting, timeout=10.0) == ["md.okx.BTC-USDT.trade"]
    finally:
        await feed.close()


async def test_a_late_status_of_a_finished_request_does_not_end_the_current_one(bus: Bus) -> None:
    # Arrange: request 1 is over; request 2 is open at the server
    feed = await _feed(bus, heartbeat_s=0.1, expires_s=0.3)
    try:
        while feed._requests < 2:
            await feed.next_batch()
        waiting = asyncio.create_task(_first_messages(feed))
        # Act: request 1's expiry arrives late, then a real message
        await bus.nc.publish(f"{feed._inbox}.1", b"", headers={"Status": "408", "Description": "Request Timeout"})
        await bus.nc.flush()
        await bus.publish(_trade(2))
        # Assert: the stale 408 was ignored; the current request delivered the message
        assert await asyncio.wait_for(waiting, timeout=10.0) == ["md.okx.BTC-USDT.trade"]
    finally:
        await feed.close()


async def test_an_idle_heartbeat_vouches_for_the_stream_read_through_past_other_subjects(bus: Bus) -> None:
    acks = [await bus.publish(_trade(1)), await bus.publish(_trade(2, "bybit")), await bus.publish(_trade(3, "bybit"))]
    feed = await _feed(bus, "md.okx.>", heartbeat_s=0.1, expires_s=5.0)
    try:
        assert await _first_messages(feed) == ["md.okx.BTC-USDT.trade"]
        assert (feed.delivered, feed.scanned) == (1, acks[0].seq)
        while feed.scanned < acks[-1].seq:
            assert await asyncio.wait_for(feed.next_batch(), timeout=10.0) == []
        assert (feed.delivered, feed.scanned) == (1, acks[-1].seq)
    finally:
        await feed.close()


async def test_a_request_nobody_answers_is_reported_lost_after_missed_heartbeats(bus: Bus) -> None:
    # Something takes the request and never answers (as a consumer's node that died with it):
    # no message, no status, no heartbeat
    swallow = await bus.nc.subscribe("$JS.API.CONSUMER.MSG.NEXT.MD.lost")
    feed = await PullFeed(bus.nc, "MD", "lost", batch=64, heartbeat_s=0.1, expires_s=5.0).open()
    try:
        with pytest.raises(ConsumerStalled):
            await asyncio.wait_for(feed.next_batch(), timeout=30.0)
        assert swallow.pending_msgs == 1  # the request did go out
    finally:
        await feed.close()
        await swallow.unsubscribe()
