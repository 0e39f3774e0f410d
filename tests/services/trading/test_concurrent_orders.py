"""50 orders at once against one small balance, over the real event path: no point of the log
ever holds more in reservations than the balance. A second router runs by mistake beside the
first: it decides the same nodes on the same log, so its appends carry the same derived ids and
are dropped as duplicates; no order gets two plans. (Appends racing with different content are
refused by the account's expected sequence: tests/services/risk/test_occ.py walks every
interleaving, tests/services/bus/test_bus.py shows JetStream refusing the loser.)"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from events.execution import BalanceAdjusted
from events.risk import RiskCheckPassed, RiskCheckRejected
from events.routing import PlanMade
from projections.follower import StreamFollower
from services.bus import Bus
from services.refdata import instrument_rules
from services.risk import RiskLimits, rules_book
from services.risk.books import AccountBooks
from services.settings import Settings
from services.sor.service import RouterService
from tests.services.trading.test_policies import FINAL, U, Desk, desk  # noqa: F401  (the fixture)

TENANT = "default"
BALANCE_USDT = 1_000 * U  # about ten 0.001 BTC orders at 100,100
ORDERS = 50


async def test_fifty_concurrent_orders_never_reserve_more_than_the_balance(desk: Desk, settings: Settings) -> None:
    # Arrange: the tenant's only paper money is 1,000 USDT on okx; a second router beside the first
    now = time.time_ns()
    await desk.bus.publish(BalanceAdjusted(event_id="small-funding", ts_ns=now, tenant=TENANT, venue="okx",
                                           asset="USDT", delta_qty_1e8=BALANCE_USDT, reason="paper_funding",
                                           is_sandbox=True))
    await desk.api.ledger_follower.wait_until(lambda: TENANT in desk.api.ledger.funded)
    second_bus = await Bus.connect(settings, name="router-2")
    second = RouterService(second_bus, limits=RiskLimits(max_open_orders=None))
    await second.start()
    try:
        # Act
        graph_ids = await asyncio.gather(*(
            desk.submit(qty_1e8=U // 1000, venue="okx") for _ in range(ORDERS)
        ))
        await desk.api.ledger_follower.wait_until(
            lambda: all((g := desk.api.ledger.graphs.get(i)) is not None and g.status in FINAL for i in graph_ids),
            timeout=60,
        )
        # Each router releases what an ended node still holds once it has folded the end: wait
        # until the log, past the point where every graph was final, holds no reservation.
        ended_at = desk.api.ledger_follower.position
        held = AccountBooks(rules_book(instrument_rules()))
        log = StreamFollower(desk.bus, "LEDGER", ["ord.>", "risk.>", "exec.>", "route.>"],
                             lambda event, _: held.fold(event) if event.tenant == TENANT else None)
        await log.start()
        try:
            await log.wait_until(
                lambda: log.position >= ended_at and held.account(TENANT, True).reserved_qty("okx", "USDT") == 0,
                timeout=30,
            )
        finally:
            await log.stop()
    finally:
        await second.stop()
        await second_bus.close()
    # Assert: fold the account as the log holds it, checking after every event
    books = AccountBooks(rules_book(instrument_rules()))
    verdicts: Counter[str] = Counter()
    plans: Counter[str] = Counter()
    async for delivered in desk.bus.replay("LEDGER", ["ord.>", "risk.>", "exec.>", "route.>"]):
        event = delivered.event
        if event.tenant != TENANT:
            continue
        books.fold(event)
        account = books.account(TENANT, True)
        assert account.available("okx", "USDT") >= 0, f"over-reserved at seq {delivered.seq}"
        if isinstance(event, (RiskCheckPassed, RiskCheckRejected)) and event.graph_id in graph_ids:
            verdicts[type(event).__name__ if isinstance(event, RiskCheckPassed) else event.code] += 1
        if isinstance(event, PlanMade) and event.graph_id in graph_ids:
            plans[event.graph_id] += 1
    assert verdicts["RiskCheckPassed"] >= 1 and verdicts["INSUFFICIENT_BALANCE"] >= 1, verdicts
    assert verdicts["RiskCheckPassed"] + verdicts["INSUFFICIENT_BALANCE"] == ORDERS, verdicts
    assert len(plans) == verdicts["RiskCheckPassed"] and all(n == 1 for n in plans.values())  # one plan each
    assert books.account(TENANT, True).reserved_qty("okx", "USDT") == 0  # every order is over
