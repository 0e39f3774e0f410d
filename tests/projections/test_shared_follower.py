"""SharedFollower: one read of a stream fanned out to the folds of one process (the trader's roles)."""

from __future__ import annotations

import pytest

from events import AnyEvent, new_event_id
from events.execution import BalanceAdjusted
from events.risk import KillSwitchEngaged
from projections.follower import SharedFollower, covers
from services.bus import Bus


def grant(qty_1e8: int) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=new_event_id(), ts_ns=1, tenant="t1", venue="okx", asset="USDT", delta_qty_1e8=qty_1e8,
        reason="paper_funding", is_sandbox=True,
    )


def kill() -> KillSwitchEngaged:
    return KillSwitchEngaged(event_id=new_event_id(), ts_ns=1, tenant="t1", reason="test")


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("ord.>", "ord.t1.g1", True),
        ("ord.>", "ord", False),
        ("tca.>", "tca.score.*.*", True),
        ("tca.score.*.*", "tca.>", False),
        ("risk.*.acct", "risk.t1.acct", True),
        ("risk.*.acct", "risk.t1.kill", False),
        ("risk.*.acct", "risk.>", False),
        ("exec.>", "execs.okx.t1", False),
    ],
)
def test_covers_matches_nats_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert covers(pattern, subject) is expected


async def test_each_view_gets_its_own_subjects_in_stream_order_from_one_consumer(bus: Bus) -> None:
    # Arrange: history on two subjects, and two folds that want different parts of it.
    await bus.publish_many([grant(1)])
    await bus.publish(kill())
    await bus.publish_many([grant(2)])
    shared = SharedFollower(bus, "LEDGER")
    execs: list[tuple[int, int]] = []
    everything: list[tuple[str, int]] = []
    only_exec = shared.view(["exec.>"], lambda e, seq: execs.append((e.delta_qty_1e8, seq)))  # type: ignore
    both = shared.view(["risk.>", "exec.>"], lambda e, seq: everything.append((type(e).__name__, seq)))
    # Act
    await only_exec.start()
    read_before_all_started = shared._follower._task is not None  # has the one read begun?
    await both.start()
    try:
        await both.wait_until(lambda: len(everything) == 3, timeout=10)
        consumers = (await bus.js.stream_info("LEDGER")).state.consumer_count
    finally:
        await only_exec.stop()
        await both.stop()
    # Assert
    assert not read_before_all_started  # no fold hears an event before its service is up
    assert execs == [(1, 1), (2, 3)]
    assert everything == [("BalanceAdjusted", 1), ("KillSwitchEngaged", 2), ("BalanceAdjusted", 3)]
    assert only_exec.caught_up.is_set() and only_exec.position == both.position == 3
    assert consumers == 1


async def test_a_failing_fold_does_not_keep_events_from_the_others_and_a_stopped_one_hears_no_more(
    bus: Bus,
) -> None:
    shared = SharedFollower(bus, "LEDGER")
    heard: list[AnyEvent] = []
    stopped_heard: list[AnyEvent] = []

    def broken(event: AnyEvent, seq: int) -> None:
        raise ValueError("a fold bug")

    failing = shared.view(["exec.>"], broken)
    healthy = shared.view(["exec.>"], lambda e, seq: heard.append(e))
    leaving = shared.view(["exec.>"], lambda e, seq: stopped_heard.append(e))
    for view in (failing, healthy, leaving):
        await view.start()
    try:
        await bus.publish_many([grant(1), grant(2)])
        await healthy.wait_until(lambda: len(heard) == 2, timeout=10)
        await leaving.stop()
        await bus.publish_many([grant(3)])
        await healthy.wait_until(lambda: len(heard) == 3, timeout=10)
    finally:
        await failing.stop()
        await healthy.stop()
    assert [e.delta_qty_1e8 for e in heard] == [1, 2, 3]  # type: ignore[attr-defined]
    assert failing.apply_errors == 3
    # The fan-out is synchronous per event: had the stopped fold been called, it would be by now.
    assert [e.delta_qty_1e8 for e in stopped_heard] == [1, 2]  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError):
        await leaving.start()


async def test_one_market_data_read_from_the_present_serves_two_folds(bus: Bus) -> None:
    # Arrange: a book's history, then its newest snapshot and a delta after it (the present)
    from events.market import BookDeltaBatch, BookSnapshot
    from nats.js.api import DeliverPolicy

    from projections.market_follower import MD_STREAM, MarketFollower

    def snap(px: int) -> BookSnapshot:
        return BookSnapshot(event_id=new_event_id(), ts_ns=1, venue="okx", symbol="BTC-USDT",
                            bids=[(px, 1)], asks=[(px + 1, 1)])

    await bus.publish_many([snap(1), snap(2)])
    await bus.publish_many([
        BookDeltaBatch(event_id=new_event_id(), ts_ns=2, venue="okx", symbol="BTC-USDT", bids=[(2, 5)], asks=[])
    ])
    shared = SharedFollower(bus, MD_STREAM, follower=lambda apply: MarketFollower(bus, apply))
    router: list[tuple[str, int]] = []
    sandbox: list[tuple[str, int]] = []
    views = [shared.view(["md.>"], lambda e, seq, out=out: out.append((type(e).__name__, seq)))  # type: ignore[misc]
             for out in (router, sandbox)]
    # Act
    for view in views:
        await view.start()
    try:
        await views[0].wait_until(lambda: len(router) == 2 and len(sandbox) == 2, timeout=20)
        # The reads of the stream (its start also reads each subject's newest message once, apart).
        consumers = [c for c in await bus.js.consumers_info(MD_STREAM) if c.config.deliver_policy == DeliverPolicy.BY_START_SEQUENCE]
    finally:
        for view in views:
            await view.stop()
    # Assert: both from the newest snapshot on (not the older one), through one consumer
    assert router == sandbox == [("BookSnapshot", 2), ("BookDeltaBatch", 3)]
    assert len(consumers) == 1
