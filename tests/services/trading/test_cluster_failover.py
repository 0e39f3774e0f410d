"""The trading stack on the three-node JetStream cluster (R3 streams, TLS, each process its own
NATS user): kill -9 the node that leads the LEDGER stream during the orders, bring it back,
and audit the log. No event is lost (the follower that ran through it saw every stream sequence
once), no order is placed twice, every graph completes, and the returned node catches up."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from events import AnyEvent
from events.execution import ChildAcked, FillRecorded
from events.graph import GraphCompleted, GraphSubmitted
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.bus import Bus
from services.edges.sim.server import SimServer
from services.graph.state import graph_of
from services.settings import Settings
from tests.cluster import Cluster, ensure_replicated_streams, start_cluster
from tests.services.trading.test_crash_safety import VENUES, Part, Watch, crossbook_parts, logs, sims  # noqa: F401

# The 1,000 orders; CROSSBOOK_FAILOVER_ORDERS lowers it on a slow machine.
ORDERS = int(os.environ.get("CROSSBOOK_FAILOVER_ORDERS", "1000"))
KILL_AT, RESTART_AT = ORDERS // 4, ORDERS // 2  # the node is away for a quarter of the orders
IN_FLIGHT = 8  # orders the client has open at once
RETRY_S = 90.0  # a request answered 503/504 while the cluster elects new leaders is sent again
BTC_1e8 = 100_000_000


class LedgerWatch(Watch):
    """The crash test's watch, also counting every stream sequence it was handed."""

    def __init__(self, orders: int) -> None:
        super().__init__(orders)
        self.seqs: Counter[int] = Counter()

    def apply(self, event: AnyEvent, seq: int) -> None:
        self.seqs[seq] += 1
        super().apply(event, seq)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Cluster, Settings]]:
    data = tmp_path / "data"
    nodes = start_cluster(tmp_path / "nats", data)
    settings = Settings(
        data_dir=data, nats_url=nodes.url, stream_replicas=3, ack_wait_s=1.0, require_trader_ready=False, _env_file=None
    )
    try:
        await ensure_replicated_streams(settings)
        yield nodes, settings
    finally:
        nodes.stop()


async def leader_of(bus: Bus, stream: str) -> int:
    info = await bus.js.stream_info(stream)
    assert info.cluster is not None and info.cluster.leader
    return int(info.cluster.leader.rsplit("-n", 1)[1]) - 1  # crossbook-n2 -> node 1


async def node_to_kill(bus: Bus) -> int:
    """The node to lose: the LEDGER stream's leader (the hardest case: the ledger elects a new
    one mid-order); CROSSBOOK_FAILOVER_KILL=follower takes one of its followers instead."""
    leader = await leader_of(bus, "LEDGER")
    if os.environ.get("CROSSBOOK_FAILOVER_KILL") == "follower":
        return (leader + 1) % 3
    return leader


async def healed(bus: Bus, stream: str) -> bool:
    """Every replica of `stream` is current again (the returned node caught up)."""
    try:
        info = await bus.js.stream_info(stream)
    except Exception:  # no leader this instant
        return False
    replicas = (info.cluster.replicas or []) if info.cluster else []
    return bool(info.cluster and info.cluster.leader) and len(replicas) == 2 and all(
        r.current and not r.offline for r in replicas
    )


@pytest.mark.timeout(420)
async def test_losing_a_node_during_the_orders_loses_no_event_and_places_no_order_twice(
    cluster: tuple[Cluster, Settings], sims: dict[str, SimServer]
) -> None:
    from services.api.app import create_app
    from services.api.keys import create_key

    nodes, settings = cluster
    reader = await Bus.connect(settings, name="audit", user="reader")
    watch = LedgerWatch(ORDERS)
    watcher = StreamFollower(reader, "LEDGER", [">"], watch.apply)
    await watcher.start()
    parts, _ = crossbook_parts(settings, sims, "one_process")
    for part in parts.values():
        part.env |= {"CROSSBOOK_STREAM_REPLICAS": "3"}  # crossbook_parts passes the URL and data dir (seeds)
    app = create_app(settings)
    answers: Counter[int] = Counter()
    killed: int | None = None
    try:
        for part in parts.values():
            await part.start()
        for part in parts.values():
            await part.wait_ready(60)
        async with app.router.lifespan_context(app):
            api = app.state.api
            await api.md_follower.wait_until(
                lambda: all(api.market.books.get((v, "BTC-USDT")) for v in VENUES), timeout=60
            )
            key = create_key(settings, "default", sandbox=True, now_ns=1)
            headers = {"Authorization": f"Bearer {key.secret}"}
            slots = asyncio.Semaphore(IN_FLIGHT)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t", timeout=60
            ) as client:

                async def place(i: int) -> None:
                    # Small market orders, both sides, each with its own graph_id: a retry of
                    # the same body is the same command (idempotent), never a second order.
                    body: dict[str, Any] = {
                        "graph_id": f"g_failover_{i:04d}", "symbol": "BTC-USDT",
                        "side": "buy" if i % 2 else "sell", "qty": 0.001 * (1 + i % 5),
                    }
                    deadline = asyncio.get_running_loop().time() + RETRY_S
                    try:
                        while True:
                            r = await client.post("/v1/orders", json=body, headers=headers)
                            answers[r.status_code] += 1
                            if r.status_code == 200:
                                return
                            assert r.status_code in (503, 504), r.text
                            assert asyncio.get_running_loop().time() < deadline, f"order {i}: {r.text}"
                            await asyncio.sleep(0.2)  # the cluster is electing; its answer is the event
                    finally:
                        slots.release()

                # The tenant's first order funds its paper balances: the others follow it.
                await slots.acquire()
                await place(0)
                tasks = []
                for i in range(1, ORDERS):
                    # A slot is taken here and given back by the order's task: IN_FLIGHT orders
                    # are open when the node goes, and the kill and return land mid-stream.
                    await slots.acquire()
                    if i == KILL_AT:
                        killed = await node_to_kill(reader)
                        nodes.kill(killed)
                    if i == RESTART_AT:
                        assert killed is not None
                        nodes.restart(killed)
                    tasks.append(asyncio.create_task(place(i)))
                await asyncio.gather(*tasks)
            try:
                await watcher.wait_until(watch.settled, timeout=120)
            except TimeoutError:
                stuck = sorted(watch.graphs - watch.ended)
                raise AssertionError(f"{len(stuck)} graphs never ended, e.g. {stuck[:3]}\n" + logs(parts)) from None
            for stream in ("LEDGER", "MD", "MARKETS"):
                deadline = asyncio.get_running_loop().time() + 60
                while not await healed(reader, stream):
                    assert asyncio.get_running_loop().time() < deadline, f"{stream} did not heal"
                    await asyncio.sleep(0.5)  # replica state is only seen by asking
            last_seq = (await reader.js.stream_info("LEDGER")).state.last_seq
            await watcher.wait_for(last_seq, timeout=60)
    finally:
        for part in parts.values():
            await part.stop()
        await watcher.stop()
    # No event lost: the follower that ran through the failover was handed every sequence once.
    # (The edges and the trader go on appending: it may have read past `last_seq` by now.)
    seen = sorted(watch.seqs)
    assert seen == list(range(1, seen[-1] + 1)) and seen[-1] >= last_seq and max(watch.seqs.values()) == 1
    try:
        await audit(reader, ORDERS)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{logs(parts)}") from None  # what the parts saw of the failover
    await reader.close()
    assert killed is not None and answers[200] == ORDERS


async def audit(bus: Bus, orders: int) -> None:
    submitted: Counter[str] = Counter()
    completed: Counter[str] = Counter()
    allocated: Counter[str] = Counter()
    acked: Counter[str] = Counter()
    fill_ids: Counter[str] = Counter()
    node_qty: dict[str, int] = {}
    filled: Counter[str] = Counter()
    story: dict[str, list[str]] = {}  # graph -> its events, to show what became of an odd one
    child_graph: dict[str, str] = {}
    async for d in bus.replay("LEDGER", [">"]):
        e = d.event
        if (graph_id := graph_of(e, child_graph)) is not None:
            story.setdefault(graph_id, []).append(f"{type(e).__name__} {getattr(e, 'reason', '') or ''}".strip())
        match e:
            case GraphSubmitted():
                submitted[e.graph_id] += 1
                node_qty[e.graph_id] = sum(n.qty_1e8 for n in e.nodes)
            case GraphCompleted():
                completed[e.graph_id] += 1
            case ChildAllocated():
                allocated[e.client_order_id] += 1
            case ChildAcked():
                acked[e.client_order_id] += 1
            case FillRecorded():
                fill_ids[e.fill_id] += 1
                filled[e.graph_id] += e.qty_1e8
    assert len(submitted) == orders and max(submitted.values()) == 1, "an order was submitted twice"
    assert set(completed) == set(submitted) and max(completed.values()) == 1, "a graph did not complete once"
    assert max(allocated.values()) == 1, "a child order was allocated twice"
    assert not acked or max(acked.values()) == 1, "a child order was placed twice"
    assert max(fill_ids.values()) == 1, "a fill was recorded twice"
    odd = {g: story.get(g) for g in node_qty if filled[g] != node_qty[g]}
    assert not odd, f"orders filled other than their size: {odd}"
