"""The kernel trader's fold against the log, with a real nats-server, local venue servers, edges
and the API in-process:
- a conflict on its append (services/kernel/appender.py, jetstream.py): a second writer appends
  to a graph subject between the kernel's decision and its append. The append is refused, nothing
  decided on that stale view reaches the log, and the kernel's state afterwards is the fold of
  the log (byte for byte against a fresh kernel restoring the whole LEDGER);
- snapshots (services/kernel/snapshot.py): a restart loads the last one and folds from its
  sequence + 1 to the same state as a fold from sequence 1."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import msgspec
import pytest

from events import AnyEvent, new_event_id
from events.graph import GraphCancelled
from events.subjects import graph_subject, subject_for
from projections.follower import covers
from services.bus import Bus
from services.bus.writer import as_writer
from services.kernel.jetstream import LEDGER_INPUTS, JetStreamKernel
from services.kernel.kernel import Kernel
from services.kernel.ports import WallClock
from services.kernel.snapshot import load, snapshot
from services.kernel.state import fold_state
from services.settings import Settings
from tests.services.conftest import CLUSTER_VENUES, api_in_process
from tests.services.trading.test_eviction import Running, ended, order
from tests.stack import trading_stack


@pytest.fixture
def settings(tmp_path: Any, nats_server: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, ack_wait_s=1.0, require_trader_ready=False,
                    _env_file=None)


@pytest.fixture
async def running(bus: Bus, settings: Settings) -> AsyncIterator[Running]:
    async with trading_stack(bus, CLUSTER_VENUES, seed=61, trader="kernel") as market, api_in_process(settings) as (
        client, api
    ):
        yield Running(client, api, market, bus)


class SecondWriterFirst:
    """The kernel's append port, with a second graph writer appending to `subject` just before
    the kernel's first batch that touches it (between the kernel's decision and its append)."""

    def __init__(self, inner: Any, bus: Bus, subject: str, foreign: AnyEvent) -> None:
        self.inner, self.bus, self.subject, self.foreign = inner, bus, subject, foreign
        self.fired = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def publish_chained(self, events: Sequence[AnyEvent], expected: Mapping[str, int]) -> Any:
        if not self.fired and any(subject_for(e) == self.subject for e in events):
            self.fired = True
            await as_writer(self.bus, "graph").publish(self.foreign)
        return await self.inner.publish_chained(events, expected)


async def fresh_fold(bus: Bus) -> Kernel:
    """A new kernel restoring the LEDGER as it stands (a restart's fold, nothing decided)."""
    kernel = Kernel(clock=WallClock(), rng=random.Random(7))
    async for delivered in bus.replay("LEDGER"):
        if any(covers(p, subject_for(delivered.event)) for p in LEDGER_INPUTS):
            kernel.restore(delivered.event)
    return kernel


async def settled(runner: JetStreamKernel, bus: Bus) -> None:
    """The kernel has read the whole LEDGER and appended everything it decided, twice over (what
    it appends is read back; a batch in flight lands before the second look)."""
    for _ in range(2):
        await runner.restored.caught_up.wait()
        await runner.ledger.wait_caught_up()
        await runner.appender.drain()


@pytest.mark.timeout(120)
async def test_a_second_writer_between_decision_and_append_leaves_the_kernel_equal_to_the_fold_of_the_log(
    running: Running, bus: Bus
) -> None:
    # Arrange: a graph resting at its venue (a buy far below the market), the kernel settled.
    r = running
    runner = r.part(JetStreamKernel)
    await r.api.ledger_follower.wait_caught_up()
    bid = float((await r.client.get("/v1/quotes/BTC-USDT")).json()["nbbo"]["bid"])
    graph_id = await order(r.client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001, "price": round(bid * 0.9)})
    await r.api.ledger_follower.wait_until(lambda: any(o.ref.graph_id == graph_id for o in runner.kernel.orders.values()))
    await settled(runner, bus)
    assert fold_state(runner.kernel) == fold_state(await fresh_fold(bus))  # the premise: equal before
    subject = graph_subject("default", graph_id)
    # A second graph writer's fact on the graph: its node's activation once more (a stale engine).
    [activation] = [a for (g, _), a in runner.kernel.activations.items() if g == graph_id]
    foreign = msgspec.structs.replace(activation, event_id=new_event_id())
    port = SecondWriterFirst(runner.appender.bus, bus, subject, foreign)
    runner.appender.bus = port  # type: ignore[assignment]

    # Act: a cancel; the kernel decides it on its view, the second writer appends first.
    assert (await r.client.delete(f"/v1/execution_graphs/{graph_id}")).status_code == 200
    await ended(r, [graph_id])
    await settled(runner, bus)

    # Assert: the append was refused and the kernel rebuilt its state from the log ...
    assert port.fired and runner.appender.conflicts == 1 and runner.refolds == 1
    log = [d.event async for d in bus.replay("LEDGER", subject)]
    assert foreign.event_id in [e.event_id for e in log]
    assert [type(e) for e in log].count(GraphCancelled) == 1  # the cancel re-decided once, after the foreign fact
    # ... so its state is the fold of the log, byte for byte.
    assert fold_state(runner.kernel) == fold_state(await fresh_fold(bus))
    # And it trades on.
    nxt = await order(r.client, {"symbol": "BTC-USDT", "side": "sell", "qty": 0.001})
    await ended(r, [nxt])
    await r.api.ledger_follower.wait_caught_up()
    assert r.api.ledger.graphs[nxt].status == "COMPLETED"


async def fold_up_to(bus: Bus, seq: int) -> Kernel:
    kernel = Kernel(clock=WallClock(), rng=random.Random(7))
    async for delivered in bus.replay("LEDGER", end_seq=seq):
        if any(covers(p, subject_for(delivered.event)) for p in LEDGER_INPUTS):
            kernel.restore(delivered.event)
    return kernel


@pytest.mark.timeout(120)
async def test_a_restart_restores_from_its_snapshot_to_the_same_fold_as_from_the_first_event(
    running: Running, bus: Bus, tmp_path: Any
) -> None:
    # Arrange: some trading, then the kernel restarted with a snapshot directory: it restores
    # from seq 1 and leaves a snapshot of the fold it restored.
    r = running
    await r.api.ledger_follower.wait_caught_up()
    first = [await order(r.client, {"symbol": "BTC-USDT", "side": side, "qty": 0.001}) for side in ("buy", "sell")]
    bid = float((await r.client.get("/v1/quotes/BTC-USDT")).json()["nbbo"]["bid"])
    resting = await order(r.client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001, "price": round(bid * 0.9)})
    await ended(r, first)

    async def restart(runner: JetStreamKernel) -> JetStreamKernel:
        await runner.stop()
        fresh = JetStreamKernel(bus, snapshots=tmp_path / "kernel", snapshot_every=5)
        r.market.parts[r.market.parts.index(runner)] = fresh
        await fresh.start()
        await fresh.restored.caught_up.wait()
        return fresh

    one = await restart(r.part(JetStreamKernel))
    assert one.restored_from == 1
    path = tmp_path / "kernel" / "kernel.snapshot"
    snap_seq, _ = load(Kernel(clock=WallClock(), rng=random.Random(7)), path.read_bytes())
    assert snap_seq == one._restore_to > 0
    # Act: more trading (the resting order cancelled, a new one), then a second restart, which
    # loads the snapshot and folds only what came after it.
    assert (await r.client.delete(f"/v1/execution_graphs/{resting}")).status_code == 200
    nxt = await order(r.client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001})
    await ended(r, [resting, nxt])
    await settled(one, bus)
    # While it ran, it took periodic snapshots (every 5 LEDGER inputs here), each the fold of
    # the log up to its sequence.
    running_kernel = Kernel(clock=WallClock(), rng=random.Random(7))
    periodic_seq, _ = load(running_kernel, path.read_bytes())
    assert periodic_seq > snap_seq
    assert snapshot(running_kernel, periodic_seq) == snapshot(await fold_up_to(bus, periodic_seq), periodic_seq)
    two = await restart(one)
    # Assert: the second restore started after the last snapshot, and the fold it restored (its
    # own snapshot, written before it decided anything) is the fold of the log from seq 1, byte for byte.
    assert two.restored_from == periodic_seq + 1
    restored_kernel = Kernel(clock=WallClock(), rng=random.Random(7))
    seq2, extra = load(restored_kernel, path.read_bytes())
    assert seq2 == two._restore_to > snap_seq
    whole = await fold_up_to(bus, seq2)
    assert fold_state(restored_kernel) == fold_state(whole)
    assert snapshot(restored_kernel, seq2) == snapshot(whole, seq2)
    assert extra["last_seq"][graph_subject("default", nxt)] == await bus.last_subject_seq(graph_subject("default", nxt))
    # And it trades on, its appends accepted under the subjects' sequences it loaded.
    last = await order(r.client, {"symbol": "BTC-USDT", "side": "sell", "qty": 0.001})
    await ended(r, [last])
    assert two.appender.conflicts == 0 and two.refolds == 0
