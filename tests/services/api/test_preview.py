"""POST /v1/orders/preview: the router's plan on the live books, with no side effects."""

from __future__ import annotations

import httpx

from services.edges.sim.server import SimServer


async def test_preview_plans_across_venues_and_trades_nothing(
    cluster: tuple[httpx.AsyncClient, list[SimServer], object],
) -> None:
    client, servers, api = cluster
    for server in servers:
        await server.pause()
    await api.md_follower.wait_caught_up()
    ledger_before = (await api.bus.js.stream_info("LEDGER")).state.last_seq
    r = await client.post("/v1/orders/preview", json={"symbol": "BTC-USDT", "side": "buy", "order_type": "market", "qty": 0.5})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["qty_1e8"] == 50_000_000 and plan["source"] == "edge_nbbo"
    assert sum(v["alloc_qty_1e8"] for v in plan["candidate_venues"]) + plan["unroutable_qty_1e8"] == 50_000_000
    best_ask = api.market.nbbo("BTC-USDT").ask_px_1e9
    assert plan["est_avg_price_1e9"] >= best_ask
    assert plan["est_total_cost_usd_1e9"] >= plan["est_notional_usd_1e9"]  # fees on top, for a buy
    assert (await api.bus.js.stream_info("LEDGER")).state.last_seq == ledger_before  # no side effects
    bad = await client.post("/v1/orders/preview", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0})
    assert bad.status_code == 422 and "qty" in bad.json()["error"]["message"]
    for huge in ("1e999999", "1e400"):  # parse as Decimals, but overflow once scaled to qty_1e8
        r = await client.post("/v1/orders/preview", json={"symbol": "BTC-USDT", "side": "buy", "qty": huge})
        assert r.status_code == 422 and "qty" in r.json()["error"]["message"], r.text
        r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": huge})
        assert r.status_code == 422, r.text
    unknown = await client.post("/v1/orders/preview", json={"symbol": "NOPE-USD", "side": "buy", "qty": 1})
    assert unknown.status_code == 404
    for server in servers:
        server.resume()
