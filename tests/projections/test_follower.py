"""StreamFollower against a real nats-server: its position only moves over sequences it was
handed (or that its consumer vouched for after handing over all of it), and a read that is
lost (consumer deleted, a lying heartbeat, the server restarted) is recreated from there:
nothing skipped, nothing applied twice, nothing waited on for ever."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events import AnyEvent, new_event_id
from events.execution import BalanceAdjusted
from projections.follower import StreamFollower
from services.bus import Bus
from services.bus.acks import Unavailable
from services.natsd import NatsServer
from services.settings import Settings
from tests.cluster import free_port


def grant(qty_1e8: int) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=new_event_id(), ts_ns=1, tenant="t1", venue="okx", asset="USDT", delta_qty_1e8=qty_1e8,
        reason="paper_funding", is_sandbox=True,
    )


class Seen:
    def __init__(self) -> None:
        self.seqs: Counter[int] = Counter()

    def apply(self, event: AnyEvent, seq: int) -> None:
        self.seqs[seq] += 1

    def each_once(self, last: int) -> bool:
        return sorted(self.seqs) == list(range(1, last + 1)) and max(self.seqs.values()) == 1


@pytest.fixture
async def following(bus: Bus) -> AsyncIterator[tuple[StreamFollower, Seen]]:
    seen = Seen()
    follower = StreamFollower(bus, "LEDGER", ["exec.>"], seen.apply)
    await follower.start()
    yield follower, seen
    await follower.stop()


async def test_a_filtered_follower_learns_from_a_heartbeat_that_it_is_current_at_the_stream_end(bus: Bus) -> None:
    acks = await bus.publish_many([grant(1), grant(2)])
    applied: list[AnyEvent] = []
    follower = StreamFollower(bus, "LEDGER", ["ord.>"], lambda e, seq: applied.append(e))  # nothing matches
    await follower.start()
    try:
        await follower.wait_for(acks[-1].seq, timeout=30)
        assert follower.caught_up.is_set()
    finally:
        await follower.stop()
    assert applied == [] and follower.position == acks[-1].seq and follower.restarts == 0


async def test_a_heartbeat_naming_messages_that_never_came_recreates_the_read_instead_of_skipping(
    bus: Bus, following: tuple[StreamFollower, Seen]
) -> None:
    # Arrange: three events read
    follower, seen = following
    await bus.publish_many([grant(1), grant(2), grant(3)])
    await follower.wait_for(3, timeout=30)
    feed = follower.feed
    assert feed is not None
    # Act: a heartbeat (as from a consumer leader that is not ours) vouching for sequences up to
    # 1,000 and consumer sequences the read never got
    await bus.nc.publish(
        f"{feed._current}",
        b"",
        headers={"Status": "100", "Description": "Idle Heartbeat", "Nats-Last-Consumer": "99", "Nats-Last-Stream": "1000"},
    )
    await follower.wait_until(lambda: follower.restarts == 1, timeout=30)
    # Assert: no jump to 1,000; the new read goes on from 4
    assert follower.position == 3
    acks = await bus.publish_many([grant(4), grant(5)])
    await follower.wait_for(acks[-1].seq, timeout=30)
    assert seen.each_once(acks[-1].seq)


async def test_a_consumer_deleted_under_the_follower_is_recreated_from_the_last_delivered_sequence(
    bus: Bus, following: tuple[StreamFollower, Seen]
) -> None:
    follower, seen = following
    await bus.publish_many([grant(i) for i in range(1, 6)])
    await follower.wait_for(5, timeout=30)
    assert follower.feed is not None
    name = follower.feed._next_subject.rsplit(".", 1)[1]
    # Act: the consumer goes (as an R1 consumer does with its node); events land meanwhile
    await bus.js.delete_consumer("LEDGER", name)
    acks = await bus.publish_many([grant(i) for i in range(6, 11)])
    # Assert: recreated once, every sequence applied once
    await follower.wait_for(acks[-1].seq, timeout=30)
    assert follower.restarts >= 1 and seen.each_once(acks[-1].seq)


async def test_a_read_whose_server_restarted_is_not_waited_on_for_ever(tmp_path: Path) -> None:
    # Arrange: a server on a fixed port (it comes back there) and a follower that has read 5
    server = NatsServer(tmp_path / "nats", port=free_port())
    server.start()
    settings = Settings(data_dir=tmp_path / "data", nats_url=server.url, _env_file=None)
    bus = await Bus.connect(settings, name="test")
    seen = Seen()
    follower = StreamFollower(bus, "LEDGER", ["exec.>"], seen.apply)
    try:
        await bus.ensure_streams()
        await bus.publish_many([grant(i) for i in range(1, 6)])
        await follower.start()
        await follower.wait_for(5, timeout=30)
        # Act: kill -9 and restart: the consumer (in memory) and its pull request are gone, and
        # nothing will ever answer the request: only the missing heartbeats tell
        server.kill()
        server.start(timeout_s=30)
        events = [grant(i) for i in range(6, 9)]
        for _ in range(12):  # publishes written before the client saw the socket die are lost: again
            try:
                acks = await bus.publish_many(events, timeout_s=5)  # the same ids: stored once
                break
            except Unavailable:
                continue
        else:
            pytest.fail("the restarted server never stored the events")
        # Assert
        await follower.wait_for(acks[-1].seq, timeout=60)
        assert follower.restarts >= 1 and seen.each_once(acks[-1].seq)
    finally:
        await follower.stop()
        await bus.close()
        server.stop()
