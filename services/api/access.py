"""What every route shares, below the routers: who is calling, what they may see, request bodies.

Routers and the API's shared modules (plans, tickets) import these from here, never from one
another, so no import cycle runs through a router."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from services.api.errors import ApiError
from services.graph import GraphState, ValidationError, parse_node_order_id
from services.graph.schema import NodeOrderRef


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: the key's tenant, and what the key may do."""

    tenant: str
    key_id: str
    is_sandbox: bool  # a seq_test_ key: every order is sandbox, reads see the sandbox book only
    is_admin: bool


def visible(graph: GraphState | None, auth: AuthContext) -> bool:
    """Whether the caller may see this graph: its own tenant, and the sandbox book for a test key."""
    return graph is not None and graph.tenant == auth.tenant and (graph.is_sandbox or not auth.is_sandbox)


async def json_body(request: Request) -> Any:
    return parse_json_body(await request.body())


def parse_json_body(raw: bytes) -> Any:
    """A request body as JSON (an empty body is an empty object); ApiError 400 when it is not JSON."""
    if not raw.strip():
        return {}  # the SDK sends no body for an empty dict
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}", code="BAD_REQUEST") from exc


def node_order_ref(text: str, expected: str = ": expected <graph_id>:<node_id>:<n>") -> NodeOrderRef:
    """`text` parsed as a node_order_id, else 400 INVALID_PARAMS naming it."""
    try:
        return parse_node_order_id(text)
    except ValidationError as exc:
        raise ApiError(400, f"malformed node_order_id {text!r}{expected}", code="INVALID_PARAMS") from exc
