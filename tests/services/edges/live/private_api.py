"""A live-key round trip through the API against one venue's local private server: real
nats-server, the trader's parts, the API app, the venue's simulator streaming its book, and the
venue's private server checking every signature, over real sockets. Used by the venue folders'
test_live_api.py (Coinbase, Kraken, Bitget, Crypto.com)."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette

from events.execution import ChildAcked
from projections.follower import StreamFollower
from services.api.app import create_app
from services.api.history import view_caught_up
from services.api.keys import create_key
from services.api.state import ApiState
from services.bus import Bus
from services.bus.writer import as_writer
from services.edges.budget import Limit
from services.edges.live.loopback import LoopbackVenue, start_server
from services.edges.live.service import LiveExecutor
from services.settings import Settings
from services.vault import open_vault
from tests.services.vault.helpers import stream_bytes
from tests.stack import trading_stack

TENANT = "acme"


@dataclass
class Live:
    api: ApiState
    client: httpx.AsyncClient  # seq_live_ key
    venue: LoopbackVenue
    bus: Bus


@contextlib.asynccontextmanager
async def private_stack(bus: Bus, settings: Settings, name: str, symbol: str, venue: LoopbackVenue,
                        app: Callable[[LoopbackVenue], Starlette],
                        limits: dict[str, tuple[Limit, ...]] | None = None) -> AsyncIterator[Live]:
    settings = Settings(data_dir=settings.data_dir, nats_url=settings.nats_url, ack_wait_s=1.0,
                        require_trader_ready=False, live_orders=True,
                        master_key=base64.b64encode(os.urandom(32)).decode(), _env_file=None)
    server = await start_server(app(venue))
    live_key = create_key(settings, TENANT, sandbox=False, admin=True, now_ns=1).secret
    executor = LiveExecutor(as_writer(bus, "executor"), open_vault(settings), {name: server.url},
                            poll_interval_s=0.05, owns_vault=True, limits=limits)
    api_app = create_app(settings)
    try:
        async with trading_stack(bus, [name], seed=7, symbols={name: [symbol]}), api_app.router.lifespan_context(api_app):
            await executor.start()
            try:
                api: ApiState = api_app.state.api
                await api.md_follower.wait_until(lambda: api.market.nbbo(symbol) is not None)
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api_app), base_url="http://test",
                                             headers={"Authorization": f"Bearer {live_key}"}) as client:
                    yield Live(api, client, venue, bus)
            finally:
                await executor.stop()
    finally:
        venue.release.set()
        await server.stop()


async def round_trip(live: Live, name: str, symbol: str, book_key: str, credentials: dict[str, Any],
                     client_id: Callable[[str], str], cancel_request: str) -> None:
    """Credentials stored, a sync, a crossing limit order filled at the venue and held as a
    position, a resting order cancelled at the venue through the API, a second sync that moves
    nothing."""
    r = await live.client.put(f"/v1/credentials/{name}", json=credentials)
    assert r.status_code == 200, r.text
    r = await live.client.post("/v1/positions/sync")
    assert r.status_code == 200, r.text
    [synced] = r.json()["venues"]
    assert (synced["venue"], synced["balances_adjusted"]) == (name, 1)

    nbbo = live.api.market.nbbo(symbol)
    assert nbbo is not None
    px = (Decimal((nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2) / 10**9).quantize(Decimal("0.01"))
    live.venue.set_book(book_key, bids=[(str(px - 1), "5")], asks=[(str(px), "5")])

    r = await live.client.post("/v1/orders", json={"symbol": symbol, "side": "buy", "qty": "0.01",
                                                   "order_type": "limit", "price": str(px)})
    assert r.status_code == 200, r.text
    filled = r.json()["graph_id"]
    await live.api.ledger_follower.wait_until(
        lambda: (g := live.api.ledger.graphs.get(filled)) is not None and g.terminal, timeout=30)
    [placed] = live.venue.orders.values()
    assert (placed.symbol, placed.side, placed.qty, placed.status) == (book_key, "BUY", Decimal("0.01"), "FILLED")
    fills = [f for f in live.api.ledger.fills_of(TENANT) if f.graph_id == filled]
    assert [(f.qty_1e8, f.px_1e9, f.is_sandbox, f.venue) for f in fills] == [(1_000_000, int(px * 10**9), False, name)]
    assert client_id(fills[0].client_order_id) == placed.client_id  # derived from our id
    await view_caught_up(live.api)
    await live.api.positions.wait_for(live.api.ledger_follower.position)
    positions = (await live.client.get("/v1/positions")).json()["positions"]
    base = [p for p in positions if p["venue"] == name and p["instrument"]["symbol"].startswith("BTC")
            and not p["is_sandbox"]]
    assert [p["qty_1e8"] for p in base] == [1_000_000]

    node = {"node_id": "order", "instrument": {"symbol": symbol}, "side": "buy",
            "quantity": {"fixed": {"qty_1e8": 1_000_000}},
            "order_type": {"limit": {"price_1e9": int((px - 50) * 10**9)}}}
    r = await live.client.post("/v1/orders", json={"nodes": [node], "edges": []})
    assert r.status_code == 200, r.text
    resting = r.json()["graph_id"]
    acks: list[ChildAcked] = []
    follower = StreamFollower(live.bus, "LEDGER", ["exec.>"], lambda e, _: acks.append(e)
                              if isinstance(e, ChildAcked) and e.graph_id == resting else None)
    await follower.start()
    try:
        await follower.wait_until(lambda: bool(acks), timeout=30)
    finally:
        await follower.stop()
    assert (await live.client.delete(f"/v1/execution_graphs/{resting}")).status_code in (200, 202)
    await live.api.ledger_follower.wait_until(
        lambda: [o.status for o in live.venue.orders.values()] == ["FILLED", "CANCELED"], timeout=30)
    assert cancel_request in live.venue.requests_seen
    [again] = (await live.client.post("/v1/positions/sync")).json()["venues"]
    assert (again["balances_adjusted"], again["fills_added"]) == (0, 0)
    # The secret (its longest line, for a PEM key) is nowhere on the log or in the API's answers.
    marker = max(str(credentials["api_secret"]).splitlines(), key=len).encode()
    _, raw = await stream_bytes(live.bus, f"exec.{name}.{TENANT}")  # the whole LEDGER stream
    answers = [(await live.client.get(path)).content for path in ("/v1/orders", "/v1/fills", "/v1/credentials",
                                                                  "/v1/positions", "/v1/balances")]
    assert len(raw) > 1000 and marker not in raw and not any(marker in a for a in answers)
