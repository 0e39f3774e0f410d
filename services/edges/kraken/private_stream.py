"""Kraken spot WebSocket v2 private messages into execution outcomes.

`add_order` responses (auth host) acknowledge or refuse an order by `cl_ord_id`; the
`executions` channel streams order events, where `exec_type: trade` carries one fill
(`exec_id`, `last_qty`, `last_price`, `liquidity_ind` m|t, `fees[{asset, qty}]`) and
`canceled`/`expired` end the order with `cum_qty` filled (field list per docs/venues.md, marked
[verify] there). Kraken v2 sends numbers as JSON numbers: frames are read with
`parse_float=Decimal` so sizes and prices stay exact. Fill ids are Kraken's `exec_id`s, the same
trade ids TradesHistory lists, so the two paths dedup against each other.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services.edges.numbers import px_1e9, qty_1e8
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected
from services.edges.timefmt import rfc3339_ns
from services.edges.transport import venue_fee

_ASSET = {"XBT": "BTC", "XDG": "DOGE"}


def loads(raw: str | bytes) -> Any:
    return json.loads(raw, parse_float=Decimal)


def _symbol(pair: str) -> str:
    base, _, quote = pair.partition("/")
    return f"{_ASSET.get(base, base)}-{_ASSET.get(quote, quote)}"


def add_order_outcome(frame: dict[str, Any], client_order_id: str, now_ns: int) -> Acked | Rejected:
    """The response to our `add_order` (matched by `req_id` by the caller)."""
    ts = rfc3339_ns(str(frame.get("time_out") or "")) or now_ns
    if frame.get("success") is True:
        return Acked(client_order_id, str(frame["result"]["order_id"]), ts)
    error = str(frame.get("error") or "EGeneral:Unknown")
    return Rejected(client_order_id, error, error, ts)


def execution_outcomes(frame: dict[str, Any]) -> list[Outcome]:
    if frame.get("channel") != "executions":
        return []
    outcomes: list[Outcome] = []
    for e in frame.get("data") or []:
        kind = e.get("exec_type")
        coid, oid = str(e.get("cl_ord_id") or ""), str(e["order_id"])
        ts = rfc3339_ns(str(e.get("timestamp") or ""))
        if kind == "new":
            outcomes.append(Acked(coid, oid, ts))
        elif kind == "trade" and e.get("exec_id") and e.get("last_qty"):  # `filled` only restates the order
            symbol = _symbol(str(e["symbol"]))
            px = px_1e9(Decimal(str(e["last_price"])))
            fee = (e.get("fees") or [{}])[0]
            outcomes.append(Filled(
                client_order_id=coid, venue_order_id=oid, fill_id=str(e["exec_id"]), symbol=symbol,
                side="buy" if e.get("side") == "buy" else "sell", qty_1e8=qty_1e8(Decimal(str(e["last_qty"]))),
                px_1e9=px, **venue_fee(Decimal(str(fee.get("qty") or "0")), _ASSET.get(str(fee.get("asset") or ""),
                                                                                      str(fee.get("asset") or "")),
                                      symbol, px),
                liquidity="maker" if e.get("liquidity_ind") == "m" else "taker", ts_ns=ts,
            ))
        elif kind in ("canceled", "expired"):
            filled = qty_1e8(Decimal(str(e.get("cum_qty") or "0")))
            total = qty_1e8(Decimal(str(e.get("order_qty") or "0")))
            reason = "user" if kind == "canceled" and e.get("reason", "User requested") == "User requested" else kind
            outcomes.append(Cancelled(coid, oid, filled, max(total - filled, 0), reason, ts))
    return outcomes
