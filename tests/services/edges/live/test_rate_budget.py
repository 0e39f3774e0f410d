"""Rate budgets: one per account per venue, in front of loopback servers that enforce the
venue's limit (429 + Retry-After) over real sockets, and the budget's own arithmetic on a
hand-driven clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from events.execution import ChildRejected, FillRecorded
from services.bus import Bus
from services.edges.budget import BudgetExceeded, Cost, Limit, RateBudget
from services.edges.live.loopback import ServerLimit
from services.edges.live.service import LiveExecutor
from services.vault import Vault
from tests.services.edges.live.test_live_executor import (  # noqa: F401 - fixtures
    Ledger,
    Venues,
    child,
    creds,
    ended,
    ledger,
    vault,
    venues,
)

ORDERS = 3  # the loopback Binance takes at most 3 new orders per window


def settled(ledger: Ledger, allocs: list) -> Callable[[], bool]:  # noqa: F811
    """Every child ended: rejected, cancelled, or filled in full."""
    return lambda: all(ended(ledger, a.client_order_id)()
                       or sum(f.qty_1e8 for f in ledger.of(FillRecorded, a.client_order_id)) == a.qty_1e8 for a in allocs)


def order_limit(window_s: float) -> ServerLimit:
    return ServerLimit("orders", ORDERS, window_s, cost=lambda method, path: int((method, path) == ("POST", "/api/v3/order")),
                       header="X-MBX-ORDER-COUNT-10S")


def budget_limits(window_s: float) -> dict[str, tuple[Limit, ...]]:
    return {"binance": (Limit("orders", "orders", ORDERS, window_s, "x-mbx-order-count-10s"),)}


@pytest.fixture
async def paced(bus: Bus, vault: Vault, venues: Venues) -> AsyncIterator[LiveExecutor]:  # noqa: F811
    venues.state["binance"].limits = [order_limit(0.5)]
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, limits=budget_limits(0.5), order_wait_s=60.0)
    await ex.start()
    yield ex
    await ex.stop()


async def test_a_burst_above_the_limit_is_paced_and_the_venue_never_sees_one_over_it(
    bus: Bus, vault: Vault, paced: LiveExecutor, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    # Two tenants trading through the same exchange account (one API key): one budget for both.
    vault.store("acme-algo", "binance", creds("binance"))
    allocs = [child("binance", qty=1_000_000, tenant="acme" if i % 2 else "acme-algo") for i in range(3 * ORDERS)]
    for alloc in allocs:
        await bus.publish(alloc)
    await ledger.wait(settled(ledger, allocs))
    server = venues.state["binance"]
    assert server.throttled == 0  # never a 429
    assert server.peak["orders"] <= ORDERS
    assert len(server.orders) == len(allocs)  # every child placed, once
    assert not any(ledger.of(ChildRejected, a.client_order_id) for a in allocs)
    assert {venues.orders_for("binance", a.client_order_id) for a in allocs} == {1}


async def test_an_order_that_would_wait_too_long_is_rejected_with_the_reason(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    venues.state["binance"].limits = [order_limit(600.0)]
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05, limits=budget_limits(600.0), order_wait_s=0.0)
    await ex.start()
    try:
        allocs = [child("binance", qty=1_000_000) for _ in range(2 * ORDERS)]
        for alloc in allocs:
            await bus.publish(alloc)
        await ledger.wait(settled(ledger, allocs))
    finally:
        await ex.stop()
    server = venues.state["binance"]
    rejected = [r for a in allocs for r in ledger.of(ChildRejected, a.client_order_id)]
    assert len(server.orders) == ORDERS and len(rejected) == ORDERS
    assert server.throttled == 0 and server.peak["orders"] == ORDERS
    for r in rejected:
        assert r.code == "rate_budget"
        assert r.message.startswith("binance rate budget of this account is spent (orders 3/3 per 600 s)")


async def test_a_venue_stricter_than_the_budget_throttles_and_each_order_still_goes_out_once(
    bus: Bus, vault: Vault, venues: Venues, ledger: Ledger  # noqa: F811
) -> None:
    # Our table says 100 orders; this account's real limit is 3 per second: the 429's
    # Retry-After stops the budget, the refused order is looked up (not there) and placed later.
    venues.state["binance"].limits = [order_limit(1.0)]
    ex = LiveExecutor(bus, vault, venues.urls, poll_interval_s=0.05,
                      limits={"binance": (Limit("orders", "orders", 100, 10.0),)}, order_wait_s=60.0)
    await ex.start()
    try:
        allocs = [child("binance", qty=1_000_000) for _ in range(ORDERS + 2)]
        for alloc in allocs:
            await bus.publish(alloc)
        await ledger.wait(settled(ledger, allocs))
        budget = ex.budgets.of("binance", creds("binance").api_key)
        assert budget is not None and budget.throttled >= 1
    finally:
        await ex.stop()
    assert venues.state["binance"].throttled >= 1
    assert {venues.orders_for("binance", a.client_order_id) for a in allocs} == {1}
    assert all(sum(f.qty_1e8 for f in ledger.of(FillRecorded, a.client_order_id)) == 1_000_000 for a in allocs)


# --- the arithmetic, on a clock moved by hand ---------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_slot_is_held_until_the_reply_plus_the_window() -> None:
    clock = Clock()
    budget = RateBudget("binance", (Limit("orders", "orders", 2, 10.0),), clock=clock)
    first = await budget.acquire(Cost(1, 1), max_wait_s=0)
    second = await budget.acquire(Cost(1, 1), max_wait_s=0)
    with pytest.raises(BudgetExceeded, match="until a reply frees room"):
        await budget.acquire(Cost(1, 1), max_wait_s=0)  # both in flight: nothing frees on its own
    clock.now += 3.0
    budget.settle(first, 200, {})
    budget.settle(second, 200, {})
    clock.now += 9.0  # 12 s after sending, 9 s after the replies: still inside the window
    with pytest.raises(BudgetExceeded, match=r"orders 2/2 per 10 s\); the request would wait 1.0 s"):
        await budget.acquire(Cost(1, 1), max_wait_s=0.5)
    clock.now += 1.0
    await budget.acquire(Cost(1, 1), max_wait_s=0)
    await budget.acquire(Cost(5, 0), max_wait_s=0)  # weight only: the order window is not touched


async def test_the_venue_headers_and_retry_after_win_over_our_count() -> None:
    clock = Clock()
    budget = RateBudget("binance", (Limit("weight", "weight", 10, 60.0, "x-mbx-used-weight-1m"),), clock=clock)
    ticket = await budget.acquire(Cost(1), max_wait_s=0)
    # The venue counted 9 for this account in the window: someone else spends it too.
    budget.settle(ticket, 200, httpx.Headers({"X-MBX-USED-WEIGHT-1M": "9"}))
    await budget.acquire(Cost(1), max_wait_s=0)
    with pytest.raises(BudgetExceeded, match="weight 10/10"):
        await budget.acquire(Cost(1), max_wait_s=0)
    clock.now += 61.0
    ticket = await budget.acquire(Cost(1), max_wait_s=0)
    budget.settle(ticket, 429, httpx.Headers({"Retry-After": "7"}))
    assert budget.throttled == 1
    with pytest.raises(BudgetExceeded, match="throttled by the venue for 7.0 s more"):
        await budget.acquire(Cost(1), max_wait_s=1)
    clock.now += 7.0
    await budget.acquire(Cost(1), max_wait_s=0)
