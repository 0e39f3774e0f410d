"""The values that go in (orders) and come out (outcomes) of a `SandboxVenue`.

Outcomes are plain facts in venue terms; `mapping.py` turns them into `events.execution` events.
Every `ts_ns` is the simulated venue's time of the fact, on the caller's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from events.base import Side

OrderType = Literal["market", "limit"]
Tif = Literal["gtc", "ioc", "fok", "day"]  # what a child may carry; the venue rejects "day" (engine._invalid)
Liquidity = Literal["maker", "taker"]
AmendMode = Literal["native_atomic", "cancel_replace"]
OrderStatus = Literal["open", "filled", "cancelled", "rejected", "replaced"]


@dataclass(frozen=True, slots=True)
class SandboxOrder:
    """A child order as the edge's transport would send it. Market orders carry no price."""

    client_order_id: str
    symbol: str
    side: Side
    qty_1e8: int
    order_type: OrderType = "limit"
    limit_px_1e9: int | None = None
    tif: Tif = "gtc"
    post_only: bool = False  # a limit that would take liquidity is rejected, never filled


@dataclass(frozen=True, slots=True)
class Acked:
    client_order_id: str
    venue_order_id: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Filled:
    """One execution; `px_1e9` is never better than the displayed book it came from."""

    client_order_id: str
    venue_order_id: str
    fill_id: str
    symbol: str
    side: Side
    qty_1e8: int
    px_1e9: int
    fee_usd_1e9: int  # the fee in USD at the fill's time (0 when the venue's fee asset has no price here)
    liquidity: Liquidity
    ts_ns: int
    fee_asset: str = ""  # the asset the venue charged the fee in, and how much (positive = paid)
    fee_qty_1e8: int = 0


@dataclass(frozen=True, slots=True)
class Rejected:
    """The venue refused a request. Codes: invalid_order, unknown_symbol, no_book, stale_book,
    fok_unfillable, unknown_order, not_open."""

    client_order_id: str
    code: str
    message: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Cancelled:
    """An order ended with quantity left. Reasons: ioc_remainder, user, replaced."""

    client_order_id: str
    venue_order_id: str
    filled_qty_1e8: int
    cancelled_qty_1e8: int
    reason: str
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Amended:
    """An open order changed. `new_qty_1e8` is the new total (filled included).

    `native_atomic`: same order, same ids (a pure size decrease keeps queue priority).
    `cancel_replace`: the old order was cancelled and `new_client_order_id` placed behind the
    queue; the replacement's own Acked/Filled outcomes follow in the same list.
    """

    client_order_id: str
    venue_order_id: str
    new_qty_1e8: int
    new_limit_px_1e9: int
    mode: AmendMode
    new_client_order_id: str | None
    ts_ns: int


Outcome = Acked | Filled | Rejected | Cancelled | Amended


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """A read-only view of one resting order (reconciliation, tests, UI)."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    limit_px_1e9: int
    qty_1e8: int
    filled_qty_1e8: int
    queue_ahead_1e8: int
    active_from_ns: int


def amended_child_qty(
    order: OpenOrder, node_new_qty_1e8: int | None, node_filled_1e8: int, *, one_clip: bool
) -> int:
    """A resting child's new total when its node is amended to `node_new_qty_1e8` (None: size
    unchanged): what the node filled elsewhere stays filled, the rest is this child's; an
    iceberg's clip (`one_clip`) never grows past its displayed size."""
    if node_new_qty_1e8 is None:
        return order.qty_1e8
    new_qty = order.filled_qty_1e8 + (node_new_qty_1e8 - node_filled_1e8)
    return min(new_qty, order.qty_1e8) if one_clip else new_qty
