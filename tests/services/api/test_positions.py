"""GET /v1/positions/unified, /v1/positions, /v1/positions/perp and /v1/balances over the durable view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from events import new_event_id
from events.execution import BalanceAdjusted, FillRecorded
from events.market import BookSnapshot, VenueStatusChanged
from tests.facts import with_children
from services.api.app import create_app
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.edges.sim.server import SimServer
from services.settings import Settings

BTC_BID, BTC_ASK = 97_000_000_000_000, 97_000_100_000_000
MID = (BTC_BID + BTC_ASK) // 2  # 97_000.05


def fund(
    venue: str, asset: str, qty_1e8: int, tenant: str = "default", *, is_sandbox: bool = True
) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=new_event_id(), ts_ns=1, tenant=tenant, venue=venue, asset=asset, delta_qty_1e8=qty_1e8,
        reason="paper_funding", is_sandbox=is_sandbox,
    )


def fill(
    fill_id: str, venue: str, symbol: str, side: Literal["buy", "sell"], qty_1e8: int, px_1e9: int, fee: int,
    tenant: str = "default",
) -> FillRecorded:
    return FillRecorded(
        event_id=new_event_id(), ts_ns=2, tenant=tenant, fill_id=fill_id, child_id=f"c-{venue}", client_order_id="co1",
        graph_id="g1", node_id="n1", venue=venue, symbol=symbol, side=side, qty_1e8=qty_1e8, px_1e9=px_1e9,
        fee_usd_1e9=fee, liquidity="taker", is_sandbox=True,
    )


@pytest.fixture(params=["sqlite", "postgres"])
def view_settings(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Settings:
    if request.param == "sqlite":
        return settings
    return settings.model_copy(update={"database_url": request.getfixturevalue("postgres_url")})


@pytest.fixture
async def api(bus: Bus, view_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ApiState]]:
    await bus.publish_many(
        [
            VenueStatusChanged(event_id=new_event_id(), ts_ns=1, venue="binance", state="connected"),
            BookSnapshot(
                event_id=new_event_id(), ts_ns=1, venue="binance", symbol="BTC-USDT",
                bids=[(BTC_BID, 10_000_000)], asks=[(BTC_ASK, 10_000_000)], ts_recv_ns=1,
            ),
        ]
    )
    acks = await bus.publish_many(
        with_children([
            fund("binance", "USDT", 100_000_000_000_000),  # 1,000,000 USDT
            fund("binance", "BTC", 100_000_000),  # 1 BTC held, never traded: a balance, not a position
            fill("f1", "binance", "BTC-USDT", "buy", 50_000_000, 96_000_000_000_000, 48_000_000_000),
            fill("f2", "bybit", "BTC-USDT-PERP", "sell", 100_000_000, 60_000_000_000_000, 33_000_000_000),
            fill("f3", "okx", "BTC-USDT", "buy", 10_000_000, 95_000_000_000_000, 0),
            fill("f4", "okx", "BTC-USDT", "sell", 10_000_000, 95_000_000_000_000, 0),  # flat again: closed
            fill("x1", "binance", "BTC-USDT", "buy", 70_000_000, 96_000_000_000_000, 0, tenant="other"),
            fund("kraken", "USD", 700_000_000, is_sandbox=False),  # a live deposit: hidden from a test key
        ])
    )
    key = create_key(view_settings, "default", sandbox=True, now_ns=1).secret
    app = create_app(view_settings)
    async with app.router.lifespan_context(app):
        state: ApiState = app.state.api
        await state.md_follower.wait_caught_up()
        await state.positions.wait_for(acks[-1].seq)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers={"Authorization": f"Bearer {key}"}
        ) as c:
            yield c, state


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in rows}


async def test_unified_positions_are_marked_to_the_nbbo_mid_with_exact_totals(
    api: tuple[httpx.AsyncClient, ApiState],
) -> None:
    client, _ = api
    # Act
    r = await client.get("/v1/positions/unified")
    # Assert
    assert r.status_code == 200, r.text
    body = r.json()
    rows = by_id(body["positions"])
    assert sorted(rows) == ["sandbox/binance/BTC-USDT", "sandbox/binance/USDT", "sandbox/bybit/BTC-USDT-PERP", "sandbox/bybit/USDT"]
    assert rows["sandbox/binance/BTC-USDT"] == {
        "id": "sandbox/binance/BTC-USDT",
        "venue": "binance",
        "instrument": {"kind": "crypto", "symbol": "BTC-USDT", "type": "spot"},
        "qty_1e8": 50_000_000,
        "locked_qty_1e8": 0,
        "available_qty_1e8": 50_000_000,
        "entry_price_usd_1e9": 96_000_000_000_000,
        "current_price_usd_1e9": MID,
        "current_value_usd_1e9": 48_500_025_000_000,  # 0.5 * 97_000.05
        "unrealized_pnl_usd_1e9": 500_025_000_000,  # 0.5 * (97_000.05 - 96_000)
        "realized_pnl_usd_1e9": 0,
        "fees_usd_1e9": 48_000_000_000,
        "lifecycle": {"state": "active"},
        "transferable": True,
        "settled": False,
        "settled_mark_usd_1e9": None,
        "is_sandbox": True,
    }
    perp = rows["sandbox/bybit/BTC-USDT-PERP"]
    assert perp["instrument"] == {"kind": "perp", "symbol": "BTC-USDT-PERP", "type": "perp"} and perp["qty_1e8"] == -100_000_000
    # No book for the perp: marked at cost, so no invented PnL.
    assert perp["current_price_usd_1e9"] == perp["entry_price_usd_1e9"] == 60_000_000_000_000
    assert perp["current_value_usd_1e9"] == -60_000_000_000_000 and perp["unrealized_pnl_usd_1e9"] == 0
    # 1,000,000 USDT - 48,000 cost - 48 fee
    assert rows["sandbox/binance/USDT"]["qty_1e8"] == 95_195_200_000_000
    assert rows["sandbox/binance/USDT"]["current_value_usd_1e9"] == 951_952_000_000_000
    assert rows["sandbox/bybit/USDT"]["qty_1e8"] == -3_300_000_000  # the perp's 33 USD fee
    assert body["totals"] == {
        "nav_usd_1e9": 951_952_000_000_000 - 33_000_000_000 + 48_500_025_000_000,
        "cash_usd_1e9": 951_952_000_000_000 - 33_000_000_000,
        "crypto_usd_1e9": 48_500_025_000_000,
        "perp_unrealized_pnl_usd_1e9": 0,
        "event_contract_usd_1e9": 0,
        "unrealized_pnl_usd_1e9": 500_025_000_000,
        "realized_pnl_usd_1e9": 0,
        "fees_usd_1e9": 81_000_000_000,
    }
    assert isinstance(body["as_of_ns"], int)
    legacy = (await client.get("/v1/positions")).json()
    assert legacy["positions"] == body["positions"] and legacy["totals"] == body["totals"]


async def test_filters_closed_rows_perp_endpoint_and_balances(api: tuple[httpx.AsyncClient, ApiState]) -> None:
    client, _ = api
    # Act
    bybit = (await client.get("/v1/positions/unified", params={"venues": "bybit,kraken"})).json()
    perps = (await client.get("/v1/positions/unified", params={"kinds": "perp"})).json()
    perp_ep = (await client.get("/v1/positions/perp")).json()
    closed = (await client.get("/v1/positions/unified", params={"include_closed": "true", "venues": "okx"})).json()
    balances = (await client.get("/v1/balances")).json()
    bad = await client.get("/v1/positions/unified", params={"kinds": "crypto,stocks"})
    # Assert
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PARAMS"
    assert sorted(r["id"] for r in bybit["positions"]) == ["sandbox/bybit/BTC-USDT-PERP", "sandbox/bybit/USDT"]
    assert [r["id"] for r in perps["positions"]] == [r["id"] for r in perp_ep["positions"]] == ["sandbox/bybit/BTC-USDT-PERP"]
    okx = by_id(closed["positions"])
    assert sorted(okx) == ["sandbox/okx/BTC-USDT", "sandbox/okx/USDT"]
    assert okx["sandbox/okx/BTC-USDT"]["lifecycle"] == {"state": "closed"} and okx["sandbox/okx/BTC-USDT"]["qty_1e8"] == 0
    assert okx["sandbox/okx/USDT"]["qty_1e8"] == 0  # bought and sold at the same price without fees
    rows = {(b["venue"], b["asset"]): b for b in balances["balances"]}
    assert rows[("binance", "BTC")] == {
        "venue": "binance", "asset": "BTC", "qty_1e8": 150_000_000, "available_qty_1e8": 150_000_000,
        "locked_qty_1e8": 0, "value_usd_1e9": 145_500_075_000_000, "is_sandbox": True,  # 1.5 * 97_000.05
    }
    assert rows[("binance", "USDT")]["value_usd_1e9"] == 951_952_000_000_000
    assert rows[("bybit", "USDT")]["qty_1e8"] == -3_300_000_000
    assert sorted(rows) == [("binance", "BTC"), ("binance", "USDT"), ("bybit", "USDT"), ("okx", "BTC"), ("okx", "USDT")]


async def test_a_live_key_sees_both_books_and_a_test_key_only_the_sandbox(
    api: tuple[httpx.AsyncClient, ApiState], view_settings: Settings
) -> None:
    client, _ = api
    live_key = create_key(view_settings, "default", sandbox=False, now_ns=2).secret
    # Act
    test_view = (await client.get("/v1/balances")).json()["balances"]
    live_view = (await client.get("/v1/balances", headers={"Authorization": f"Bearer {live_key}"})).json()["balances"]
    # Assert
    live_rows = [b for b in live_view if not b["is_sandbox"]]
    assert live_rows == [
        {"venue": "kraken", "asset": "USD", "qty_1e8": 700_000_000, "available_qty_1e8": 700_000_000,
         "locked_qty_1e8": 0, "value_usd_1e9": 7_000_000_000, "is_sandbox": False}
    ]
    assert [b for b in live_view if b["is_sandbox"]] == test_view


async def test_positions_after_a_market_buy_reflect_its_fills_exactly(
    cluster: tuple[httpx.AsyncClient, list[SimServer], ApiState],
) -> None:
    client, servers, api = cluster
    for server in servers:
        await server.pause()
    await api.md_follower.wait_caught_up()
    # Act
    r = await client.post("/v1/orders", json={"symbol": "BTC-USDT", "side": "buy", "qty": 0.5})
    assert r.status_code == 200, r.text
    graph_id = r.json()["graph_id"]
    await api.ledger_follower.wait_until(
        lambda: (g := api.ledger.graphs.get(graph_id)) is not None and g.status in ("COMPLETED", "FAILED", "REJECTED"),
        timeout=30,
    )
    # Everything the ledger follower has seen (all of this order's fills) is in the view.
    await api.positions.wait_for(api.ledger.position)
    for server in servers:
        server.resume()
    # Assert
    fills = [f for f in (await client.get("/v1/fills")).json()["fills"] if f["graph_id"] == graph_id]
    assert sum(f["qty_1e8"] for f in fills) == 50_000_000
    body = (await client.get("/v1/positions/unified")).json()
    rows = by_id(body["positions"])
    funded_usdt = 1_000_000_000 * 10**8  # the sandbox's paper funding per venue and quote asset
    for venue in {f["venue"] for f in fills}:
        mine = [f for f in fills if f["venue"] == venue]
        assert rows[f"sandbox/{venue}/BTC-USDT"]["qty_1e8"] == sum(f["qty_1e8"] for f in mine)
        # cost = ceil(px * qty / 1e8) usd_1e9, paid in USDT qty_1e8 as ceil(usd_1e9 / 10); fee likewise
        spent = sum(ceil_div(ceil_div(f["price_1e9"] * f["qty_1e8"], 10**8), 10) + ceil_div(f["fee_usd_1e9"], 10) for f in mine)
        assert rows[f"sandbox/{venue}/USDT"]["qty_1e8"] == funded_usdt - spent
        assert rows[f"sandbox/{venue}/BTC-USDT"]["fees_usd_1e9"] == sum(f["fee_usd_1e9"] for f in mine)
    assert sum(r["qty_1e8"] for r in body["positions"] if r["instrument"]["kind"] == "crypto") == 50_000_000
    assert body["totals"]["fees_usd_1e9"] == sum(f["fee_usd_1e9"] for f in fills) > 0
