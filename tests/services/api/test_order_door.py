"""POST /v1/orders served by the plain-ASGI order door answers exactly as the FastAPI route does:
the same statuses, bodies (the request id aside) and headers, for the same sequence of requests,
refusals and retries included."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from events import new_event_id
from events.market import BookSnapshot
from services.api.app import create_app
from services.api.keys import create_key
from services.api.order_door import OrderDoor
from services.bus import Bus
from services.settings import Settings
from tests.stack import kernel

ORDER = {"symbol": "BTC-USDT", "side": "buy", "qty": 0.01}


def without_door(app: FastAPI) -> FastAPI:
    # The middleware stack is built on the first request: taken out now, the route serves it.
    app.user_middleware = [m for m in app.user_middleware if m.cls is not OrderDoor]
    return app


async def session(app: FastAPI, secret: str, graph_prefix: str, door_calls: list[int]) -> list[tuple[Any, ...]]:
    """One client's requests against `app`; what each answered (status, body sans request id,
    the headers the contract names)."""
    key = {"Authorization": f"Bearer {secret}"}
    requests: list[tuple[dict[str, str], Any]] = [
        ({}, ORDER),  # no key
        ({"Authorization": "Bearer seq_test_nothex"}, ORDER),  # malformed key
        ({"Authorization": "Bearer seq_test_" + "0" * 64}, ORDER),  # unknown key
        (key, b"{not json"),  # not JSON
        (key, {**ORDER, "symbol": "NOPE-USDT"}),  # no venue lists it
        (key, {**ORDER, "qty": -1}),  # a field error
        (key, {**ORDER, "limit_price": 100}),  # a misspelt price: refused, never a market order
        (key, {**ORDER, "graph_id": f"{graph_prefix}_1"}),  # taken
        (key, {**ORDER, "graph_id": f"{graph_prefix}_1"}),  # a retry: the same answer
        (key, {**ORDER, "graph_id": f"{graph_prefix}_1", "qty": 0.02}),  # same id, other body: conflict
    ]
    out = []
    app.state.door_calls = door_calls
    async with app.router.lifespan_context(app):
        await app.state.api.ledger_follower.wait_caught_up()
        await app.state.api.md_follower.wait_caught_up()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            for headers, body in requests:
                if isinstance(body, bytes):
                    r = await http.post("/v1/orders", content=body, headers=headers)
                else:
                    r = await http.post("/v1/orders", json=body, headers=headers)
                answer = r.json()
                if "error" in answer:
                    assert answer["error"].pop("request_id") == r.headers["x-request-id"]
                    # A conflict names the graph and its body's hash, which hashes the graph id too.
                    message = re.sub(r"[0-9a-f]{64}", "<sha256>", answer["error"]["message"])
                    answer["error"]["message"] = message.replace(graph_prefix, "g")
                else:
                    answer["graph_id"] = answer["graph_id"].replace(graph_prefix, "g")
                    answer["node_order_ids"] = {k: v.replace(graph_prefix, "g") for k, v in answer["node_order_ids"].items()}
                out.append((r.status_code, answer, r.headers.get("content-type"), r.headers.get("retry-after")))
    return out


@pytest.mark.timeout(120)
async def test_the_order_door_answers_as_the_fastapi_route(bus: Bus, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    await bus.publish(
        BookSnapshot(
            event_id=new_event_id(), ts_ns=1, venue="okx", symbol="BTC-USDT",
            bids=[(97_000_000_000_000, 100_000_000)], asks=[(97_001_000_000_000, 100_000_000)],
        )
    )
    secret = create_key(settings, "door", sandbox=True, now_ns=time.time_ns()).secret
    served_by_door: list[int] = []
    original = OrderDoor.__call__

    async def counting(self: OrderDoor, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/v1/orders" and scope["method"] == "POST":
            served_by_door.append(1)
        await original(self, scope, receive, send)

    monkeypatch.setattr(OrderDoor, "__call__", counting)
    async with kernel(bus):
        through_door = await session(create_app(settings), secret, "gdoor", served_by_door)
        doors_seen = len(served_by_door)
        through_route = await session(without_door(create_app(settings)), secret, "groute", served_by_door)
    assert doors_seen == 10 and len(served_by_door) == 10  # the second app had no door
    assert [a[0] for a in through_door] == [401, 401, 401, 400, 422, 422, 422, 200, 200, 409]
    assert through_door == through_route
    misspelt = through_door[6][1]["error"]
    assert misspelt["details"] == [
        {"field": "limit_price", "message": "unknown field in the simple-order form; did you mean 'price'?"}
    ]
