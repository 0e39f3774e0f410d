"""Spot and perps of one exchange share its venue id and are told apart by `instrument_type`.

The published client (`sequence-markets`, unmodified but for the base URL) against the real
stack: Binance's spot edge and its USD-M edge (two sockets, two edge processes) and OKX's one
edge for both stream their local venue servers' books onto a real nats-server; the trader parts
route and fill in the sandbox; the API serves on a uvicorn port."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from events import new_event_id
from events.execution import FillRecorded
from events.routing import ChildAllocated
from projections.follower import StreamFollower
from services.bus import Bus
from services.settings import Settings
from tests.facts import with_children
from tests.services.conftest import Stack, serving

SYMBOLS = {"binance": ["BTC-USDT"], "binance_usdm": ["BTC-USDT-PERP"], "okx": ["BTC-USDT", "BTC-USDT-PERP"]}


@pytest.fixture
async def both(bus: Bus, settings: Settings) -> AsyncIterator[Stack]:
    async with serving(bus, settings, list(SYMBOLS), seed=53, symbols=SYMBOLS) as running:
        await running.api.md_follower.wait_until(lambda: running.api.market.nbbo("BTC-USDT-PERP") is not None)
        yield running


async def _children(stack: Stack, graph_id: str) -> list[ChildAllocated]:
    seen: list[ChildAllocated] = []
    follower = StreamFollower(
        stack.api.bus, "LEDGER", ["route.>"],
        lambda e, _: seen.append(e) if isinstance(e, ChildAllocated) and e.graph_id == graph_id else None,
    )
    await follower.start()
    await follower.wait_caught_up()
    await follower.stop()
    return seen


def _rows(positions: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["venue"], p["instrument"]["symbol"]): p for p in positions["positions"] if p["instrument"]["kind"] != "fiat"}


async def test_perps_share_the_venue_id_of_their_exchange_everywhere_a_user_sees_them(both: Stack) -> None:
    seq, api = both.seq, both.api
    # Quotes: the spot symbol quotes spot books; instrument_type perp quotes the same venues' perps.
    spot = await both.call(seq.quote, "BTC-USDT")
    assert set(spot["venues"]) == {"binance", "okx"} and spot["instrument_type"] == "spot"
    [perp] = (await both.call(seq.quotes_batch, ["BTC-USDT"], instrument_type="perp"))["quotes"]
    assert set(perp["venues"]) == {"binance", "okx"} and perp["instrument_type"] == "perp"
    perp_book = api.market.by_symbol["BTC-USDT-PERP"]["binance"].best_ask()
    assert perp_book is not None and perp["venues"]["binance"]["ask"] == perp_book[0] / 1e9
    assert perp["venues"]["binance"]["ask"] != spot["venues"]["binance"]["ask"]  # another book

    # Edges: Binance has a spot and a perp edge under one venue id; OKX one edge for both.
    edges = {e["edge_id"]: e for e in (await both.call(seq.edges))["edges"]}
    assert {k: (e["venue"], e["instrument_types"]) for k, e in edges.items()} == {
        "venue-edge-binance": ("binance", ["spot"]),
        "venue-edge-binance-perp": ("binance", ["perp"]),
        "venue-edge-okx": ("okx", ["perp", "spot"]),
    }
    assert all(e["status"] == "connected" for e in edges.values())

    # Orders: a perp order pinned to "binance" trades only Binance's perp book, and an unpinned
    # spot order only spot books.
    perp_order = await both.call(seq.buy, "BTC-USDT", 0.01, instrument_type="perp", venue="binance")
    assert (await both.until_terminal(perp_order["graph_id"]))["status"] == "COMPLETED"
    spot_order = await both.call(seq.buy, "BTC-USDT", 0.02)
    status = await both.until_terminal(spot_order["graph_id"])
    assert status["status"] == "COMPLETED" and status["nodes"]["order"]["instrument_type"] == "spot"
    perp_children = await _children(both, perp_order["graph_id"])
    spot_children = await _children(both, spot_order["graph_id"])
    assert perp_children and {(c.venue, c.symbol) for c in perp_children} == {("binance", "BTC-USDT-PERP")}
    assert spot_children and {c.symbol for c in spot_children} == {"BTC-USDT"}
    [row] = (await both.call(seq.orders, symbol="BTC-USDT-PERP"))["orders"]
    assert (row["graph_id"], row["instrument_type"], row["venue"]) == (perp_order["graph_id"], "perp", "binance")

    # Fills and positions: both under "binance", apart by instrument type.
    await api.positions.wait_caught_up()
    await api.orders.wait_caught_up()
    fills = (await both.call(seq.fills))["fills"]
    perp_fills = [f for f in fills if f["graph_id"] == perp_order["graph_id"]]
    assert perp_fills and {(f["venue"], f["symbol"], f["instrument_type"]) for f in perp_fills} == {
        ("binance", "BTC-USDT-PERP", "perp")
    }
    assert sum(f["qty_1e8"] for f in perp_fills) == 1_000_000
    rows = _rows(await both.call(seq.positions_unified))
    assert rows[("binance", "BTC-USDT-PERP")]["instrument"] == {"kind": "perp", "symbol": "BTC-USDT-PERP", "type": "perp"}
    assert rows[("binance", "BTC-USDT-PERP")]["qty_1e8"] == 1_000_000
    assert sum(p["qty_1e8"] for (_, s), p in rows.items() if s == "BTC-USDT") == 2_000_000
    assert all(v in ("binance", "okx") for v, _ in rows)
    perps_only = await both.call(seq.positions_unified, kinds=["perp"])
    assert {(p["venue"], p["instrument"]["symbol"]) for p in perps_only["positions"]} == {("binance", "BTC-USDT-PERP")}

    # Funding: the client's names, `binance` and `BTC-USDT`, perp implied.
    await api.md_follower.wait_until(lambda: ("binance", "BTC-USDT-PERP") in api.funding.latest, timeout=20)
    rate = await both.call(seq.funding_rate, "binance", "BTC-USDT")
    assert rate is not None and (rate["venue"], rate["symbol"], rate["instrument_type"]) == ("binance", "BTC-USDT", "perp")

    # Credentials: one per exchange, so the old perp ids are no venue of their own.
    async with httpx.AsyncClient(base_url=both.base_url, headers={"Authorization": f"Bearer {both.key}"}) as http:
        assert (await http.put("/v1/credentials/binance_usdm", json={"api_key": "k", "api_secret": "s"})).status_code == 404


async def test_an_old_log_with_a_perp_venue_id_shows_under_its_exchange(both: Stack) -> None:
    seq, api = both.seq, both.api
    # A fill an old USD-M edge's executor recorded under venue `binance_usdm`.
    old = FillRecorded(
        event_id=new_event_id(), ts_ns=time.time_ns(), tenant="acme", fill_id="usdm-1", child_id="c-usdm",
        client_order_id="co-usdm", graph_id="g_usdm", node_id="order", venue="binance_usdm", symbol="BTC-USDT-PERP",
        side="sell", qty_1e8=3 * 10**6, px_1e9=90_000 * 10**9, fee_usd_1e9=0, liquidity="taker", is_sandbox=True,
    )
    acks = await api.bus.publish_many(with_children([old]))
    await api.positions.wait_for(acks[-1].seq)
    await api.orders.wait_for(acks[-1].seq)
    rows = _rows(await both.call(seq.positions_unified))
    assert rows[("binance", "BTC-USDT-PERP")]["qty_1e8"] == -3 * 10**6
    assert not any(v == "binance_usdm" for v, _ in rows)
    [fill] = [f for f in (await both.call(seq.fills))["fills"] if f["fill_id"] == "usdm-1"]
    assert (fill["venue"], fill["instrument_type"]) == ("binance", "perp")
    # An order pinned to the old id trades Binance's perps.
    submitted = await both.call(seq.buy, "BTC-USDT-PERP", 0.01, venue="binance_usdm")
    assert (await both.until_terminal(submitted["graph_id"]))["status"] == "COMPLETED"
    assert {(c.venue, c.symbol) for c in await _children(both, submitted["graph_id"])} == {("binance", "BTC-USDT-PERP")}
