"""The bus on the three-node cluster (R3 streams, TLS, each process its own NATS user): the
kernel's ordered appends of two writers, interleaved by a front door's commands, while the
LEDGER leader is killed -9 and brought back. Every append is stored exactly once, in each
writer's order, no append is given up, and the stream comes back with every replica current
(pipelined Nats-Expected-Last-Msg-Id chains failed the whole stream here: see
`Bus.publish_chained`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from events import new_event_id
from events.commands import EngageKillSwitch
from events.graph import GraphPaused
from services.bus import Bus
from services.bus.writer import as_writer
from services.kernel.appender import AggregateAppender
from services.settings import Settings
from tests.cluster import Cluster, ensure_replicated_streams, start_cluster

BATCHES = 120  # per writer; batches of 4 appends to 4 graphs, like a decision's facts
KILL_AFTER, RESTART_AFTER = 30, 80  # batches of the first writer


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, Settings]]:
    data = tmp_path / "data"
    nodes = start_cluster(tmp_path / "nats", data)
    settings = Settings(data_dir=data, nats_url=nodes.url, stream_replicas=3, _env_file=None)
    try:
        await ensure_replicated_streams(settings)
        yield nodes, settings
    finally:
        nodes.stop()


async def replicas_current(bus: Bus) -> bool:
    try:
        info = await bus.js.stream_info("LEDGER")
    except Exception:  # no leader this instant
        return False
    cluster = info.cluster
    return bool(cluster and cluster.leader and cluster.replicas and len(cluster.replicas) == 2
                and all(r.current for r in cluster.replicas))


@pytest.mark.timeout(240)
async def test_ordered_appends_survive_losing_the_ledger_leader(cluster: tuple[Cluster, Settings]) -> None:
    # Arrange: two writers (the trader's user) and a front door (the API's) on one LEDGER.
    nodes, settings = cluster
    trader = await Bus.connect(settings, name="trader", user="trader")
    api = await Bus.connect(settings, name="api", user="api")
    writers = [AggregateAppender(as_writer(trader, "graph"), f"graph-{w}") for w in range(2)]
    front_door = as_writer(api, "front_door")
    sent: list[list[str]] = [[], []]
    commands: list[str] = []
    first_done = asyncio.Event()
    reached = {KILL_AFTER: asyncio.Event(), RESTART_AFTER: asyncio.Event()}  # writer 0's batches

    async def write(w: int) -> None:
        for b in range(BATCHES):
            batch = [GraphPaused(event_id=new_event_id(), ts_ns=b, tenant="t", graph_id=f"g{w}_{b}_{k}", reason="r")
                     for k in range(4)]
            await writers[w].append_batch(batch)
            sent[w] += [e.event_id for e in batch]
            if w == 0 and b + 1 in reached:
                reached[b + 1].set()
        if w == 0:
            first_done.set()

    async def interleave() -> None:
        while not first_done.is_set():
            command = EngageKillSwitch(event_id=new_event_id(), ts_ns=1, tenant="t")
            await front_door.publish(command)
            commands.append(command.event_id)
            await asyncio.sleep(0.01)

    async def chaos() -> int:
        await asyncio.wait_for(reached[KILL_AFTER].wait(), 60)
        info = await trader.js.stream_info("LEDGER")
        assert info.cluster is not None and info.cluster.leader
        leader = int(info.cluster.leader.rsplit("-n", 1)[1]) - 1
        nodes.kill(leader)
        await asyncio.wait_for(reached[RESTART_AFTER].wait(), 120)
        nodes.restart(leader)
        return leader

    # Act
    tasks = [asyncio.create_task(write(0)), asyncio.create_task(write(1)), asyncio.create_task(interleave())]
    killed = await chaos()
    await asyncio.gather(*tasks)
    # Assert: nothing given up, each append stored once, each writer's appends in its order.
    assert [w.failures for w in writers] == [0, 0] and [w.conflicts for w in writers] == [0, 0]
    stored: Counter[str] = Counter()
    order: list[str] = []
    async for d in trader.replay("LEDGER", [">"]):
        stored[d.event.event_id] += 1
        order.append(d.event.event_id)
    assert set(stored) == set(sent[0]) | set(sent[1]) | set(commands) and max(stored.values()) == 1
    for ids in sent:
        positions = [order.index(i) for i in ids]
        assert positions == sorted(positions)
    deadline = asyncio.get_running_loop().time() + 60
    while not await replicas_current(trader):
        assert asyncio.get_running_loop().time() < deadline, f"LEDGER did not heal after node {killed} came back"
        await asyncio.sleep(0.5)  # replica state is only seen by asking
    await trader.close()
    await api.close()
