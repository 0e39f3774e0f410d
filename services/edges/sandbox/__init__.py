"""Sandbox execution: a venue's order transport simulated against that venue's real book.

Not a venue package (no adapter.py / sim.py): the registry skips it. Pure logic, no I/O or
clocks; times, ids and the random source are arguments, so the same inputs and seed give the
same outcomes.

Wiring (one `SandboxVenue` per venue and tenant; all times on our clock, in ns):

    venue = build_venue("binance", SandboxConfig(), seed=7)          # or SandboxVenue(...)
    venue.on_event(md_event) -> list[Outcome]   # BookSnapshot / BookDeltaBatch / TradePrinted /
                                                # VenueStatusChanged of this venue; returns fills
                                                # of resting orders
    venue.on_book(symbol, bids, asks, ts_ns, snapshot=True, truncate_depth=0) -> list[Outcome]
    venue.on_trade(symbol, px_1e9, qty_1e8, aggressor, ts_ns) -> list[Outcome]
    venue.set_stale(symbol, stale=True) -> None
    venue.submit(SandboxOrder(client_order_id, symbol, side, qty_1e8, order_type, limit_px_1e9,
                              tif, post_only=False), now_ns) -> list[Outcome]
                                                # post-only that would cross: Rejected
                                                # ("post_only_would_cross"), never a taker fill
    venue.cancel(client_order_id, now_ns) -> list[Outcome]
    venue.amend(client_order_id, new_qty_1e8, new_px_1e9 | None, now_ns,
                new_client_order_id=None) -> list[Outcome]
    venue.open_orders(symbol=None) -> list[OpenOrder];  venue.history(client_order_id)
    venue.level_qty(symbol, "bid"|"ask", px_1e9) -> int;  venue.best_px(symbol, side) -> int | None
    venue.forget(client_order_id) -> bool        # bound memory once the retry window has passed

Outcomes (orders.py): Acked, Filled, Rejected, Cancelled, Amended. Publish each through
`mapping.to_event(outcome, ChildRef(child_id, graph_id, node_id, venue, tenant), event_id=...,
ts_ns=...)`, which yields the same `events.execution` events a live edge emits (is_sandbox=True).

Client order ids: `ids.derive_client_order_id(event_id, leg=0, venue=...)`. `submit` with a
client_order_id it has seen returns the first answer again and never places a second order.

Fees: `fees.default_fee_schedule(venue, instrument_type)` (ppm; Kalshi uses its P*(1-P) formula;
a venue's perps have their own where it prices them apart), overridable in `SandboxConfig.fees`. Paper money: `balances.paper_funding(venues)` -> [Grant(venue, asset,
qty_1e8)], granted by the executor for a `FundSandbox` command (accounts.py, which applies every
sandbox book command) as BalanceAdjusted(reason="paper_funding").
"""

from services.edges.sandbox.balances import FundingPlan, Grant, default_funding_plan, paper_funding, reset_deltas
from services.edges.sandbox.config import FeeOverride, SandboxConfig, build_venue, fee_schedule
from services.edges.sandbox.engine import SandboxVenue
from services.edges.sandbox.fees import FeeSchedule, default_fee_schedule, fee_usd_1e9, notional_usd_1e9
from services.edges.sandbox.ids import derive_client_order_id
from services.edges.sandbox.mapping import ChildRef, grant_event, to_event
from services.edges.sandbox.orders import (
    Acked,
    Amended,
    Cancelled,
    Filled,
    OpenOrder,
    Outcome,
    Rejected,
    SandboxOrder,
)

__all__ = [
    "Acked",
    "Amended",
    "Cancelled",
    "ChildRef",
    "FeeOverride",
    "FeeSchedule",
    "Filled",
    "FundingPlan",
    "Grant",
    "OpenOrder",
    "Outcome",
    "Rejected",
    "SandboxConfig",
    "SandboxOrder",
    "SandboxVenue",
    "build_venue",
    "default_fee_schedule",
    "default_funding_plan",
    "derive_client_order_id",
    "fee_schedule",
    "fee_usd_1e9",
    "grant_event",
    "notional_usd_1e9",
    "paper_funding",
    "reset_deltas",
    "to_event",
]
