"""WebSocket /v1/stream (api_contract.md §5): prices, book, orders, fills, tca, routing and funding channels.

Every connection runs one pump that wakes every `TICK_S` and diffs the API's in-memory
projections (market books and the ledger view, both kept current by the API's followers)
against what it last sent. Diffing on a tick is what coalesces bursts into one frame and keeps
quiet markets silent, and it needs no per-connection subscription to NATS. Acks carry no
`channel` key, so the SDK drops them; data frames are {"channel", "data"}. WS pings come from
the server (uvicorn's `ws_ping_interval`).

The ledger channels (orders, fills, tca, routing) read the caller's tenant only, through the
ledger view's per-tenant indexes, and their cursor is a LEDGER sequence: each of their frames
carries `cursor` (the sequence of the event behind it; a tick's ledger frames go out in sequence
order), the subscribe ack carries the cursor it starts from, and a client that subscribes again
with `{"subscribe": [...], "cursor": N}` gets what followed N. No list offset is kept, so the
in-memory history behind the channels can be trimmed without moving anyone's cursor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.responses import JSONResponse

from events.market import FundingRateUpdated
from projections.ledger import after
from services.api.access import AuthContext
from services.api.keys import well_formed
from services.api.plans import RoutingPlans, plan_visible, routing_frame
from services.api.routers import fair_price, funding
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
SYMBOL_CHANNELS = ("prices", "book", "fair_price")  # channels whose suffix is a symbol form
FAIR_PRICE_EVERY_TICKS = 10  # fair prices at most every 250 ms


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
    rows_sent: dict[str, dict[str, Any]] = field(default_factory=dict)  # rows of working graphs last sent
    # LEDGER sequences each ledger channel has been sent up to (see the module doc).
    orders_at: int = 0
    fills_at: int = 0
    tca_at: int = 0
    routing_at: int = 0
    ledger_at: int = -1  # ledger position at the last scan: an unchanged ledger is not rescanned
    funding_sent: dict[str, dict[tuple[str, str], FundingRateUpdated]] = field(default_factory=dict)
    fair_sent: dict[str, dict[str, int]] = field(default_factory=dict)  # channel -> underlying -> fair px
    fair_wait: int = 0  # ticks until fair prices are recomputed (they merge every book: not every tick)
    plans: RoutingPlans = field(kw_only=True)  # the SOR's plans (services/api/plans.py), for `routing`

    def valid(self, channel: str) -> bool:
        if channel in GLOBAL_CHANNELS:
            return True
        kind, _, symbol = channel.partition(":")
        if kind == "funding":
            return funding.channel_filter(channel) is not None
        if kind == "fair_price":
            return not symbol or symbol.upper() in fair_price.underlyings(self.state)
        return kind in ("prices", "book") and bool(symbol) and self.symbol_of(symbol) in self.state.market.by_symbol

    def symbol_of(self, asked: str) -> str:
        """The books' symbol for any symbol form (a Kalshi ticker or leg, a Polymarket slug:yes)."""
        markets = self.state.markets
        return markets.canonical_symbol(asked) if markets is not None else asked

    def subscribe(self, channels: list[Any], cursor: int | None = None) -> dict[str, Any]:
        """Ledger channels stream what follows `cursor` (a LEDGER sequence), by default what
        happens from now on, not history."""
        ok = [c for c in channels if isinstance(c, str) and self.valid(c)]
        rejected = [c for c in channels if not (isinstance(c, str) and self.valid(c))]
        position = self.state.ledger.position
        start = position if cursor is None else min(cursor, position)
        for c in ok:
            if c in self.channels and cursor is None:
                continue
            self.channels.add(c)
            if c == "fills":
                self.fills_at = start
            elif c == "tca":
                self.tca_at = start
            elif c == "routing":
                self.routing_at = start
            elif c == "orders":
                self.orders_at = start
                # Rows as they stand at the cursor are known to the client: only later changes go.
                self.rows_sent = {} if cursor is not None else {
                    r["node_order_id"]: r
                    for g in self.state.ledger.working_of(self.auth.tenant) if visible(g, self.auth)
                    for r in order_rows(g)
                }
        self.ledger_at = -1  # a resumed channel is behind the ledger: scan on the next tick
        ack: dict[str, Any] = {"subscribed": ok, "rejected": rejected}
        return ack if cursor is None else {**ack, "cursor": start}

    def unsubscribe(self, channels: list[Any]) -> dict[str, Any]:
        gone = [c for c in channels if isinstance(c, str) and c in self.channels]
        for c in gone:
            self.channels.discard(c)
            self.last_prices.pop(c, None)
            self.last_book.pop(c, None)
            self.funding_sent.pop(c, None)
            self.fair_sent.pop(c, None)
        return {"unsubscribed": gone}

    def frames(self) -> list[dict[str, Any]]:
        """Everything that changed since the previous tick, as data frames."""
        out: list[dict[str, Any]] = []
        fair_due = self.fair_wait <= 0
        self.fair_wait = FAIR_PRICE_EVERY_TICKS if fair_due else self.fair_wait - 1
        for channel in sorted(self.channels):
            kind, _, asked = channel.partition(":")
            # Only the market channels name a symbol: resolving "" would scan the whole catalogue.
            symbol = self.symbol_of(asked) if kind in SYMBOL_CHANNELS else asked
            if kind == "prices":
                data = prices_payload(self.state, symbol)
                key = None if data is None else (data["bid"], data["ask"], data["bid_sz"], data["ask_sz"])
                if key is not None and self.last_prices.get(channel) != key:
                    self.last_prices[channel] = key
                    out.append({"channel": channel, "data": data})
            elif kind == "book":
                bids, asks = book_levels(self.state, symbol)
                book_key = (tuple(bids), tuple(asks))
                if (bids or asks) and self.last_book.get(channel) != book_key:
                    self.last_book[channel] = book_key
                    ts_ns = max((b.last_update_ns for b in self.state.market.by_symbol.get(symbol, {}).values()), default=0)
                    out.append({"channel": channel, "data": {
                        "bids": [[px(p), qty(q)] for p, q in bids],
                        "asks": [[px(p), qty(q)] for p, q in asks],
                        "ts_ns": ts_ns,
                    }})
            elif kind == "funding":  # the current rate on subscribe, then each change
                sent = self.funding_sent.setdefault(channel, {})
                out.extend({"channel": channel, "data": row} for row in funding.channel_rows(self.state, channel, sent))
            elif kind == "fair_price" and (fair_due or channel not in self.fair_sent):
                # on subscribe, then each time an underlying's fair price moves
                last = self.fair_sent.setdefault(channel, {})
                for name in [symbol.upper()] if symbol else fair_price.underlyings(self.state):
                    row = fair_price.fair_price(self.state, name)
                    if row is not None and last.get(name) != row["fair_price_1e9"]:
                        last[name] = row["fair_price_1e9"]
                        out.append({"channel": channel, "data": row})
        ledger = self.state.ledger
        position = ledger.position
        if position == self.ledger_at:
            return out
        self.ledger_at = position
        tenant, news = self.auth.tenant, []
        if "orders" in self.channels:
            news += self._orders()
            self.orders_at = position
        if "fills" in self.channels:
            news += [
                (seq, {"channel": "fills", "data": fill_row(f)})
                for seq, f in after(ledger.tenant_fills.get(tenant, []), self.fills_at)
                if f.is_sandbox or not self.auth.is_sandbox
            ]
            self.fills_at = position
        if "tca" in self.channels:
            news += [
                (seq, {"channel": "tca", "data": report_json(r, is_prediction(self.state, r))})
                for seq, r in after(ledger.tenant_tca.get(tenant, []), self.tca_at)
                if visible(ledger.graphs.get(r.graph_id), self.auth)
            ]
            self.tca_at = position
        if "routing" in self.channels:  # one frame per PlanMade of the caller
            news += [
                (seq, {"channel": "routing", "data": routing_frame(p)})
                for seq, p in after(self.plans.by_tenant.get(tenant, []), self.routing_at)
                if plan_visible(self.state, p, self.auth)
            ]
            self.routing_at = position
        news.sort(key=lambda sf: sf[0])  # stable: a graph's rows keep their order
        return out + [{**frame, "cursor": seq} for seq, frame in news]

    def _orders(self) -> list[tuple[int, dict[str, Any]]]:
        """Rows of the caller's graphs changed since `orders_at` that differ from what was sent."""
        out: list[tuple[int, dict[str, Any]]] = []
        changed = self.state.ledger.changed.get(self.auth.tenant, {})
        for graph in self.state.ledger.changed_since(self.auth.tenant, self.orders_at):
            if not visible(graph, self.auth):
                continue
            seq = changed[graph.graph_id]
            for row in order_rows(graph):
                key = row["node_order_id"]
                if self.rows_sent.get(key) != row:
                    out.append((seq, {"channel": "orders", "data": row}))
                if graph.terminal:  # it will not change again: forget it (bounded per connection)
                    self.rows_sent.pop(key, None)
                else:
                    self.rows_sent[key] = row
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
        cursor = msg.get("cursor")
        if cursor is not None and (not isinstance(cursor, int) or isinstance(cursor, bool) or cursor < 0):
            return _error("cursor must be a LEDGER sequence (an integer >= 0) from a frame's `cursor`")
        return session.subscribe(msg["subscribe"], cursor)
    if isinstance(msg, dict) and isinstance(msg.get("unsubscribe"), list):
        return session.unsubscribe(msg["unsubscribe"])
    return _error("expected {\"subscribe\": [...]} or {\"unsubscribe\": [...]}")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"code": "BAD_REQUEST", "message": message, "request_id": "", "details": []}}
