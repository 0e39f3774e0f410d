"""GET /v1/traces (an order's ns lifecycle from the log) and GET /v1/health, on the real stack."""

from __future__ import annotations

import time

import httpx

from events import new_event_id
from events.risk import KillSwitchEngaged
from services.api.app import create_app
from services.api.keys import create_key
from services.bus import Bus
from services.settings import Settings
from tests.services.conftest import Stack


async def _filled(client: httpx.AsyncClient, stack: Stack, body: dict) -> tuple[str, dict]:
    r = await client.post("/v1/orders", json=body)
    assert r.status_code == 200, r.text
    status = await stack.until_terminal(r.json()["graph_id"])
    assert status["status"] == "COMPLETED", status
    node = status["nodes"]["order"]
    return node["node_order_id"], node


async def test_trace_of_a_filled_market_order_lists_its_lifecycle_in_log_order(stack: Stack) -> None:
    # Arrange: a market order pinned to one venue, so every stage follows from the one before.
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as client:
        node_order_id, node = await _filled(
            client, stack, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.01, "venue": "binance"}
        )
        # Act
        r = await client.get("/v1/traces", params={"node_order_id": node_order_id})
        paged = await client.get("/v1/traces", params={"node_order_id": node_order_id, "limit": 2, "offset": 1})
    # Assert
    assert r.status_code == 200, r.text
    body = r.json()
    traces = body["traces"]
    stages = [t["stage"] for t in traces]
    assert stages[:2] == ["accepted", "activated"], stages
    for before, after in [("activated", "risk_passed"), ("risk_passed", "planned"), ("planned", "child_allocated"),
                          ("child_allocated", "child_acked"), ("child_acked", "fill"), ("fill", "completed"),
                          ("completed", "graph_completed")]:
        assert stages.index(before) < stages.index(after), (before, after, stages)
    assert "risk_rejected" not in stages and "child_rejected" not in stages
    assert [t["seq"] for t in traces] == sorted({t["seq"] for t in traces})  # log order, no duplicates
    assert all(a["ts_ns"] <= b["ts_ns"] for a, b in zip(traces, traces[1:])), [(t["stage"], t["ts_ns"]) for t in traces]
    fills = [t for t in traces if t["stage"] == "fill"]
    assert fills and all(f["venue"] == "binance" and f["px_1e9"] > 0 for f in fills)
    assert sum(f["qty_1e8"] for f in fills) == node["filled_qty_1e8"] == 1_000_000
    [plan] = [t for t in traces if t["stage"] == "planned"]
    assert "binance qty_1e8=1000000" in plan["detail"]
    [done] = [t for t in traces if t["stage"] == "completed"]
    assert done["detail"].startswith("FILLED") and done["qty_1e8"] == 1_000_000
    assert body["total"] == len(traces) and body["has_more"] is False
    assert paged.json()["traces"] == traces[1:3] and paged.json()["has_more"] is True


async def test_trace_of_an_sor_order_places_every_fill_and_child_reply(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as client:
        node_order_id, node = await _filled(client, stack, {"symbol": "BTC-USDT", "side": "sell", "qty": 0.5})
        traces = (await client.get("/v1/traces", params={"node_order_id": node_order_id})).json()["traces"]
    children = {t["child_id"] for t in traces if t["stage"] == "child_allocated"}
    acked = {t["child_id"] for t in traces if t["stage"] == "child_acked"}
    fills = [t for t in traces if t["stage"] == "fill"]
    # Child replies name only their child: each is still placed under this order.
    assert children and acked <= children and {f["child_id"] for f in fills} <= children
    assert sum(f["qty_1e8"] for f in fills) == node["filled_qty_1e8"] > 0
    assert [t["seq"] for t in traces] == sorted(t["seq"] for t in traces)


async def test_another_tenants_order_is_404_like_an_unknown_one(stack: Stack) -> None:
    # Arrange: acme's filled order; a key of another tenant.
    acme = {"Authorization": f"Bearer {stack.key}"}
    other = create_key(stack.settings, "globex", sandbox=True, now_ns=time.time_ns()).secret
    async with httpx.AsyncClient(base_url=stack.base_url, headers=acme) as client:
        node_order_id, _ = await _filled(client, stack, {"symbol": "BTC-USDT", "side": "buy", "qty": 0.01})
        # Act
        foreign = await client.get("/v1/traces", params={"node_order_id": node_order_id},
                                   headers={"Authorization": f"Bearer {other}"})
        unknown = await client.get("/v1/traces", params={"node_order_id": "g_nope:order:1"},
                                   headers={"Authorization": f"Bearer {other}"})
        wrong_seq = await client.get("/v1/traces", params={"node_order_id": node_order_id[:-1] + "2"}, headers=acme)
        malformed = await client.get("/v1/traces", params={"node_order_id": "nope"}, headers=acme)
        own = await client.get("/v1/traces", params={"node_order_id": node_order_id}, headers=acme)
    # Assert
    assert foreign.status_code == unknown.status_code == wrong_seq.status_code == 404
    assert foreign.json()["error"]["code"] == unknown.json()["error"]["code"] == "NOT_FOUND"
    assert foreign.json()["error"]["message"] == f"unknown order {node_order_id!r}"
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "INVALID_PARAMS"
    assert own.status_code == 200 and own.json()["traces"]


async def test_health_reports_nats_ledger_edges_and_kill_switch(stack: Stack) -> None:
    headers = {"Authorization": f"Bearer {stack.key}"}
    async with httpx.AsyncClient(base_url=stack.base_url, headers=headers) as client:
        # Act
        bare = await client.get("/v1/health", headers={"Authorization": ""})
        healthy = await client.get("/v1/health")
        engaged = await client.post("/v1/kill_switch", json={"reason": "drill"})
        after = await client.get("/v1/health")
    # Assert
    assert bare.status_code == 401
    assert healthy.status_code == 200, healthy.text
    body = healthy.json()
    assert body["status"] == "ok" and body["problems"] == []
    assert body["nats"] == {"connected": True}
    assert body["ledger"]["caught_up"] is True and body["ledger"]["position"] >= body["ledger"]["last_seq"] >= 0
    assert body["ledger_lag"] == body["ledger"]["lag"] >= 0
    assert body["edges"] == {"connected": 2, "degraded": 0, "down": 0}
    assert set(body["views"]) == {"orders", "positions"} and not body["views"]["orders"]["halted"]
    assert body["kill_switch"] == {"engaged": False, "reason": None, "engaged_at_ns": None}
    assert engaged.status_code == 200
    assert after.json()["kill_switch"] == {"engaged": True, "reason": "drill", "engaged_at_ns": engaged.json()["engaged_at_ns"]}


async def test_health_is_503_with_the_same_body_when_the_ledger_follower_falls_behind(stack: Stack) -> None:
    # Arrange: the follower stops; the log moves on without it.
    await stack.api.ledger_follower.stop()
    ack = await stack.api.bus.publish(
        KillSwitchEngaged(event_id=new_event_id(), ts_ns=time.time_ns(), tenant="someone-else", reason="x")
    )
    # Act
    async with httpx.AsyncClient(base_url=stack.base_url, headers={"Authorization": f"Bearer {stack.key}"}) as client:
        r = await client.get("/v1/health")
    # Assert
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable" and body["nats"] == {"connected": True}
    assert body["ledger"]["caught_up"] is False and body["ledger"]["last_seq"] >= ack.seq
    assert body["ledger_lag"] >= 1
    assert any("ledger follower" in p for p in body["problems"])
    assert set(body) == {"status", "ready", "checked_ns", "nats", "ledger_lag", "ledger", "views", "edges",
                         "kill_switch", "facts", "problems"}


async def test_health_is_503_when_nats_is_disconnected(bus: Bus, settings: Settings) -> None:
    # Arrange: an API whose own NATS connection is gone (the server itself keeps running).
    key = create_key(settings, "acme", sandbox=True, now_ns=1).secret
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.api.ledger_follower.wait_caught_up()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get("/v1/health", headers={"Authorization": f"Bearer {key}"})).status_code == 200
            await app.state.api.bus.nc.close()
            # Act
            r = await client.get("/v1/health", headers={"Authorization": f"Bearer {key}"})
    # Assert
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unavailable" and body["nats"] == {"connected": False}
    assert body["ledger"]["last_seq"] is None and body["ledger_lag"] is None and body["ledger"]["caught_up"] is False
    assert body["problems"][0] == "NATS is disconnected"
