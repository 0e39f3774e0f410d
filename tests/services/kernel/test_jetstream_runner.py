"""The kernel trader on JetStream (services/kernel/jetstream.py), against a real nats-server with
local venue servers, edges and the API in-process: ended graphs leave its hot state, a repeated
submit of one that left is not made again, and a restarted kernel restores the log (open work
resumes, ended graphs stay out) and trades on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from events import new_event_id
from events.commands import SubmitGraph
from events.graph import GraphSubmitted
from events.routing import ChildAllocated
from events.subjects import graph_subject
from services.bus import Bus
from services.bus.writer import as_writer
from services.kernel.jetstream import JetStreamKernel
from services.settings import Settings
from tests.services.conftest import CLUSTER_VENUES, api_in_process
from tests.services.trading.test_eviction import TWAP, Running, ended, mentions, order
from tests.stack import trading_stack


@pytest.fixture
def settings(tmp_path: Any, nats_server: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, ack_wait_s=1.0, require_trader_ready=False,
                    _env_file=None)


@pytest.fixture
async def running(bus: Bus, settings: Settings) -> AsyncIterator[Running]:
    async with trading_stack(bus, CLUSTER_VENUES, seed=57, trader="kernel") as market, api_in_process(settings) as (
        client, api
    ):
        yield Running(client, api, market, bus)


def hot(runner: JetStreamKernel) -> dict[str, Any]:
    k = runner.kernel
    return {
        "graphs": k.graphs, "submitted": k.submitted, "activations": k.activations, "arrivals": k.arrivals,
        "orders": k.orders, "graph_orders": k.graph_orders, "in_flight": k.in_flight, "wakeups": k.wakeups,
        "ended": k.ended, "made": k._made, "tca": [k.tca.nodes, k.tca.interval_nodes], "pins": k.tape.pins,
        "sandbox": k.accounts.graph_sandbox, "mine": runner.mine,
    }


async def submitted_count(bus: Bus, graph_id: str) -> int:
    return len([d async for d in bus.replay("LEDGER", graph_subject("default", graph_id))
                if isinstance(d.event, GraphSubmitted)])


@pytest.mark.timeout(120)
async def test_ended_graphs_leave_the_kernel_and_a_restarted_kernel_restores_and_trades_on(
    running: Running, bus: Bus
) -> None:
    r = running
    client, api = r.client, r.api
    runner = r.part(JetStreamKernel)
    await api.ledger_follower.wait_caught_up()
    market_ids = [await order(client, {"graph_id": f"k-{i}", "symbol": "BTC-USDT", "side": "buy" if i % 2 else "sell",
                                       "qty": 0.001}) for i in range(3)]
    twap_id = await order(client, TWAP)
    bid = float((await client.get("/v1/quotes/BTC-USDT")).json()["nbbo"]["bid"])
    resting = {"graph_id": "k-rest", "symbol": "BTC-USDT", "side": "buy", "qty": 0.001, "price": round(bid * 0.9)}
    resting_id = await order(client, resting)
    first = [*market_ids, twap_id, resting_id]
    await ended(r, [*market_ids, twap_id])
    # Ended graphs with nothing open leave at once (a TWAP's report once the market record has
    # reached its end); the resting one stays while its child rests.
    done = {*market_ids, twap_id}
    await api.ledger_follower.wait_until(lambda: done <= {t.graph_id for t in api.ledger.tca.values()}, timeout=30)
    assert not mentions(hot(runner), {*market_ids, twap_id}), mentions(hot(runner), {*market_ids, twap_id})
    assert resting_id in runner.kernel.graphs

    # A restart: the new kernel restores the log; the resting child rests at its venue again.
    await runner.stop()
    fresh = JetStreamKernel(bus)
    r.market.parts[r.market.parts.index(runner)] = fresh
    await fresh.start()
    await fresh.restored.caught_up.wait()
    assert set(fresh.kernel.graphs) == {resting_id}
    assert [o.ref.graph_id for o in fresh.kernel.orders.values()] == [resting_id]
    assert (await client.delete(f"/v1/execution_graphs/{resting_id}")).status_code == 200
    await ended(r, [resting_id])
    nxt = await order(client, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.001})
    await ended(r, [nxt])
    await api.ledger_follower.wait_caught_up()
    assert api.ledger.graphs[nxt].status == "COMPLETED"
    assert not mentions(hot(fresh), {*first, nxt}), mentions(hot(fresh), {*first, nxt})

    # A repeated submit of a graph that left, handed to the kernel anyway (a front door that
    # did not look): the graph's subject is on the log, so nothing is made again.
    [command] = [d.event async for d in bus.replay("LEDGER", "cmd.default")
                 if isinstance(d.event, SubmitGraph) and d.event.graph_id == "k-1"]
    ack = await as_writer(bus, "front_door").publish(
        msgspec.structs.replace(command, event_id=new_event_id(), ts_ns=time.time_ns()))
    await fresh.ledger.wait_for(ack.seq)
    await fresh.appender.drain()
    last = await order(client, {"symbol": "BTC-USDT", "side": "sell", "qty": 0.001})
    await ended(r, [last])
    assert await submitted_count(bus, "k-1") == 1
    assert "k-1" not in fresh.kernel.graphs
    children = [d.event async for d in bus.replay("LEDGER", "route.>") if isinstance(d.event, ChildAllocated)]
    assert len({c.child_id for c in children}) == len(children)  # nothing allocated twice across the restart
