"""API keys on the HTTP surface: 401s on every route, tenant isolation, the kill switch."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from events import new_event_id
from events.execution import FillRecorded
from events.market import BookSnapshot
from services.api.app import create_app
from services.api.keys import IssuedKey, create_key, open_key_store
from services.api.state import ApiState
from services.bus import Bus
from services.graph import parse_order_body, submit
from services.settings import Settings
from tests.facts import with_children
from tests.stack import kernel

ORDER = {"symbol": "BTC-USDT", "side": "buy", "qty": 0.01}
MISSING = "missing API key: send Authorization: Bearer <key>"
MALFORMED = "malformed API key: expected seq_live_<64 hex> or seq_test_<64 hex>"


@dataclass
class Api:
    app: FastAPI
    state: ApiState
    http: httpx.AsyncClient

    @staticmethod
    def auth(key: IssuedKey | str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key if isinstance(key, str) else key.secret}"}


@pytest.fixture
async def api(bus: Bus, settings: Settings) -> AsyncIterator[Api]:
    # One venue book for BTC-USDT: orders are only taken for symbols some venue lists.
    await bus.publish(
        BookSnapshot(
            event_id=new_event_id(), ts_ns=1, venue="okx", symbol="BTC-USDT",
            bids=[(97_000_000_000_000, 100_000_000)], asks=[(97_001_000_000_000, 100_000_000)],
        )
    )
    app = create_app(settings)
    async with kernel(bus), app.router.lifespan_context(app):  # the kernel runs the API's commands
        await app.state.api.ledger_follower.wait_caught_up()
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            yield Api(app, app.state.api, http)


def concrete_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def api_routes(routes: list[BaseRoute]) -> list[APIRoute]:
    # FastAPI >= 0.16x keeps an included router as one entry that wraps the original router.
    out: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif (inner := getattr(route, "original_router", None)) is not None:
            out.extend(api_routes(inner.routes))
    return out


def keyed_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = api_routes(app.routes)
    out = [
        (method, concrete_path(route.path))
        for route in routes
        if route.path != "/v1/health/live"
        for method in sorted(route.methods)
    ]
    # Nothing hides from the walk: every documented operation is in it.
    documented = {(m.upper(), concrete_path(p)) for p, ops in app.openapi()["paths"].items() for m in ops}
    assert documented - {("GET", "/v1/health/live")} <= set(out)
    assert len(out) >= 9  # market, orders and account routes at least
    return out


async def test_every_route_but_health_answers_401_without_a_valid_key(api: Api, settings: Settings) -> None:
    # Arrange: one revoked key and one well-formed key that was never issued.
    revoked = create_key(settings, "acme", sandbox=True, now_ns=1)
    store = open_key_store(settings)
    store.revoke(revoked.record.key_id, now_ns=2)
    store.close()
    unknown = "seq_live_" + "ab" * 32
    cases = {
        "missing": ({}, MISSING),
        "not bearer": ({"Authorization": f"Basic {unknown}"}, MISSING),
        "wrong prefix": ({"Authorization": "Bearer sk_live_" + "ab" * 32}, MALFORMED),
        "upper-case hex": ({"Authorization": "Bearer seq_live_" + "AB" * 32}, MALFORMED),
        "short": ({"Authorization": "Bearer seq_test_abc"}, MALFORMED),
        "unknown": (Api.auth(unknown), "unknown API key"),
        "revoked": (Api.auth(revoked), f"API key {revoked.record.key_id} was revoked"),
    }
    for method, path in keyed_routes(api.app):
        for case, (headers, message) in cases.items():
            # Act
            r = await api.http.request(method, path, headers=headers, json={"reason": "x"} if method != "GET" else None)
            # Assert
            assert r.status_code == 401, (case, method, path, r.text)
            err = r.json()["error"]
            assert err["code"] == "UNAUTHORIZED" and err["message"] == message, (case, method, path)
    assert (await api.http.get("/v1/health/live")).json() == {"status": "ok"}


async def test_a_tenant_never_sees_another_tenants_graphs_orders_or_fills(api: Api, settings: Settings) -> None:
    # Arrange: tenant A places an order and gets a fill; tenant B has its own key.
    a = create_key(settings, "tenant-a", sandbox=True, now_ns=1)
    b = create_key(settings, "tenant-b", sandbox=True, now_ns=1)
    r = await api.http.post("/v1/orders", json={**ORDER, "graph_id": "g_a_1"}, headers=Api.auth(a))
    assert r.status_code == 200, r.text
    fill = FillRecorded(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant="tenant-a", fill_id="f1", child_id="g_a_1:order:1:okx",
        client_order_id="c1", graph_id="g_a_1", node_id="order", venue="okx", symbol="BTC-USDT", side="buy",
        qty_1e8=1_000_000, px_1e9=97_000_000_000_000, fee_usd_1e9=970_000_000, liquidity="taker", is_sandbox=True,
    )
    # The executor's ChildSubmitted goes first: a fill that races the router's allocation would
    # name a child the ledger does not know yet, and be refused.
    acks = [await api.state.bus.publish(event) for event in with_children([fill])]
    await api.state.ledger_follower.wait_for(acks[-1].seq)
    # Act / Assert: A sees its own graph, order and fill.
    assert (await api.http.get("/v1/execution_graphs/g_a_1", headers=Api.auth(a))).json()["graph_id"] == "g_a_1"
    a_orders = (await api.http.get("/v1/orders", headers=Api.auth(a))).json()
    assert [o["graph_id"] for o in a_orders["orders"]] == ["g_a_1"] and a_orders["total"] == 1
    a_fills = (await api.http.get("/v1/fills", headers=Api.auth(a))).json()
    assert [(f["fill_id"], f["qty_1e8"]) for f in a_fills["fills"]] == [("f1", 1_000_000)]
    # B gets 404 for A's graph (the same answer as an unknown id) and sees none of A's rows.
    foreign = await api.http.get("/v1/execution_graphs/g_a_1", headers=Api.auth(b))
    unknown = await api.http.get("/v1/execution_graphs/g_nope", headers=Api.auth(b))
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["error"]["code"] == "NOT_FOUND"
    assert (await api.http.get("/v1/orders", headers=Api.auth(b))).json() == {
        "orders": [], "total": 0, "limit": 50, "offset": 0, "has_more": False
    }
    assert (await api.http.get("/v1/orders", params={"node_order_id": "g_a_1:order:1"}, headers=Api.auth(b))).json()[
        "orders"
    ] == []
    assert (await api.http.get("/v1/fills", headers=Api.auth(b))).json()["fills"] == []
    # Reusing A's graph_id does not replay A's graph to B.
    clash = await api.http.post("/v1/orders", json={**ORDER, "graph_id": "g_a_1"}, headers=Api.auth(b))
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "CONFLICT"
    assert "g_a_1" not in {g for g, s in api.state.ledger.graphs.items() if s.tenant == "tenant-b"}


async def test_kill_switch_blocks_new_orders_until_an_admin_clears_it(api: Api, settings: Settings) -> None:
    # Arrange: the tenant's first key is its owner (admin); a second key is not.
    owner = create_key(settings, "acme", sandbox=True, now_ns=1)
    trader = create_key(settings, "acme", sandbox=True, now_ns=2)
    other = create_key(settings, "other", sandbox=True, now_ns=3)
    assert owner.record.is_admin and not trader.record.is_admin
    # Act: a non-admin key may engage.
    r = await api.http.post("/v1/kill_switch", json={"reason": "fat finger"}, headers=Api.auth(trader))
    # Assert
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["engaged"] is True and body["reason"] == "fat finger"
    assert body["engaged_at_ns"] == api.state.ledger.kill["acme"].ts_ns
    blocked = await api.http.post("/v1/orders", json=ORDER, headers=Api.auth(owner))
    assert blocked.status_code == 409
    assert blocked.json()["error"]["code"] == "KILL_SWITCH"
    assert blocked.json()["error"]["message"] == "kill switch engaged: fat finger"
    account = (await api.http.get("/v1/account", headers=Api.auth(trader))).json()
    assert account["kill_switch"]["engaged"] is True and account["is_admin"] is False
    # Another tenant is not affected.
    assert (await api.http.post("/v1/orders", json=ORDER, headers=Api.auth(other))).status_code == 200
    # A non-admin key cannot clear.
    denied = await api.http.post("/v1/kill_switch/clear", headers=Api.auth(trader))
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "FORBIDDEN"
    assert (await api.http.post("/v1/orders", json=ORDER, headers=Api.auth(trader))).status_code == 409
    # The admin clears with no body at all (the SDK sends none for {}).
    cleared = await api.http.post("/v1/kill_switch/clear", headers={**Api.auth(owner), "Content-Type": "application/json"})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["engaged"] is False and cleared.json()["cleared_at_ns"] > body["engaged_at_ns"]
    accepted = await api.http.post("/v1/orders", json=ORDER, headers=Api.auth(trader))
    assert accepted.status_code == 200, accepted.text
    assert (await api.http.get("/v1/account", headers=Api.auth(owner))).json()["kill_switch"] == {
        "engaged": False, "reason": None, "engaged_at_ns": None
    }


async def test_put_engages_and_an_empty_body_means_no_reason(api: Api, settings: Settings) -> None:
    owner = create_key(settings, "acme", sandbox=True, now_ns=1)
    r = await api.http.put("/v1/kill_switch", headers=Api.auth(owner))
    assert r.status_code == 200 and r.json()["engaged"] is True and r.json()["reason"] is None
    blocked = await api.http.post("/v1/orders", json=ORDER, headers=Api.auth(owner))
    assert blocked.json()["error"] == {**blocked.json()["error"], "code": "KILL_SWITCH",
                                       "message": "kill switch engaged: no reason given"}
    bad = await api.http.post("/v1/kill_switch", json={"reason": 5}, headers=Api.auth(owner))
    assert bad.status_code == 400 and bad.json()["error"]["details"] == [
        {"field": "reason", "message": "must be a string or null"}
    ]


async def test_the_router_rejects_a_graph_that_reached_the_log_while_the_kill_switch_is_on(
    api: Api, bus: Bus, settings: Settings
) -> None:
    # Arrange: the kernel's router folds the account; the kill switch is engaged through the API.
    owner = create_key(settings, "acme", sandbox=True, now_ns=1)
    assert (await api.http.post("/v1/kill_switch", json={"reason": "halt"}, headers=Api.auth(owner))).status_code == 200
    # Act: a graph written straight to the log (not through the API's check).
    parsed = parse_order_body({**ORDER, "graph_id": "g_direct"}, new_event_id, force_sandbox=True)
    _, events = submit(parsed, tenant="acme", now_ns=time.time_ns(), new_id=new_event_id)
    await bus.publish_many(events)
    # Assert: the router's risk check rejects the node with KILL_SWITCH and the reason.
    ledger = api.state.ledger
    await api.state.ledger_follower.wait_until(
        lambda: "g_direct" in ledger.graphs and ledger.graphs["g_direct"].nodes["order"].risk_reject_code is not None,
        timeout=10,
    )
    node = ledger.graphs["g_direct"].nodes["order"]
    assert node.risk_reject_code == "KILL_SWITCH"
    assert node.last_reject_reason == "KILL_SWITCH: kill switch engaged: halt"

