"""POST /v1/orders in plain ASGI: the order path's one request, without the framework's walk.

Through FastAPI the submit crosses three more middlewares, a match against every included
router's routes, the dependency solver and `jsonable_encoder` before and after the few steps
that are the order itself; measured on the order bench that was a large share of the API's CPU
per order, all of it before the command is appended. The door answers exactly
`POST /v1/orders` with the same steps, in the same order, as the FastAPI route
(services/api/routers/orders.py `submit_order`, which stays: it documents the route in the
OpenAPI schema and would serve it without the door): the key and the rate limit
(`authenticate`), readiness (`refuse_unless_ready`), the JSON body, `place_order`, and every
refusal in the error envelope. It sits inside `RequestIds`, so the answer carries the request
id like every other. Anything else, and an unexpected error (a 500, as before), goes on to or
through the app unchanged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.access import AuthContext, parse_json_body
from services.api.auth import authenticate
from services.api.errors import ApiError
from services.api.readiness import refuse_unless_ready
from services.api.state import ApiState

PATH = "/v1/orders"
_JSON = (b"content-type", b"application/json")


# services/api/routers/orders.py `place_order`, handed in by the app (only the app imports routers).
PlaceOrder = Callable[[ApiState, Any, AuthContext, Any], Awaitable[dict[str, Any]]]


class OrderDoor:
    def __init__(self, app: ASGIApp, *, place_order: PlaceOrder) -> None:
        self.app = app
        self.place_order = place_order

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        app = scope["app"]
        state = app.state.api
        try:
            auth = authenticate(state, _header(scope, b"authorization"))
            refuse_unless_ready(state)
            raw = await _body(receive)
            if raw is None:
                return  # the client went away before its body was in: nothing was done, no one to answer
            answer = await self.place_order(state, app.state.markets, auth, parse_json_body(raw))
        except ApiError as exc:
            rid = scope["state"]["request_id"]
            error = {"code": exc.code, "message": exc.message, "request_id": rid, "details": exc.details}
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in exc.headers.items()]
            await _send_json(send, exc.status, {"error": error}, headers)
            return
        await _send_json(send, 200, answer, [])


def _header(scope: Scope, name: bytes) -> str:
    return next((v for k, v in scope["headers"] if k == name), b"").decode("latin-1")


async def _body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_json(send: Send, status: int, content: Any, headers: list[tuple[bytes, bytes]]) -> None:
    body = msgspec.json.encode(content)
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-length", str(len(body)).encode()), _JSON, *headers],
    })
    await send({"type": "http.response.body", "body": body})
