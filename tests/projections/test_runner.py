"""The projection machinery on both stores: exactly once, resume, crash safety, rebuild."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from events import new_event_id
from events.graph import GraphPaused
from events.market import TradePrinted
from projections.health import StreamHealthProjection
from projections.runner import ProjectionHalted, ProjectionRunner
from projections.store import ViewStore
from services.bus import Bus
from services.settings import Settings


def trades(n: int, start: int = 0) -> list[TradePrinted]:
    return [
        TradePrinted(
            event_id=new_event_id(),
            ts_ns=1_000 + i,
            venue="okx",
            symbol="BTC-USDT",
            px_1e9=97_000_000_000_000 + i,
            qty_1e8=1_000_000,
            aggressor="buy",
        )
        for i in range(start, start + n)
    ]


def counts(store: ViewStore, name: str) -> dict[str, int]:
    return {k: d["count"] for k, d in store.scan(name, "types")}


async def test_applies_each_event_once_and_resumes_after_restart(bus: Bus, store: ViewStore) -> None:
    # Arrange
    proj = StreamHealthProjection("MD")
    await bus.publish_many(trades(300))
    runner = ProjectionRunner(bus, store, proj, batch=64)
    # Act
    await runner.start()
    await runner.wait_for(300)
    await runner.stop()
    await bus.publish_many(trades(50, 300))
    second = ProjectionRunner(bus, store, proj, batch=64)
    await second.start()
    await second.wait_for(350)
    await second.stop()
    # Assert
    assert counts(store, proj.name) == {"md.trade.v1": 350}
    assert store.max_position(proj.name) == 350
    assert second.applied == 50  # resumed after 300, not from the start
    assert store.load(proj.name, "totals", "all") == {"events": 350, "bad": 0, "last_seq": 350}


CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    from projections.health import StreamHealthProjection
    from projections.runner import ProjectionRunner
    from services.bus import Bus
    from services.settings import Settings
    from tests.projections.conftest import open_url

    WHEN = sys.argv[3]

    class Crashing(ProjectionRunner):
        async def _ack(self, msgs):
            if WHEN == "after_commit":
                os._exit(9)  # killed after the batch was committed, before any ack
            await super()._ack(msgs)

    def crash_before_commit(*args):
        os._exit(9)  # killed after processing, before the commit

    async def main():
        settings = Settings(nats_url=sys.argv[1], ack_wait_s=1.0, _env_file=None)
        bus = await Bus.connect(settings)
        store = open_url(sys.argv[2])
        if WHEN == "before_commit":
            store.commit = crash_before_commit
        runner = Crashing(bus, store, StreamHealthProjection("MD"), batch=40)
        await runner.start()
        await asyncio.sleep(60)  # the child is expected to die long before this

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("when", ["after_commit", "before_commit"])
async def test_killed_consumer_redelivers_and_applies_once(
    bus: Bus, settings: Settings, store_url: str, store: ViewStore, when: str
) -> None:
    # Arrange
    proj = StreamHealthProjection("MD")
    await bus.publish_many(trades(100))
    # Act: a child process processes the first batch of 40 and is killed with os._exit
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASH_SCRIPT, settings.effective_nats_url, store_url, when,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert await asyncio.wait_for(child.wait(), 60) == 9
    committed = store.max_position(proj.name)
    if when == "after_commit":
        assert 0 < committed <= 40  # the child's first batch (a fetch returns what is there, up to 40)
    else:
        assert committed == 0
    runner = ProjectionRunner(bus, store, proj, batch=40)
    await runner.start()
    await runner.wait_for(100, timeout=30)
    if when == "after_commit" and not runner.consumer_was_reset:
        # JetStream hands the unacked batch out again once its ack wait expires
        await runner.wait_until(lambda r: r.skipped_redeliveries >= committed, timeout=30)
    await runner.stop()
    # Assert: every event applied exactly once
    assert counts(store, proj.name) == {"md.trade.v1": 100}
    assert store.max_position(proj.name) == 100
    assert runner.applied == 100 - committed
    if when == "after_commit" and not runner.consumer_was_reset:
        assert runner.skipped_redeliveries == committed  # handed out again by JetStream; tracking dropped them
    else:
        # The server had delivered past the committed position: the consumer restarted at
        # tracked + 1, so nothing was redelivered and nothing was skipped.
        assert runner.skipped_redeliveries == 0


async def test_rebuild_gives_a_view_identical_to_the_live_one(bus: Bus, store: ViewStore) -> None:
    proj = StreamHealthProjection("LEDGER")
    runner = ProjectionRunner(bus, store, proj, batch=32)
    await runner.start()
    ledger = [
        GraphPaused(event_id=new_event_id(), ts_ns=i, tenant="t", graph_id=f"g{i % 7}", reason="r") for i in range(120)
    ]
    for i in range(0, 120, 30):
        await bus.publish_many(ledger[i : i + 30])
    await runner.wait_for(120)
    live = store.dump(proj.name)
    await runner.rebuild()
    rebuilt = store.dump(proj.name)
    await runner.stop()
    assert rebuilt == live
    assert live[("types", "ord.graph_paused.v1")]["count"] == 120


async def test_bad_payload_is_recorded_by_health_and_halts_a_strict_projection(bus: Bus, store: ViewStore) -> None:
    # Arrange: a valid event, then a raw garbage message on a market-data subject
    await bus.publish_many(trades(3))
    await bus.js.publish("md.okx.BTC-USDT.trade", b"\x93not-an-event", headers={"Nats-Msg-Id": "garbage-1"})
    await bus.publish_many(trades(2, 3))
    # Act / Assert: the health view records and counts it, and keeps going
    health = StreamHealthProjection("MD")
    runner = ProjectionRunner(bus, store, health)
    await runner.start()
    await runner.wait_for(6)
    await runner.stop()
    totals = store.load(health.name, "totals", "all")
    assert totals == {"events": 5, "bad": 1, "last_seq": 6}
    [(key, bad)] = list(store.scan(health.name, "bad"))
    assert bad["seq"] == 4 and bad["subject"] == "md.okx.BTC-USDT.trade" and "cannot decode" in bad["error"]

    # A projection that must not skip events halts with a clear error and commits nothing past it.
    strict = StreamHealthProjection("MD")
    strict.name = "strict_md"
    strict.on_bad_event = "halt"
    halting = ProjectionRunner(bus, store, strict, batch=2)
    await halting.start()
    with pytest.raises(ProjectionHalted, match="stream seq 4 on md.okx.BTC-USDT.trade"):
        await halting.wait_for(6)
    # Nothing from seq 4 on. Where the last commit before it ends depends on the batches, which a
    # short fetch or a redelivery after the 1 s ack wait reshapes on a loaded machine (seen: 1, 2, 3).
    assert store.max_position("strict_md") < 4
    await halting.stop()


async def test_a_lingering_runner_folds_a_burst_that_trickles_in_as_one_commit(bus: Bus, store: ViewStore) -> None:
    # Arrange: a runner is waiting; a burst then lands in three parts, as an order's events do
    proj = StreamHealthProjection("MD")
    # Generous, so the parts land within it even on a loaded machine; and longer than the tests'
    # 1 s ack wait, so what was fetched first is redelivered within the batch and dropped there.
    runner = ProjectionRunner(bus, store, proj, linger_s=3.0)
    commits: list[int] = []
    commit = store.commit

    def counting(name: str, writes: object, position: int) -> None:
        commits.append(position)
        commit(name, writes, position)  # type: ignore[arg-type]

    store.commit = counting  # type: ignore[method-assign]
    await runner.start()
    # Act: the three parts go out back to back, none waiting for the acks of the one before (three
    # ack round trips in a row took longer than the linger on a loaded machine: two commits).
    await asyncio.gather(*(bus.publish_many(trades(5, part * 5)) for part in range(3)))
    await runner.wait_for(15, timeout=30)
    await runner.stop()
    # Assert
    assert commits == [15]  # one batch: the first message waited for the rest of its burst
    assert counts(store, proj.name) == {"md.trade.v1": 15}  # each once, redelivered or not
