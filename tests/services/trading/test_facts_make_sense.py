"""Facts must make sense (issue #17, item 0): a fill the ledger cannot place moves nothing.

Against the real stack (sims over sockets, edges, trader parts on a real nats-server, the API on
a uvicorn port), a ten-line nats-py script publishes a `FillRecorded` for a child that was never
allocated (and one for a real child from another venue) on `exec.<venue>.<tenant>`. The
published client then sees the same positions and fills as before, and the anomaly is visible:
a `FactRefused` on `risk.<tenant>.anomaly` and a counter in GET /v1/health."""

from __future__ import annotations

from typing import Any

import httpx
import nats

from events import encode, new_event_id
from events.execution import FillRecorded
from events.risk import FactRefused
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from tests.services.conftest import Stack


def _forged(tenant: str, venue: str, child_id: str, graph_id: str) -> FillRecorded:
    return FillRecorded(
        event_id=new_event_id(), ts_ns=1, tenant=tenant, fill_id=f"forged-{child_id}", child_id=child_id,
        client_order_id="co-forged", graph_id=graph_id, node_id="order", venue=venue, symbol="BTC-USDT",
        side="buy", qty_1e8=100 * 10**8, px_1e9=10**9, fee_usd_1e9=0, liquidity="taker", is_sandbox=True,
    )


def _positions(body: dict[str, Any]) -> list[tuple[str, str, int]]:
    return sorted((p["venue"], p["instrument"]["symbol"], p["qty_1e8"]) for p in body["positions"])


async def test_a_forged_fill_moves_no_position_or_fill_and_is_recorded_as_an_anomaly(stack: Stack) -> None:
    seq, api = stack.seq, stack.api
    submitted = await stack.call(seq.buy, "BTC-USDT", 0.01)
    assert (await stack.until_terminal(submitted["graph_id"]))["status"] == "COMPLETED"
    await api.positions.wait_caught_up()
    await api.orders.wait_caught_up()
    positions_before = _positions(await stack.call(seq.positions_unified))
    fills_before = (await stack.call(seq.fills))["fills"]
    assert fills_before and sum(q for _, s, q in positions_before if s == "BTC-USDT") == 1_000_000

    allocated: list[ChildAllocated] = []
    refused: list[FactRefused] = []
    watcher = StreamFollower(
        api.bus, "LEDGER", ["route.>", "risk.*.anomaly"],
        lambda e, _: (allocated if isinstance(e, ChildAllocated) else refused).append(e)  # type: ignore[arg-type]
        if isinstance(e, ChildAllocated | FactRefused) else None,
    )
    await watcher.start()
    await watcher.wait_until(lambda: bool(allocated), timeout=20)
    real = allocated[0]
    other_venue = next(v for v in ("binance", "okx") if v != real.venue)

    # The probe: a plain nats-py connection, no Crossbook code but the event codec.
    nc = await nats.connect(stack.settings.effective_nats_url)
    js = nc.jetstream()
    unknown = _forged("acme", "binance", "c-forged", "g_forged")
    elsewhere = _forged("acme", other_venue, real.child_id, real.graph_id)  # a real child, the wrong venue
    last = 0
    for fact in (unknown, elsewhere):
        ack = await js.publish(f"exec.{fact.venue}.acme", encode(fact), headers={"Nats-Msg-Id": fact.event_id})
        last = ack.seq
    await nc.close()

    await watcher.wait_until(lambda: len(refused) == 2, timeout=20)
    await watcher.stop()
    by_fact = {r.fact_event_id: r for r in refused}
    assert by_fact[unknown.event_id].reason == "unknown_child" and by_fact[unknown.event_id].child_venue == ""
    assert by_fact[elsewhere.event_id].reason == "venue_mismatch"
    assert by_fact[elsewhere.event_id].child_venue == real.venue
    assert by_fact[unknown.event_id].qty_1e8 == 100 * 10**8 and by_fact[unknown.event_id].graph_id == "g_forged"

    await api.positions.wait_for(last)
    await api.orders.wait_for(last)
    await api.ledger_follower.wait_for(last)
    assert _positions(await stack.call(seq.positions_unified)) == positions_before
    assert (await stack.call(seq.fills))["fills"] == fills_before
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as http:
        health = (await http.get("/v1/health")).json()
    assert health["facts"] == {"refused": 2, "refused_all_tenants": 2}
    assert health["status"] == "degraded" and any("refused" in p for p in health["problems"])
