"""StreamFollower's idle check: messages the consumer already handed over are never skipped."""

from __future__ import annotations

from events import AnyEvent, new_event_id
from events.execution import BalanceAdjusted
from projections.follower import StreamFollower
from services.bus import Bus


def grant(qty_1e8: int) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=new_event_id(), ts_ns=1, tenant="t1", venue="okx", asset="USDT", delta_qty_1e8=qty_1e8,
        reason="paper_funding", is_sandbox=True,
    )


async def test_an_idle_check_while_handed_over_messages_wait_neither_skips_them_nor_reports_caught_up(
    bus: Bus,
) -> None:
    # Arrange: the consumer hands three messages over, and the follower has not applied them yet
    # (as when its pull outlives the wait on a stalled event loop).
    await bus.publish_many([grant(1), grant(2), grant(3)])
    applied: list[AnyEvent] = []
    follower = StreamFollower(bus, "LEDGER", ["exec.>"], lambda e, seq: applied.append(e))
    consumer, feed = await follower._subscribe()
    try:
        handed_over = await feed.next_batch(5.0)
        assert len(handed_over) == 3
        # Act
        await follower._mark_idle(consumer)
    finally:
        await feed.close()
        await bus.js.delete_consumer("LEDGER", consumer)
    # Assert
    assert follower.position == 0
    assert not follower.caught_up.is_set()


async def test_an_idle_check_with_nothing_left_reports_caught_up_at_the_stream_end(bus: Bus) -> None:
    acks = await bus.publish_many([grant(1)])
    follower = StreamFollower(bus, "LEDGER", ["ord.>"], lambda e, seq: None)  # nothing matches
    consumer, feed = await follower._subscribe()
    try:
        await follower._mark_idle(consumer)
    finally:
        await feed.close()
        await bus.js.delete_consumer("LEDGER", consumer)
    assert follower.position == acks[-1].seq
    assert follower.caught_up.is_set()
