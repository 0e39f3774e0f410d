"""A pool leg spends its chain wallet: both Uniswap venues on Ethereum reserve from and fill into
one account, `dex_ethereum` (`events.venues.account_venue`), whose balances the DEX executor
puts on the ledger from the chain (services/edges/evm/balances.py). A funded wallet lets a buy
split over a V2 and a V3 pool pass risk; without the wallet on the ledger it is refused."""

from __future__ import annotations

import msgspec

from events.execution import BalanceAdjusted
from events.risk import RiskCheckPassed
from services.edges.evm.pools import PoolSpec, Token
from services.edges.evm.venues import Listing, instrument
from services.risk.account import AccountState, apply, replay
from services.risk.config import RiskLimits, rules_book
from services.risk.reservations import decide_and_reserve
from services.risk.rules import OrderIntent, RiskRejected
from tests.services.risk.factory import PX, QTY, T0, TENANT, allocated, id_source
from tests.services.risk.factory import fill as make_fill

WETH, USDT = Token("0x" + "01" * 20, "WETH", 18), Token("0x" + "02" * 20, "USDT", 6)
V2 = Listing(PoolSpec("v2", "0x" + "aa" * 20, WETH, USDT, base_is_token0=True), "ETH-USDT")
V3 = Listing(PoolSpec("v3", "0x" + "bb" * 20, WETH, USDT, base_is_token0=True, fee_pips=500), "ETH-USDT")
RULES = rules_book([instrument(V2), instrument(V3)])
LEGS = {V2.venue: 2 * QTY, V3.venue: 3 * QTY}  # the router's plan: 5 ETH over both pools


def wallet(asset: str, qty_1e8: int, event_id: str) -> BalanceAdjusted:
    return BalanceAdjusted(event_id=event_id, ts_ns=T0, tenant=TENANT, venue="dex_ethereum", asset=asset,
                           delta_qty_1e8=qty_1e8, reason="wallet_reconcile", is_sandbox=False)


def decide(state: AccountState, side: str = "buy") -> RiskCheckPassed | RiskRejected:
    intent = OrderIntent(tenant=TENANT, graph_id="g1", node_id="n1", symbol="ETH-USDT", side=side,  # type: ignore[arg-type]
                         qty_1e8=5 * QTY, limit_px_1e9=2_010 * PX, venue=None)
    outcome = decide_and_reserve(state, intent, limits=RiskLimits(), rules=RULES, mark_px_1e9=2_000 * PX,
                                 now_ns=T0 + 1, new_id=id_source(), venue_amounts=LEGS)
    if isinstance(outcome.decision, RiskRejected):
        return outcome.decision
    (passed,) = outcome.events
    assert isinstance(passed, RiskCheckPassed)
    return passed


def test_a_funded_wallet_lets_both_pool_legs_pass_risk_from_one_account() -> None:
    passed = decide(replay(TENANT, [wallet("USDT", 20_000 * QTY, "w1")], RULES))
    assert isinstance(passed, RiskCheckPassed)
    # both legs reserve the wallet's USDT: 5 x 2010 (pool fees are in the prices)
    assert {(r.venue, r.asset) for r in passed.reservations} == {("dex_ethereum", "USDT")}
    assert sum(r.qty_1e8 for r in passed.reservations) == 5 * 2_010 * QTY


def test_without_the_wallet_on_the_ledger_a_pool_leg_is_refused() -> None:
    refused = decide(replay(TENANT, [], RULES))
    assert isinstance(refused, RiskRejected) and refused.code == "INSUFFICIENT_BALANCE"
    assert "on dex_ethereum" in refused.message
    # a wallet short of what the two legs need together is refused too
    short = decide(replay(TENANT, [wallet("USDT", 5 * 2_010 * QTY - 1, "w1")], RULES))
    assert isinstance(short, RiskRejected) and short.code == "INSUFFICIENT_BALANCE"
    # selling needs the wallet's ETH (WETH listed as ETH), not a pool venue's own balance
    assert isinstance(decide(replay(TENANT, [wallet("ETH", 5 * QTY, "w2")], RULES), "sell"), RiskCheckPassed)


def test_a_pool_fill_moves_the_wallet_and_consumes_its_reservation() -> None:
    state = replay(TENANT, [wallet("USDT", 20_000 * QTY, "w1")], RULES)
    passed = decide(state)
    assert isinstance(passed, RiskCheckPassed)
    state = apply(state, passed, RULES)
    alloc = msgspec.structs.replace(allocated("c1", venue=V3.venue), symbol="ETH-USDT", is_sandbox=False)
    fill = msgspec.structs.replace(make_fill("0xswap", "buy", 3 * QTY, 2_000 * PX, venue=V3.venue, symbol="ETH-USDT"),
                                   is_sandbox=False)
    for event in (alloc, fill):
        state = apply(state, event, RULES)
    assert state.balance("dex_ethereum", "ETH") == 3 * QTY
    assert state.balance("dex_ethereum", "USDT") == 20_000 * QTY - 3 * 2_000 * QTY
    assert state.balance(V3.venue, "USDT") == 0  # nothing booked under the pool venue itself
    assert state.reserved_qty("dex_ethereum", "USDT") == 5 * 2_010 * QTY - 3 * 2_000 * QTY
