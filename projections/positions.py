"""Durable read models of balances and positions, folded from the LEDGER stream's exec events.

Run through `ProjectionRunner`: each batch of view writes commits with its stream position, so
every event is applied exactly once and the whole view can be rebuilt from the stream.

Documents (key prefix `<tenant>/<sandbox|live>/<venue>/`):
  balances  `.../<asset>`   {venue, asset, qty_1e8, is_sandbox}
  positions `.../<symbol>`  {venue, symbol, kind, qty_1e8 (signed), basis_usd_1e9,
                             entry_price_usd_1e9, realized_pnl_usd_1e9, fees_usd_1e9, is_sandbox}
  fills     `.../<fill_id>` {seq}: fills already folded (a replayed venue fill counts once)
  children  `<tenant>/<child_id>` {venue}: the children the router allocated (or an executor
            submitted); a fill is booked only for one of them, from its venue
  refused   `<tenant>/<seq:020d>` a fill that names another child or venue: not booked, kept
            for reconciliation (the risk writer records it as a `FactRefused` event)

A `SandboxReset` (POST /v1/sandbox/reset) removes the sandbox position rows it names; the
reset's balance changes arrive as ordinary `BalanceAdjusted` events. A `PositionRedeemed`
(POST /v1/markets/{slug}/redeem) sells the contracts at their settlement price into dollars and
counts them in the position's `redeemed_qty_1e8`.

Rounding is the risk account's (`services/risk/money.py`, `services/risk/account._fill`), so
this view and the balances risk checks against never disagree: what we pay rounds up (buy
cost `ceil(px*qty/1e8)`, fees), what we receive rounds down (sell proceeds
`floor(px*qty/1e8)`), and a USD amount becomes a quote-asset `qty_1e8` as `usd_1e9 / 10`
(quote assets are USD 1:1), again up when paid and down when received.

Money movement per kind:
  crypto (spot)     buy: +qty base, -(cost + fee) quote; sell: -qty base, +(proceeds - fee) quote
  event_contract    like spot, but the contracts live only in the position (no coin balance)
  perp              no base balance; realized PnL minus the fee settles into the quote balance
"""

from __future__ import annotations

from typing import Literal

import msgspec

from events import AnyEvent
from events.execution import BalanceAdjusted, ChildSubmitted, FillRecorded, PositionRedeemed
from events.routing import ChildAllocated, PlanMade
from events.sandbox import SandboxReset
from events.venues import LEGACY_VENUES, PREDICTION_VENUES, venue_id
from projections.runner import ViewTx
from services.refdata import split_symbol
from services.risk.account import Position, fact_problem, trade_position
from services.risk.money import (
    QTY_ONE,
    cost_usd_1e9,
    fee_split,
    notional_usd_1e9,
    usd_to_quote_qty_down,
    usd_to_quote_qty_up,
)

PositionKind = Literal["crypto", "perp", "event_contract"]
NAME = "positions"


def book(is_sandbox: bool) -> str:
    return "sandbox" if is_sandbox else "live"


def kind_of(venue: str, symbol: str) -> PositionKind:
    if venue in PREDICTION_VENUES:
        return "event_contract"
    if symbol.endswith("-PERP"):
        return "perp"
    return "crypto"


def quote_of(venue: str, symbol: str) -> str:
    # Prediction markets settle in dollars whatever their ticker looks like.
    return "USD" if venue in PREDICTION_VENUES else split_symbol(symbol)[1]


def entry_price_usd_1e9(qty_1e8: int, basis_usd_1e9: int) -> int:
    """Average cost per unit (|basis| / |qty|, rounded down); 0 when flat."""
    return 0 if qty_1e8 == 0 else abs(basis_usd_1e9) * QTY_ONE // abs(qty_1e8)


class PositionsProjection:
    name = NAME
    stream = "LEDGER"
    subjects = ["exec.>", "route.>"]  # route.>: the children a fill may name
    # A ledger event we cannot decode would make every balance after it wrong: stop instead.
    on_bad_event: Literal["halt", "record"] = "halt"

    def apply(self, tx: ViewTx, event: AnyEvent, seq: int) -> None:
        if getattr(event, "venue", "") in LEGACY_VENUES:
            # Written by an old perp edge under its own id (binance_usdm): its exchange's row.
            event = msgspec.structs.replace(event, venue=venue_id(getattr(event, "venue")))
        match event:
            case BalanceAdjusted():
                self._add_balance(tx, event.tenant, event.is_sandbox, event.venue, event.asset, event.delta_qty_1e8)
            case ChildAllocated() | ChildSubmitted():
                self._know(tx, event.tenant, event.child_id, event.venue)
            case PlanMade():  # children the router was killed before appending on their own
                for allocated in event.children:
                    self._know(tx, event.tenant, allocated.child_id, venue_id(allocated.venue))
            case FillRecorded():
                known = tx.get("children", f"{event.tenant}/{event.child_id}")
                problem = fact_problem({event.child_id: known["venue"]} if known else {}, event)
                if problem is None:
                    self._fill(tx, event, seq)
                else:
                    tx.put("refused", f"{event.tenant}/{seq:020d}", {
                        "event_id": event.event_id, "reason": problem, "child_id": event.child_id,
                        "graph_id": event.graph_id, "venue": event.venue, "symbol": event.symbol,
                        "side": event.side, "qty_1e8": event.qty_1e8, "px_1e9": event.px_1e9,
                    })
            case PositionRedeemed():
                self._redeem(tx, event)
            case SandboxReset():
                # A reset starts the sandbox book over: the positions it names leave the view
                # (their fills and PnL stay in the log; the fill dedup records stay too).
                for ref in event.flattened:
                    tx.delete("positions", f"{event.tenant}/{book(True)}/{venue_id(ref.venue)}/{ref.symbol}")
            case _:
                pass  # other exec events move no money; tracking still advances past them

    def record_bad(self, tx: ViewTx, seq: int, subject: str, error: str) -> None:
        raise NotImplementedError("positions halts on bad events")  # on_bad_event is "halt"

    # --- folds ------------------------------------------------------------------------------
    @staticmethod
    def _know(tx: ViewTx, tenant: str, child_id: str, venue: str) -> None:
        key = f"{tenant}/{child_id}"
        if tx.get("children", key) is None:
            tx.put("children", key, {"venue": venue})

    def _fill(self, tx: ViewTx, fill: FillRecorded, seq: int) -> None:
        prefix = f"{fill.tenant}/{book(fill.is_sandbox)}/{fill.venue}"
        # Same dedup key as the risk account: the venue trade id, else the event id.
        fill_key = f"{prefix}/{fill.fill_id or fill.event_id}"
        if tx.get("fills", fill_key) is not None:
            return
        tx.put("fills", fill_key, {"seq": seq})
        kind = kind_of(fill.venue, fill.symbol)
        pos_key = f"{prefix}/{fill.symbol}"
        doc = tx.get("positions", pos_key) or {
            "venue": fill.venue,
            "symbol": fill.symbol,
            "kind": kind,
            "qty_1e8": 0,
            "basis_usd_1e9": 0,
            "entry_price_usd_1e9": 0,
            "realized_pnl_usd_1e9": 0,
            "fees_usd_1e9": 0,
            "is_sandbox": fill.is_sandbox,
        }
        after, realized = trade_position(
            Position(doc["qty_1e8"], doc["basis_usd_1e9"]), fill.side, fill.qty_1e8, fill.px_1e9
        )
        doc["qty_1e8"], doc["basis_usd_1e9"] = after.qty_1e8, after.basis_usd_1e9
        doc["entry_price_usd_1e9"] = entry_price_usd_1e9(after.qty_1e8, after.basis_usd_1e9)
        doc["realized_pnl_usd_1e9"] += realized
        doc["fees_usd_1e9"] += fill.fee_usd_1e9
        tx.put("positions", pos_key, doc)

        quote = quote_of(fill.venue, fill.symbol)
        fee_quote, fee_elsewhere = fee_split(fill, quote)
        if fee_elsewhere is not None:  # paid in another asset (BNB, the base): booked there
            self._add_balance(tx, fill.tenant, fill.is_sandbox, fill.venue, fee_elsewhere[0], -fee_elsewhere[1])
        if kind == "perp":
            pnl = realized
            settle = usd_to_quote_qty_down(pnl) if pnl >= 0 else -usd_to_quote_qty_up(-pnl)
            self._add_balance(tx, fill.tenant, fill.is_sandbox, fill.venue, quote, settle - fee_quote)
            return
        if fill.side == "buy":
            quote_delta = -(usd_to_quote_qty_up(cost_usd_1e9(fill.px_1e9, fill.qty_1e8)) + fee_quote)
        else:
            quote_delta = usd_to_quote_qty_down(notional_usd_1e9(fill.px_1e9, fill.qty_1e8)) - fee_quote
        self._add_balance(tx, fill.tenant, fill.is_sandbox, fill.venue, quote, quote_delta)
        if kind == "crypto":
            base = split_symbol(fill.symbol)[0]
            signed = fill.qty_1e8 if fill.side == "buy" else -fill.qty_1e8
            self._add_balance(tx, fill.tenant, fill.is_sandbox, fill.venue, base, signed)

    def _redeem(self, tx: ViewTx, redeemed: PositionRedeemed) -> None:
        # The contracts leave at the settlement price ($1 or $0), like a fee-free sell.
        prefix = f"{redeemed.tenant}/{book(redeemed.is_sandbox)}/{redeemed.venue}"
        doc = tx.get("positions", f"{prefix}/{redeemed.symbol}")
        if doc is None:
            return
        after, realized = trade_position(
            Position(doc["qty_1e8"], doc["basis_usd_1e9"]), "sell", redeemed.qty_1e8, redeemed.settle_px_1e9
        )
        doc["qty_1e8"], doc["basis_usd_1e9"] = after.qty_1e8, after.basis_usd_1e9
        doc["entry_price_usd_1e9"] = entry_price_usd_1e9(after.qty_1e8, after.basis_usd_1e9)
        doc["realized_pnl_usd_1e9"] += realized
        doc["redeemed_qty_1e8"] = doc.get("redeemed_qty_1e8", 0) + redeemed.qty_1e8
        tx.put("positions", f"{prefix}/{redeemed.symbol}", doc)
        payout = usd_to_quote_qty_down(notional_usd_1e9(redeemed.settle_px_1e9, redeemed.qty_1e8))
        quote = quote_of(redeemed.venue, redeemed.symbol)
        self._add_balance(tx, redeemed.tenant, redeemed.is_sandbox, redeemed.venue, quote, payout)

    @staticmethod
    def _add_balance(tx: ViewTx, tenant: str, is_sandbox: bool, venue: str, asset: str, delta_qty_1e8: int) -> None:
        key = f"{tenant}/{book(is_sandbox)}/{venue}/{asset}"
        doc = tx.get("balances", key) or {"venue": venue, "asset": asset, "qty_1e8": 0, "is_sandbox": is_sandbox}
        doc["qty_1e8"] += delta_qty_1e8
        tx.put("balances", key, doc)
