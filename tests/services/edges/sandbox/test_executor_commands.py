"""The live sandbox executor on a real nats-server: it applies the sandbox book's commands (a
command appended while it is down runs when it starts, as the `executor` writer, and a restart
does not run again a command whose facts are on the log: past the dedup window that would book
them twice), and it rejects a post-only child that would cross, as the kernel's engine does."""

from __future__ import annotations

import asyncio
import time

from events import AnyEvent, new_event_id
from events.commands import FundSandbox, ResetSandbox
from events.execution import BalanceAdjusted, ChildRejected, FillRecorded
from events.market import BookSnapshot
from events.routing import ChildAllocated
from events.sandbox import BalanceDelta, SandboxReset
from events.subjects import WRITER_HEADER
from projections.follower import StreamFollower
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.sandbox.accounts import command_id
from services.edges.sandbox.service import SandboxExecutor

TENANT = "acme"


async def test_commands_run_once_across_a_restart_of_the_executor(bus: Bus) -> None:
    # Arrange: a funding command appended by the front door while no executor runs.
    facts: list[tuple[AnyEvent, int]] = []
    reader = StreamFollower(bus, "LEDGER", ["exec.>"], lambda e, seq: facts.append((e, seq)))
    await reader.start()
    front = as_writer(bus, "front_door")
    fund = FundSandbox(event_id=command_id("fund", TENANT), ts_ns=1, tenant=TENANT, grants=[
        BalanceDelta(venue="binance", asset="USDT", delta_qty_1e8=10**8),
        BalanceDelta(venue="okx", asset="USDT", delta_qty_1e8=2 * 10**8),
    ])
    await front.publish(fund)
    first = SandboxExecutor(as_writer(bus, "executor"))
    try:
        # Act 1: the executor starts and applies it.
        await first.start()
        await reader.wait_until(lambda: len(facts) == 2, timeout=20)
    finally:
        await first.stop()
    # A reset appended while the executor is down again.
    reset = ResetSandbox(event_id="c-reset", ts_ns=2, tenant=TENANT, request_id="r1", cancelled=0,
                         adjusted=[BalanceDelta(venue="okx", asset="USDT", delta_qty_1e8=-10**8)], flattened=[])
    await front.publish(reset)
    second = SandboxExecutor(as_writer(bus, "executor"))
    try:
        # Act 2: a new executor replays the log: the funding has its facts, the reset has none.
        await second.start()
        await reader.wait_until(lambda: any(isinstance(e, SandboxReset) for e, _ in facts), timeout=20)
        await second.outbox.drain()
        published_by_second = second.outbox.published
    finally:
        await second.stop()
    # Assert: each fact once, naming its command; the second executor appended only the reset's.
    assert [(type(e).__name__, e.causation_id) for e, _ in facts] == [
        ("BalanceAdjusted", fund.event_id), ("BalanceAdjusted", fund.event_id),
        ("BalanceAdjusted", reset.event_id), ("SandboxReset", reset.event_id),
    ]
    assert published_by_second == 2
    assert [e.delta_qty_1e8 for e, _ in facts if isinstance(e, BalanceAdjusted)] == [10**8, 2 * 10**8, -10**8]
    # Appended by the executor, the one writer of exec.* (the header is on each message).
    for _, seq in facts:
        msg = await bus.js.get_msg("LEDGER", seq)
        assert (msg.headers or {}).get(WRITER_HEADER) == "executor"
    await reader.stop()


def child(coid: str, px_1e9: int, *, post_only: bool) -> ChildAllocated:
    return ChildAllocated(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant=TENANT, plan_id="p", graph_id=f"g_{coid}",
        node_id="order", child_id=f"g_{coid}:order:1:binance", client_order_id=coid, venue="binance",
        symbol="BTC-USDT", side="buy", qty_1e8=10_000_000, order_type="limit", limit_px_1e9=px_1e9, tif="gtc",
        is_sandbox=True, post_only=post_only,
    )


async def test_the_live_sandbox_rejects_a_post_only_child_that_would_cross(bus: Bus) -> None:
    # Arrange: a venue book on the bus, and the executor caught up on it.
    ask = 100_000 * 10**9
    now = time.time_ns()
    await bus.publish(BookSnapshot(event_id=new_event_id(), ts_ns=now, ts_recv_ns=now, venue="binance",
                                   symbol="BTC-USDT", bids=[(ask - 10**9, 10**8)], asks=[(ask, 10**8)]))
    facts: list[AnyEvent] = []
    reader = StreamFollower(bus, "LEDGER", ["exec.>"], lambda e, seq: facts.append(e))
    await reader.start()
    executor = SandboxExecutor(as_writer(bus, "executor"))
    try:
        await executor.start()
        await asyncio.wait_for(asyncio.gather(executor.ledger.caught_up.wait(), executor.md.caught_up.wait()), 20)
        # Act: the same buy at the ask, post-only and not.
        await bus.publish_many([child("postonly", ask, post_only=True), child("plain", ask, post_only=False)])
        await reader.wait_until(
            lambda: {getattr(e, "client_order_id", "") for e in facts if isinstance(e, (ChildRejected, FillRecorded))}
            >= {"postonly", "plain"}, timeout=20,
        )
    finally:
        await executor.stop()
        await reader.stop()
    # Assert: the post-only child is rejected and takes nothing; the plain one takes the ask.
    mine = [e for e in facts if getattr(e, "client_order_id", "") == "postonly"]
    assert [(type(e).__name__, getattr(e, "code", None)) for e in mine] == [("ChildRejected", "post_only_would_cross")]
    assert [(e.px_1e9, e.liquidity) for e in facts if isinstance(e, FillRecorded)] == [(ask, "taker")]
