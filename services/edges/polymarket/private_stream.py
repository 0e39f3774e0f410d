"""Polymarket's user channel (`order` and `trade` events) as execution outcomes.

The venue names orders by their hash only; `ours` maps the hashes of our orders (known before
they are sent) to our client order ids, and everything else is dropped. A trade is reported
again at each settlement step (MATCHED, MINED, CONFIRMED) under the same id, so its fills keep
one fill id and are recorded once; a FAILED or RETRYING trade is no fill.
"""

from __future__ import annotations

import json
from typing import Any

from services.edges.numbers import qty_1e8
from services.edges.polymarket.orders import trade_fills
from services.edges.sandbox.orders import Acked, Cancelled, Outcome


def parse_user_frame(raw: str | bytes, ours: dict[str, str], now_ns: int) -> list[Outcome]:
    """A frame may hold one event or a JSON array of them."""
    doc = json.loads(raw)
    events = doc if isinstance(doc, list) else [doc]
    return [o for event in events if isinstance(event, dict) for o in parse_user_event(event, ours, now_ns)]


def parse_user_event(event: dict[str, Any], ours: dict[str, str], now_ns: int) -> list[Outcome]:
    kind = str(event.get("event_type") or event.get("type") or "").lower()
    if kind == "trade":
        return list(trade_fills(event, ours, now_ns))
    if kind in ("order", "placement", "update", "cancellation"):
        return _order_event(event, ours, now_ns)
    return []


def _order_event(event: dict[str, Any], ours: dict[str, str], now_ns: int) -> list[Outcome]:
    oid = str(event.get("id", ""))
    if oid not in ours:
        return []
    coid = ours[oid]
    stamp = str(event.get("timestamp") or "")
    ts = int(stamp) * 1_000_000 if stamp.isdigit() else now_ns
    outcomes: list[Outcome] = [Acked(coid, oid, ts)]  # any event of an order says the venue has it
    if str(event.get("type", "")).upper() == "CANCELLATION" or str(event.get("status", "")).upper().startswith("CANCELED"):
        original = qty_1e8(str(event.get("original_size") or "0"))
        matched = qty_1e8(str(event.get("size_matched") or "0"))
        # A killed FOK/FAK (status "CANCELED_order couldn't be fully filled...") ends as an IOC remainder.
        reason = "ioc_remainder" if str(event.get("order_type", "")).upper() in ("FOK", "FAK") else "canceled"
        outcomes.append(Cancelled(coid, oid, matched, original - matched, reason, ts))
    return outcomes
