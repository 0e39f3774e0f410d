"""An order from the API to fills over JetStream, against venue books streamed over real sockets."""

from __future__ import annotations


import httpx

from events.execution import ChildAcked, FillRecorded
from events.graph import NodeActivated
from events.routing import ChildAllocated, PlanMade
from projections.follower import StreamFollower
from services.edges.sim.server import SimServer



async def test_market_buy_larger_than_any_top_level_is_split_across_venues_and_completes(
    cluster: tuple[httpx.AsyncClient, list[SimServer], object],
) -> None:
    client, servers, api = cluster
    # Arrange: freeze the markets so the books the router sees are the books the fills hit.
    for server in servers:
        await server.pause()
    await api.md_follower.wait_caught_up()
    depth = {v: sum(q for _, q in b.top(20)[1]) for (v, s), b in api.market.books.items() if s == "BTC-USDT"}
    # More than the deepest venue shows in the 20 levels the router reads: it must split.
    qty_1e8 = (max(depth.values()) * 3 // 2) // 10_000 * 10_000
    # Act
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": qty_1e8 / 1e8})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.status in ("COMPLETED", "FAILED", "REJECTED"),
        timeout=30,
    )
    for server in servers:
        server.resume()
    # Assert
    status = (await client.get(f"/v1/execution_graphs/{graph_id}")).json()
    assert status["status"] == "COMPLETED", repr([(n["node_id"], n["status"], n["filled_qty_1e8"], n["failure_reason"]) for n in status["nodes"].values()])
    node = status["nodes"]["order"]
    page = (await client.get("/v1/fills", params={"limit": 10_000})).json()  # a sweep can make many fills
    fills = [f for f in page["fills"] if f["graph_id"] == graph_id]
    assert len({f["venue"] for f in fills}) >= 2  # split across venues
    assert sum(f["qty_1e8"] for f in fills) == node["filled_qty_1e8"] == node["qty_1e8"]
    notional = sum(f["qty_1e8"] * f["price_1e9"] for f in fills)
    q = node["filled_qty_1e8"]
    assert node["avg_fill_price_1e9"] == (2 * notional + q) // (2 * q)  # VWAP, rounded half up
    orders = (await client.get("/v1/orders")).json()["orders"]
    assert orders[0]["graph_id"] == graph_id and orders[0]["status"] == "FILLED"
    # Same graph_id + same body replays; a different body conflicts.
    again = await client.post("/v1/orders", json={"graph_id": graph_id, "symbol": "BTC-USDT", "side": "buy", "qty": qty_1e8 / 1e8})
    assert again.status_code in (200, 409)


async def test_on_fill_ratio_edge_activates_the_second_node_after_the_first_half_fills(
    cluster: tuple[httpx.AsyncClient, list[SimServer], object],
) -> None:
    client, servers, api = cluster
    node = lambda node_id, side: {  # noqa: E731
        "node_id": node_id,
        "instrument": {"symbol": "BTC-USDT", "type": "spot", "venue": None},
        "side": side,
        "order_type": "market",
        "quantity": {"fixed": {"qty_1e8": 10_000_000}},
        "execution": {},
    }
    body = {
        "nodes": [node("entry", "buy"), node("hedge", "sell")],
        "edges": [
            {"edge_id": "e_entry_hedge", "from_node": "entry", "to_node": "hedge", "trigger": "on_fill_ratio",
             "condition": {"fill_ratio_gte": 0.5}}
        ],
    }
    r = await client.post("/v1/orders", json=body)
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    assert r.json()["node_count"] == 2
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30
    )
    status = (await client.get(f"/v1/execution_graphs/{graph_id}")).json()
    assert status["status"] == "COMPLETED", repr([(n["node_id"], n["status"], n["filled_qty_1e8"], n["failure_reason"]) for n in status["nodes"].values()])
    nodes = status["nodes"]
    assert nodes["entry"]["status"] == nodes["hedge"]["status"] == "FILLED"
    [edge] = status["edges"]
    assert edge["fired"] is True
    # In log order, the hedge was activated only once the entry had filled at least half.
    entry_filled = 0
    async for d in api.bus.replay("LEDGER", ["exec.>", "ord.>"]):
        e = d.event
        if isinstance(e, FillRecorded) and e.graph_id == graph_id and e.node_id == "entry":
            entry_filled += e.qty_1e8
        if isinstance(e, NodeActivated) and e.graph_id == graph_id and e.node_id == "hedge":
            assert entry_filled >= 5_000_000
            assert e.fired_edge_id == "e_entry_hedge"
            break
    else:
        raise AssertionError("the hedge node was never activated")


async def test_twap_releases_its_slices_on_schedule_and_fills(
    cluster: tuple[httpx.AsyncClient, list[SimServer], object],
) -> None:
    client, servers, api = cluster
    body = {
        "nodes": [
            {
                "node_id": "twap",
                "instrument": {"symbol": "BTC-USDT", "type": "spot", "venue": None},
                "side": "buy",
                "order_type": "market",
                "quantity": {"fixed": {"qty_1e8": 30_000_000}},
                "execution": {"policy": "twap", "horizon_ms": 1500, "pacing": {"uniform": {"num_slices": 3, "interval_ms": 500}}},
            }
        ],
        "edges": [],
    }
    r = await client.post("/v1/orders", json=body)
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.terminal, timeout=30
    )
    status = (await client.get(f"/v1/execution_graphs/{graph_id}")).json()
    assert status["status"] == "COMPLETED"
    assert status["nodes"]["twap"]["filled_qty_1e8"] == 30_000_000
    activated_ns, plans = None, []
    async for d in api.bus.replay("LEDGER", ["ord.>", "route.>"]):
        e = d.event
        if isinstance(e, NodeActivated) and e.graph_id == graph_id:
            activated_ns = e.ts_ns
        if isinstance(e, PlanMade) and e.graph_id == graph_id:
            plans.append(e)
    assert activated_ns is not None and len(plans) == 3  # one plan per slice
    assert sum(p.qty_1e8 for p in plans) == 30_000_000
    for i, plan in enumerate(plans):
        due = activated_ns + i * 500_000_000
        assert due <= plan.ts_ns < due + 2_000_000_000, f"slice {i} released at +{(plan.ts_ns - activated_ns) / 1e6} ms"


async def test_a_limit_order_below_the_market_rests_until_cancelled(
    cluster: tuple[httpx.AsyncClient, list[SimServer], object],
) -> None:
    client, servers, api = cluster
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9
    limit = (bid * 9 // 10) // 1_000_000_000 * 1_000_000_000  # 10% under the bid, on a whole-dollar tick
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.02, "price": limit / 1e9})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    acked: list[ChildAcked] = []
    watcher = StreamFollower(
        api.bus, "LEDGER", ["exec.>"],
        lambda e, seq: acked.append(e) if isinstance(e, ChildAcked) and e.child_id.startswith(graph_id) else None,
    )
    await watcher.start()
    await watcher.wait_until(lambda: bool(acked), timeout=20)  # the resting child reached the venue
    await watcher.stop()
    status = (await client.get(f"/v1/execution_graphs/{graph_id}")).json()
    assert status["status"] == "RUNNING" and status["nodes"]["order"]["filled_qty_1e8"] == 0
    cancelled = await client.delete(f"/v1/execution_graphs/{graph_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    allocated = [d.event async for d in api.bus.replay("LEDGER", "route.>") if isinstance(d.event, ChildAllocated)]
    [child] = [e for e in allocated if e.graph_id == graph_id]
    assert (child.limit_px_1e9, child.tif, child.qty_1e8) == (limit, "gtc", 2_000_000)
    assert acked[0].client_order_id == child.client_order_id
