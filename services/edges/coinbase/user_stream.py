"""Coinbase Advanced Trade `user` channel: order updates into execution outcomes.

The channel carries order states, not trades: each `orders[]` row has the cumulative filled
size, the average price and the total fees so far. A fill is the increase of
`cumulative_quantity` since the last row of that order; its price is the change in filled
value (`cumulative * avg_price`) over the size, its fee the change in `total_fees` (quote
currency). Its id is `<order_id>:<cumulative>` (deterministic, so a repeated frame repeats the
id and is dropped by callers that dedup fills); these ids are not the REST fills' `trade_id`s,
so one order's fills must come from one of the two paths, never both. The state per order is
kept here; a snapshot row sets the baseline without inventing fills that happened before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from services.edges.coinbase.adapter import CoinbaseAdapter
from services.edges.numbers import px_1e9, qty_1e8
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected
from services.edges.timefmt import rfc3339_ns
from services.edges.transport import venue_fee

_ENDED = frozenset({"CANCELLED", "EXPIRED"})


@dataclass
class _Seen:
    cumulative: Decimal = Decimal(0)
    value: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    acked: bool = False
    ended: bool = False


class CoinbaseUserStream:
    def __init__(self) -> None:
        self.symbols = CoinbaseAdapter()
        self.orders: dict[str, _Seen] = {}

    def parse(self, frame: dict[str, Any]) -> list[Outcome]:
        if frame.get("channel") != "user":
            return []
        ts = rfc3339_ns(frame.get("timestamp") or "")
        outcomes: list[Outcome] = []
        for event in frame.get("events", []):
            snapshot = event.get("type") == "snapshot"
            for row in event.get("orders", []):
                outcomes += self._order(row, ts, snapshot)
        return outcomes

    def _order(self, row: dict[str, Any], ts: int, snapshot: bool) -> list[Outcome]:
        coid, oid, status = str(row["client_order_id"]), str(row["order_id"]), str(row.get("status", ""))
        seen = self.orders.setdefault(oid, _Seen())
        cumulative = Decimal(row.get("cumulative_quantity") or "0")
        value = cumulative * Decimal(row.get("avg_price") or "0")
        fees = Decimal(row.get("total_fees") or "0")
        out: list[Outcome] = []
        if status == "FAILED":
            seen.ended = True
            return [Rejected(coid, str(row.get("reject_reason") or "FAILED"), "order failed at coinbase", ts)]
        if not seen.acked:
            seen.acked = True
            out.append(Acked(coid, oid, ts))
        if cumulative > seen.cumulative and not snapshot:
            size = cumulative - seen.cumulative
            px = px_1e9(((value - seen.value) / size).quantize(Decimal("1e-9")))
            symbol = self.symbols.to_canonical(str(row["product_id"]))
            out.append(Filled(
                client_order_id=coid, venue_order_id=oid, fill_id=f"{oid}:{cumulative}", symbol=symbol,
                side="buy" if row.get("order_side") == "BUY" else "sell", qty_1e8=qty_1e8(size), px_1e9=px,
                **venue_fee(fees - seen.fees, symbol.split("-")[1], symbol, px),
                liquidity="taker", ts_ns=ts,  # the channel does not say; the REST fills do
            ))
        if cumulative >= seen.cumulative:
            seen.cumulative, seen.value, seen.fees = cumulative, value, fees
        if status in _ENDED and not seen.ended:
            seen.ended = True
            leaves = Decimal(row.get("leaves_quantity") or "0")
            reason = "user" if status == "CANCELLED" else status.lower()
            out.append(Cancelled(coid, oid, qty_1e8(cumulative), qty_1e8(leaves), reason, ts))
        return out
