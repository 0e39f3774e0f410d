"""Prediction-market lifecycle streams and WebSocket tickets (api_contract.md §5, §4.4).

/v1/ws/new_markets and /v1/ws/market_resolved take no subscribe message and no envelope: every
frame is one raw JSON object. A connection first receives the catalogue's last frames of its
kind, then each new one as it is folded; replay and live are taken from the catalogue in one
step, so no frame is missed or sent twice. GET /v1/ws/ticket issues a single-use ticket for
`?ticket=` on any WebSocket path."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect

from services.api.auth import Auth
from services.api.market_catalog import Kind, MarketCatalog
from services.api.routers.stream import deny, authenticate
from services.api.tickets import TICKET_TTL_NS, TicketBook


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.ws_tickets = TicketBook()
    yield


router = APIRouter(prefix="/v1", tags=["lifecycle"], lifespan=_lifespan)


@router.get("/ws/ticket")
async def ws_ticket(request: Request, auth: Auth) -> dict[str, Any]:
    book: TicketBook = request.app.state.ws_tickets
    return {"ticket": book.issue(auth), "expires_in_s": TICKET_TTL_NS // 1_000_000_000}


@router.websocket("/ws/new_markets")
async def new_markets(websocket: WebSocket) -> None:
    await _stream(websocket, "new_markets")


@router.websocket("/ws/market_resolved")
async def market_resolved(websocket: WebSocket) -> None:
    await _stream(websocket, "market_resolved")


async def _stream(websocket: WebSocket, kind: Kind) -> None:
    if authenticate(websocket, websocket.app.state.api) is None:
        await deny(websocket)
        return
    await websocket.accept()
    catalog: MarketCatalog = await websocket.app.state.markets.caught_up()
    replay, live = catalog.listen(kind)
    # The client sends nothing; reading is how a close is noticed.
    closed = asyncio.create_task(_until_closed(websocket), name="ws-lifecycle-reader")
    try:
        for frame in replay:
            await websocket.send_json(frame)
        while True:
            next_frame = asyncio.ensure_future(live.get())
            await asyncio.wait({next_frame, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not next_frame.done():
                next_frame.cancel()
                return
            await websocket.send_json(next_frame.result())
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        catalog.unlisten(kind, live)
        closed.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await closed


async def _until_closed(websocket: WebSocket) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
