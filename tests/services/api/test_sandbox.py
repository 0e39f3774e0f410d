"""POST /v1/sandbox/reset, PUT /v1/sandbox/settings, POST /v1/sandbox/positions and the amend alias
PATCH /v1/execution_graphs/{graph_id}/nodes/{node_id}, on the real stack."""

from __future__ import annotations

import httpx

from services.api.keys import create_key
from services.api.state import ApiState
from services.edges.sandbox.balances import FundingPlan, paper_funding
from services.edges.sim.server import SimServer
from services.settings import Settings

Cluster = tuple[httpx.AsyncClient, list[SimServer], ApiState]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def balances(client: httpx.AsyncClient, **kw: object) -> dict[tuple[str, str], int]:
    r = await client.get("/v1/balances", **kw)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return {(b["venue"], b["asset"]): b["qty_1e8"] for b in r.json()["balances"] if b["is_sandbox"]}


def nonzero(rows: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    return {k: v for k, v in rows.items() if v}


async def crypto_positions(client: httpx.AsyncClient) -> dict[str, int]:
    r = await client.get("/v1/positions/unified", params={"include_closed": "true", "kinds": "crypto"})
    assert r.status_code == 200, r.text
    return {p["id"]: p["qty_1e8"] for p in r.json()["positions"]}


async def test_reset_cancels_working_orders_and_restores_paper_balances_once(cluster: Cluster) -> None:
    client, _, api = cluster
    paper = {(g.venue, g.asset): g.qty_1e8 for g in paper_funding(api.sandbox_venues)}
    bought = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.5})
    assert bought.status_code == 200, bought.text
    bought_id = bought.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(bought_id)) is not None and g.terminal, timeout=30
    )
    bid = api.market.nbbo("BTC-USDT").bid_px_1e9  # type: ignore[union-attr]
    resting = await client.post(
        "/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.05, "price": bid // 2 / 1e9}
    )
    assert resting.status_code == 200, resting.text
    resting_id = resting.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(resting_id)) is not None and bool(g.nodes["order"].open_children),
        timeout=30,
    )
    # The alias amends like PATCH /v1/orders/{node_order_id}: same body, same answer.
    amended = await client.patch(f"/v1/execution_graphs/{resting_id}/nodes/order", json={"new_qty_1e8": 3_000_000})
    missing = await client.patch(f"/v1/execution_graphs/{resting_id}/nodes/nope", json={"new_qty_1e8": 3_000_000})
    empty = await client.patch(f"/v1/execution_graphs/{resting_id}/nodes/order")
    assert amended.status_code == 200, amended.text
    assert amended.json()["qty_1e8"] == 3_000_000 and amended.json()["node_order_id"].startswith(f"{resting_id}:order:")
    assert missing.status_code == 404 and empty.status_code == 400
    await api.positions.wait_for(api.ledger_follower.position)
    before = await balances(client)
    assert api.ledger.books.account("default", True).position("BTC-USDT").qty_1e8 == 50_000_000
    assert nonzero(before) != paper
    assert sum((await crypto_positions(client)).values()) == 50_000_000
    # Act
    first = await client.post("/v1/sandbox/reset", headers={"X-Request-Id": "reset-1"})
    after = await balances(client)
    flat = await crypto_positions(client)
    again = await client.post("/v1/sandbox/reset")
    replay = await client.post("/v1/sandbox/reset", headers={"X-Request-Id": "reset-1"})
    after_again = await balances(client)
    # Assert
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["cancelled"] == 1 and api.ledger.graphs[resting_id].status == "CANCELLED"
    moved = {(d["venue"], d["asset"]): d["delta_qty_1e8"] for d in body["adjusted"]}
    assert moved and all(paper.get(k, 0) - before.get(k, 0) == v for k, v in moved.items())
    assert nonzero(after) == paper  # every sandbox balance is back at its paper amount
    assert flat == {}  # the bought BTC-USDT position is gone (its fills stay in the log)
    assert api.ledger.books.account("default", True).positions == {}  # the risk fold is flat too
    fills = (await client.get("/v1/fills")).json()["fills"]
    assert sum(f["qty_1e8"] for f in fills if f["graph_id"] == bought_id) == 50_000_000
    assert again.status_code == 200 and again.json()["cancelled"] == 0 and again.json()["adjusted"] == []
    assert replay.json()["replayed"] is True and replay.json()["adjusted"] == body["adjusted"]
    assert after_again == after


async def test_settings_set_amounts_positions_set_a_qty_and_tenants_stay_apart(
    cluster: Cluster, settings: Settings
) -> None:
    client, _, api = cluster
    other = bearer(create_key(settings, "tenant-b", sandbox=True, now_ns=2).secret)
    live = bearer(create_key(settings, "default", sandbox=False, now_ns=3).secret)
    await client.post("/v1/sandbox/reset")  # tenant A funded, at the defaults
    a_before = await balances(client)
    # Act
    put = await client.put("/v1/sandbox/settings", json={"balances": {"USDT": "1000000", "btc": "10.5"}})
    reset = await client.post("/v1/sandbox/reset")
    a_after = await balances(client)
    b_put = await client.put("/v1/sandbox/settings", headers=other, json={"balances": {"USD": "5"}})
    b_reset = await client.post("/v1/sandbox/reset", headers=other)
    b_rows = await balances(client, headers=other)
    a_untouched = await balances(client)
    pos = await client.post("/v1/sandbox/positions", json={"venue": "binance", "asset": "BTC", "qty": "2.5"})
    a_pos = await balances(client)
    # Assert
    assert put.status_code == 200, put.text
    assert put.json()["balances"] == {"USDT": "1000000", "BTC": "10.5"} and put.json()["is_default"] is False
    assert reset.status_code == 200, reset.text
    plan = FundingPlan(assets=(("USDT", 1_000_000 * 10**8), ("BTC", 1_050_000_000)))
    assert nonzero(a_after) == {(g.venue, g.asset): g.qty_1e8 for g in paper_funding(api.sandbox_venues, plan)}
    assert a_after[("binance", "USDT")] == 1_000_000 * 10**8 and a_after[("binance", "ETH")] == 0
    assert ("kalshi", "BTC") not in nonzero(a_after)  # prediction venues hold dollars only
    assert a_before != a_after
    assert b_put.status_code == b_reset.status_code == 200
    assert nonzero(b_rows) == {(v, "USD"): 500_000_000 for v in api.sandbox_venues}
    assert a_untouched == a_after  # tenant B's settings and reset leave tenant A alone
    assert (await client.get("/v1/sandbox/settings")).json()["balances"] == {"USDT": "1000000", "BTC": "10.5"}
    assert pos.status_code == 200, pos.text
    assert pos.json()["delta_qty_1e8"] == 250_000_000 - 1_050_000_000
    assert a_pos[("binance", "BTC")] == 250_000_000
    assert {k: v for k, v in a_pos.items() if k != ("binance", "BTC")} == {
        k: v for k, v in a_after.items() if k != ("binance", "BTC")
    }
    for method, path in (("POST", "/v1/sandbox/reset"), ("PUT", "/v1/sandbox/settings"), ("POST", "/v1/sandbox/positions")):
        r = await client.request(method, path, headers=live, json={})
        assert r.status_code == 403 and "sandbox" in r.json()["error"]["message"], (path, r.text)


async def test_bad_amounts_answer_422_naming_the_field(cluster: Cluster) -> None:
    client, _, _ = cluster
    cases = [
        ({"balances": {"BTC": "-1"}}, "balances.BTC"),
        ({"balances": {"BTC": "0"}}, "balances.BTC"),
        ({"balances": {"BTC": "NaN"}}, "balances.BTC"),
        ({"balances": {"BTC": "Infinity"}}, "balances.BTC"),
        ({"balances": {"BTC": "1e30"}}, "balances.BTC"),
        ({"balances": {"BTC": "0.000000001"}}, "balances.BTC"),
        ({"balances": {"BTC": 1.5}}, "balances.BTC"),
        ({"balances": {"B/TC": "1"}}, "balances.B/TC"),
        ({"balances": ["BTC"]}, "balances"),
    ]
    for body, field in cases:
        r = await client.put("/v1/sandbox/settings", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["error"]["details"][0]["field"] == field
    bad_venue = await client.post("/v1/sandbox/positions", json={"venue": "nasdaq", "asset": "BTC", "qty": "1"})
    bad_qty = await client.post("/v1/sandbox/positions", json={"venue": "binance", "asset": "BTC", "qty": "-2"})
    assert bad_venue.status_code == 422 and bad_venue.json()["error"]["details"][0]["field"] == "venue"
    assert bad_qty.status_code == 422 and bad_qty.json()["error"]["details"][0]["field"] == "qty"
    assert (await client.get("/v1/sandbox/settings")).json()["is_default"] is True  # nothing was stored
