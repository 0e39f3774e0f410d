"""WebSocket /v1/stream (api_contract.md §5): prices, book, orders, fills, tca and routing channels.

Every connection runs one pump that wakes every `TICK_S` and diffs the API's in-memory
projections (market books and the ledger view, both kept current by the API's followers)
against what it last sent. Diffing on a tick is what coalesces bursts into one frame and keeps
quiet markets silent, and it needs no per-connection subscription to NATS. Acks carry no
`channel` key, so the SDK drops them; data frames are {"channel", "data"}. WS pings come from
the server (uvicorn's `ws_ping_interval`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.responses import JSONResponse

from services.api.access import AuthContext
from services.api.keys import well_formed
from services.api.plans import RoutingPlans, plan_visible, routing_frame
from services.api.routers.tca import is_prediction, report_json
from services.api.state import ApiState
from services.api.tickets import redeem_ticket
from services.api.units import px, qty
from services.graph import GraphState, order_rows

log = logging.getLogger("crossbook.api.stream")

router = APIRouter(prefix="/v1", tags=["stream"])

TICK_S = 0.025  # the contract's book cadence; prices and ledger channels share it
BOOK_LEVELS = 100  # the contract's MAX_LEVELS per side
GLOBAL_CHANNELS = ("orders", "fills", "tca", "routing")


def authenticate(websocket: WebSocket, state: ApiState) -> AuthContext | None:
    """The caller of an upgrade, resolved like `services.api.auth.require_key`, or None."""
    if "authorization" not in websocket.headers and "ticket" in websocket.query_params:
        return redeem_ticket(websocket)  # a browser's single-use ticket (GET /v1/ws/ticket)
    scheme, _, raw = websocket.headers.get("authorization", "").strip().partition(" ")
    raw = raw.strip()
    if scheme.lower() != "bearer" or not raw or not well_formed(raw):
        return None
    key = state.keys.lookup(raw)
    if key is None or key.revoked:
        return None
    return AuthContext(tenant=key.tenant, key_id=key.key_id, is_sandbox=key.is_sandbox, is_admin=key.is_admin)


def visible(graph: GraphState | None, auth: AuthContext) -> bool:
    return graph is not None and graph.tenant == auth.tenant and (graph.is_sandbox or not auth.is_sandbox)


def prices_payload(state: ApiState, symbol: str) -> dict[str, Any] | None:
    nbbo = state.market.nbbo(symbol)
    if nbbo is None or not nbbo.bid_px_1e9 or not nbbo.ask_px_1e9:
        return None
    mid_1e9 = (nbbo.bid_px_1e9 + nbbo.ask_px_1e9) // 2
    ts_ns = max((v.ts_recv_ns for v in nbbo.venues), default=0)
    return {
        "bid": px(nbbo.bid_px_1e9),
        "ask": px(nbbo.ask_px_1e9),
        "mid": px(mid_1e9),
        "bid_sz": qty(nbbo.bid_qty_1e8),
        "ask_sz": qty(nbbo.ask_qty_1e8),
        "spread_bps": (nbbo.ask_px_1e9 - nbbo.bid_px_1e9) * 10_000 / mid_1e9,
        "ts_ns": ts_ns,
    }


def book_levels(state: ApiState, symbol: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Consolidated levels with equal prices across venues summed, best first, integers."""
    bids, asks = state.market.consolidated(symbol, BOOK_LEVELS)

    def merge(levels: list[tuple[int, int, str]]) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for p, q, _ in levels:
            if out and out[-1][0] == p:
                out[-1] = (p, out[-1][1] + q)
            else:
                out.append((p, q))
        return out

    return merge(bids), merge(asks)


def fill_row(f: Any) -> dict[str, Any]:
    # The same row GET /v1/fills answers.
    return {
        "fill_id": f.fill_id,
        "node_order_id": f"{f.graph_id}:{f.node_id}:1",
        "graph_id": f.graph_id,
        "symbol": f.symbol,
        "side": f.side,
        "venue": f.venue,
        "qty_1e8": f.qty_1e8,
        "price_1e9": f.px_1e9,
        "fee_usd_1e9": f.fee_usd_1e9,
        "liquidity": f.liquidity,
        "is_sandbox": f.is_sandbox,
        "ts_ns": f.ts_event_ns or f.ts_ns,
    }


@dataclass
class Session:
    """One connection's subscriptions and what it has already sent."""

    state: ApiState
    auth: AuthContext
    channels: set[str] = field(default_factory=set)
    last_prices: dict[str, tuple[object, ...]] = field(default_factory=dict)
    last_book: dict[str, object] = field(default_factory=dict)
    graphs_seen: dict[str, GraphState] = field(default_factory=dict)
    rows_sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills_at: int = 0
    tca_at: int = 0
    ledger_at: int = -1  # ledger position at the last scan: an unchanged ledger is not rescanned
    routing_at: int = 0
    plans: RoutingPlans = field(kw_only=True)  # the SOR's plans (services/api/plans.py), for `routing`

    def valid(self, channel: str) -> bool:
        if channel in GLOBAL_CHANNELS:
            return True
        kind, _, symbol = channel.partition(":")
        return kind in ("prices", "book") and bool(symbol) and symbol in self.state.market.by_symbol

    def subscribe(self, channels: list[Any]) -> dict[str, Any]:
        ok = [c for c in channels if isinstance(c, str) and self.valid(c)]
        rejected = [c for c in channels if not (isinstance(c, str) and self.valid(c))]
        for c in ok:
            if c in self.channels:
                continue
            self.channels.add(c)
            # Ledger channels stream what happens from now on, not history.
            if c == "fills":
                self.fills_at = len(self.state.ledger.fills)
            elif c == "tca":
                self.tca_at = len(self.state.ledger.tca)
            elif c == "routing":
                self.routing_at = len(self.plans.made)
            elif c == "orders":
                self.graphs_seen = {g: s for g, s in self.state.ledger.graphs.items() if visible(s, self.auth)}
                self.rows_sent = {r["node_order_id"]: r for s in self.graphs_seen.values() for r in order_rows(s)}
        return {"subscribed": ok, "rejected": rejected}

    def unsubscribe(self, channels: list[Any]) -> dict[str, Any]:
        gone = [c for c in channels if isinstance(c, str) and c in self.channels]
        for c in gone:
            self.channels.discard(c)
            self.last_prices.pop(c, None)
            self.last_book.pop(c, None)
        return {"unsubscribed": gone}

    def frames(self) -> list[dict[str, Any]]:
        """Everything that changed since the previous tick, as data frames."""
        out: list[dict[str, Any]] = []
        for channel in sorted(self.channels):
            kind, _, symbol = channel.partition(":")
            if kind == "prices":
                data = prices_payload(self.state, symbol)
                key = None if data is None else (data["bid"], data["ask"], data["bid_sz"], data["ask_sz"])
                if data is not None and self.last_prices.get(channel) != key:
                    self.last_prices[channel] = key  # type: ignore[assignment]
                    out.append({"channel": channel, "data": data})
            elif kind == "book":
                bids, asks = book_levels(self.state, symbol)
                key = (tuple(bids), tuple(asks))
                if (bids or asks) and self.last_book.get(channel) != key:
                    self.last_book[channel] = key
                    ts_ns = max((b.last_update_ns for b in self.state.market.by_symbol.get(symbol, {}).values()), default=0)
                    out.append({"channel": channel, "data": {
                        "bids": [[px(p), qty(q)] for p, q in bids],
                        "asks": [[px(p), qty(q)] for p, q in asks],
                        "ts_ns": ts_ns,
                    }})
        if "routing" in self.channels:
            out.extend(self._routing())
        if self.state.ledger.position == self.ledger_at:
            return out
        self.ledger_at = self.state.ledger.position
        if "orders" in self.channels:
            out.extend(self._orders())
        if "fills" in self.channels:
            fills = self.state.ledger.fills
            new, self.fills_at = fills[self.fills_at :], len(fills)
            for f in new:
                if f.tenant == self.auth.tenant and (f.is_sandbox or not self.auth.is_sandbox):
                    out.append({"channel": "fills", "data": fill_row(f)})
        if "tca" in self.channels:
            reports = list(self.state.ledger.tca.values())
            new_reports, self.tca_at = reports[self.tca_at :], len(reports)
            graphs = self.state.ledger.graphs
            for r in new_reports:
                if visible(graphs.get(r.graph_id), self.auth):
                    out.append({"channel": "tca", "data": report_json(r, is_prediction(self.state, r))})
        return out

    def _routing(self) -> list[dict[str, Any]]:
        # One frame per PlanMade of the caller, in log order.
        made = self.plans.made
        new, self.routing_at = made[self.routing_at :], len(made)
        return [{"channel": "routing", "data": routing_frame(p)} for p in new if plan_visible(self.state, p, self.auth)]

    def _orders(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for graph_id, graph in self.state.ledger.graphs.items():
            # Folding replaces a GraphState (it is immutable): identity says "changed".
            if self.graphs_seen.get(graph_id) is graph or not visible(graph, self.auth):
                continue
            self.graphs_seen[graph_id] = graph
            for row in order_rows(graph):
                if self.rows_sent.get(row["node_order_id"]) != row:
                    self.rows_sent[row["node_order_id"]] = row
                    out.append({"channel": "orders", "data": row})
        return out


async def deny(websocket: WebSocket) -> None:
    body = {"error": {"code": "UNAUTHORIZED", "message": "missing or invalid API key: send Authorization: Bearer <key>",
                      "request_id": "", "details": []}}
    try:
        await websocket.send_denial_response(JSONResponse(body, status_code=401))
    except RuntimeError:
        # The server cannot answer the upgrade with HTTP: accept and close with 4401 instead.
        await websocket.accept()
        await websocket.close(code=4401, reason="unauthorized")


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    state: ApiState = websocket.app.state.api
    auth = authenticate(websocket, state)
    if auth is None:
        await deny(websocket)
        return
    await websocket.accept()
    session = Session(state, auth, plans=state.plans)
    inbox: asyncio.Queue[str | None] = asyncio.Queue()

    async def read() -> None:
        try:
            while True:
                await inbox.put(await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            await inbox.put(None)

    reader = asyncio.create_task(read(), name="ws-reader")
    try:
        while True:
            try:
                text = await asyncio.wait_for(inbox.get(), TICK_S)
            except TimeoutError:
                text = ""
            if text is None:
                return  # the client went away
            if text:
                await websocket.send_json(_control(session, text))
            for frame in session.frames():
                await websocket.send_json(frame)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _control(session: Session, text: str) -> dict[str, Any]:
    try:
        msg = json.loads(text)
    except ValueError:
        return _error("message is not valid JSON: send {\"subscribe\": [\"prices:BTC-USDT\"]}")
    if isinstance(msg, dict) and isinstance(msg.get("subscribe"), list):
        return session.subscribe(msg["subscribe"])
    if isinstance(msg, dict) and isinstance(msg.get("unsubscribe"), list):
        return session.unsubscribe(msg["unsubscribe"])
    return _error("expected {\"subscribe\": [...]} or {\"unsubscribe\": [...]}")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message, "request_id": "", "details": []}}
