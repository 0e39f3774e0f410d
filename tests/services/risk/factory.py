"""Builders shared by the risk tests: two venues, readable amounts, deterministic ids."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Literal

from events.execution import BalanceAdjusted, ChildSubmitted, FillRecorded
from events.routing import ChildAllocated
from services.risk.config import InstrumentRules, rules_book

TENANT = "t1"
USD = 10**9  # 1 USD in usd_1e9
PX = 10**9  # 1.0 in px_1e9
QTY = 10**8  # 1.0 in qty_1e8
DAY_NS = 86_400 * 10**9
T0 = 20_000 * DAY_NS  # 2024-10-04T00:00:00Z, a UTC midnight

OKX = InstrumentRules(
    venue="okx",
    symbol="BTC-USDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_1e9=PX // 10,  # 0.1
    lot_1e8=QTY // 10_000,  # 0.0001
    min_qty_1e8=QTY // 10_000,
    min_notional_usd_1e9=5 * USD,
    fee_ppm=1_000,  # 10 bp
)
BINANCE = InstrumentRules(
    venue="binance",
    symbol="BTC-USDT",
    base_asset="BTC",
    quote_asset="USDT",
    tick_1e9=PX // 100,  # 0.01
    lot_1e8=QTY // 100_000,  # 0.00001
    min_qty_1e8=QTY // 100_000,
    min_notional_usd_1e9=10 * USD,
    fee_ppm=1_000,
)
RULES = rules_book([OKX, BINANCE])


def id_source(prefix: str = "e") -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"{prefix}{next(counter)}"


def fund(venue: str, asset: str, qty_1e8: int, event_id: str = "fund", ts_ns: int = T0) -> BalanceAdjusted:
    return BalanceAdjusted(
        event_id=f"{event_id}-{venue}-{asset}",
        ts_ns=ts_ns,
        tenant=TENANT,
        venue=venue,
        asset=asset,
        delta_qty_1e8=qty_1e8,
        reason="paper funding",
        is_sandbox=True,
    )


def fill(
    fill_id: str,
    side: Literal["buy", "sell"],
    qty_1e8: int,
    px_1e9: int,
    *,
    fee_usd_1e9: int = 0,
    venue: str = "okx",
    graph_id: str = "g1",
    node_id: str = "n1",
    child_id: str = "c1",
    ts_ns: int = T0,
    symbol: str = "BTC-USDT",
    fee_asset: str = "",
    fee_qty_1e8: int = 0,
) -> FillRecorded:
    return FillRecorded(
        event_id=f"ev-{fill_id}",
        ts_ns=ts_ns,
        tenant=TENANT,
        fill_id=fill_id,
        child_id=child_id,
        client_order_id=f"co-{child_id}",
        graph_id=graph_id,
        node_id=node_id,
        venue=venue,
        symbol=symbol,
        side=side,
        qty_1e8=qty_1e8,
        px_1e9=px_1e9,
        fee_usd_1e9=fee_usd_1e9,
        liquidity="taker",
        is_sandbox=True,
        fee_asset=fee_asset,
        fee_qty_1e8=fee_qty_1e8,
    )


def child(
    child_id: str,
    side: Literal["buy", "sell"],
    qty_1e8: int,
    *,
    graph_id: str = "g1",
    node_id: str = "n1",
    venue: str = "okx",
    symbol: str = "BTC-USDT",
) -> ChildSubmitted:
    return ChildSubmitted(
        event_id=f"sub-{child_id}",
        ts_ns=T0,
        tenant=TENANT,
        child_id=child_id,
        client_order_id=f"co-{child_id}",
        graph_id=graph_id,
        node_id=node_id,
        venue=venue,
        symbol=symbol,
        side=side,
        qty_1e8=qty_1e8,
        limit_px_1e9=None,
    )


def allocated(child_id: str = "c1", *, venue: str = "okx", graph_id: str = "g1", node_id: str = "n1") -> ChildAllocated:
    """The router's allocation of a child: what makes the ledger know it (a fill for a child it
    does not know is refused)."""
    return ChildAllocated(
        event_id=f"alloc-{child_id}", ts_ns=T0, tenant=TENANT, plan_id="p1", graph_id=graph_id, node_id=node_id,
        child_id=child_id, client_order_id=f"co-{child_id}", venue=venue, symbol="BTC-USDT", side="buy",
        qty_1e8=QTY, order_type="market", limit_px_1e9=None, tif="ioc", is_sandbox=True,
    )


# The children the fills of these tests name, allocated before them.
KNOWN = (allocated("c1"), allocated("old"))
