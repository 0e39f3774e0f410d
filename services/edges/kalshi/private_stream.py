"""Kalshi's private WebSocket channels (`fill`, `user_orders`) as execution outcomes.

Frames name the venue's order id and the client_order_id we sent; `ours` maps them back to our
client order id (None: not an order of ours, dropped). Fills carry `trade_id`, the same id REST
`/portfolio/fills` lists, so a fill seen on both paths dedups by fill id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from services.edges.kalshi.orders import count_1e8, fill_outcome
from services.edges.sandbox.orders import Acked, Cancelled, Outcome

Resolver = Callable[[str, str], str | None]  # (venue order id, venue client id) -> our client order id


def parse_private(raw: str | bytes, ours: Resolver, now_ns: int) -> list[Outcome]:
    doc = json.loads(raw)
    kind, msg = doc.get("type"), doc.get("msg")
    if not isinstance(msg, dict):
        return []
    coid = ours(str(msg.get("order_id", "")), str(msg.get("client_order_id", "")))
    if coid is None:
        return []
    if kind == "fill":
        return [fill_outcome(coid, msg, now_ns)]
    if kind == "user_order":
        return _order_update(coid, msg, now_ns)
    return []


def _order_update(coid: str, msg: dict[str, Any], now_ns: int) -> list[Outcome]:
    oid, status = str(msg["order_id"]), str(msg.get("status", ""))
    ts = int(msg["ts_ms"]) * 1_000_000 if msg.get("ts_ms") is not None else now_ns
    outcomes: list[Outcome] = [Acked(coid, oid, ts)]
    if status == "canceled":
        filled = count_1e8(msg, "fill_count")
        left = count_1e8(msg, "remaining_count") or count_1e8(msg, "initial_count") - filled
        outcomes.append(Cancelled(coid, oid, filled, max(left, 0), "canceled", ts))
    return outcomes
