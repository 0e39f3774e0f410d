"""The sandbox book's commands (services/edges/sandbox/accounts.py): the facts each one makes, a
funded tenant funded once, and commands read while replaying run only when the log shows no
fact for them (so a restart past the dedup window never books them twice)."""

from __future__ import annotations

from events.commands import ChangeSandboxSettings, FundSandbox, RedeemPositions, Redemption, ResetSandbox, SetSandboxBalance
from events.execution import BalanceAdjusted, PositionRedeemed
from events.sandbox import BalanceDelta, PaperBalance, PositionRef, SandboxReset, SandboxSettingsChanged
from services.edges.sandbox.accounts import SandboxAccounts, command_id, expected_facts

T = 1_700_000_000_000_000_000
TENANT = "acme"


def fund(tenant: str = TENANT) -> FundSandbox:
    return FundSandbox(event_id=command_id("fund", tenant), ts_ns=T, tenant=tenant, grants=[
        BalanceDelta(venue="binance", asset="USDT", delta_qty_1e8=5 * 10**8),
        BalanceDelta(venue="okx", asset="BTC", delta_qty_1e8=2 * 10**8),
    ])


def test_funding_grants_each_paper_balance_once_per_tenant() -> None:
    # Arrange
    book = SandboxAccounts()
    # Act
    first = book.apply(fund(), T + 1)
    again = book.apply(fund(), T + 2)
    other = book.apply(fund("other"), T + 3)
    # Assert: sandbox-only funding facts naming the command; a funded tenant gets nothing more.
    assert [(e.venue, e.asset, e.delta_qty_1e8, e.reason, e.is_sandbox, e.causation_id) for e in first
            if isinstance(e, BalanceAdjusted)] == [
        ("binance", "USDT", 5 * 10**8, "paper_funding", True, fund().event_id),
        ("okx", "BTC", 2 * 10**8, "paper_funding", True, fund().event_id),
    ]
    assert len(first) == expected_facts(fund()) == 2
    assert again == [] and len(other) == 2
    assert {e.tenant for e in other} == {"other"}


def test_a_funding_fact_on_the_log_makes_the_tenant_funded() -> None:
    book = SandboxAccounts()
    (fact, _) = SandboxAccounts().apply(fund(), T)
    book.fold(fact)
    assert book.apply(fund(), T + 1) == []


def test_settings_set_balance_reset_and_redemption_make_their_facts_in_order() -> None:
    # Arrange
    book = SandboxAccounts()
    settings = ChangeSandboxSettings(event_id="c-settings", ts_ns=T, tenant=TENANT,
                                     balances=[PaperBalance(asset="USDT", qty_1e8=7)])
    set_balance = SetSandboxBalance(event_id="c-set", ts_ns=T, tenant=TENANT, venue="okx", asset="ETH",
                                    delta_qty_1e8=-3)
    reset = ResetSandbox(event_id="c-reset", ts_ns=T, tenant=TENANT, request_id="r1", cancelled=2,
                         adjusted=[BalanceDelta(venue="okx", asset="ETH", delta_qty_1e8=3)],
                         flattened=[PositionRef(venue="okx", symbol="ETH-USDT")])
    redeem = RedeemPositions(event_id="c-redeem", ts_ns=T, tenant=TENANT, redemptions=[
        Redemption(venue="kalshi", symbol="KX-YES", slug="kx", qty_1e8=10**8, settle_px_1e9=10**9),
    ])
    # Act
    made = {c.event_id: book.apply(c, T + 5) for c in (settings, set_balance, reset, redeem)}
    # Assert
    (changed,) = made["c-settings"]
    assert isinstance(changed, SandboxSettingsChanged) and changed.balances == settings.balances
    (moved,) = made["c-set"]
    assert isinstance(moved, BalanceAdjusted) and (moved.delta_qty_1e8, moved.reason) == (-3, "sandbox_set_position")
    adjusted, marker = made["c-reset"]
    assert isinstance(adjusted, BalanceAdjusted) and adjusted.reason == "sandbox_reset"
    assert isinstance(marker, SandboxReset)  # last: its presence means the whole reset is on the log
    assert (marker.request_id, marker.cancelled, marker.flattened) == ("r1", 2, reset.flattened)
    (paid,) = made["c-redeem"]
    assert isinstance(paid, PositionRedeemed) and (paid.qty_1e8, paid.settle_px_1e9, paid.is_sandbox) == (10**8, 10**9, True)
    for command in (settings, set_balance, reset, redeem):
        facts = made[command.event_id]
        assert len(facts) == expected_facts(command)
        assert all(f.causation_id == command.event_id and f.ts_ns == T + 5 and f.tenant == TENANT for f in facts)
    # Deterministic: the same command makes the same ids (a re-run after a crash is stored once).
    assert [e.event_id for e in SandboxAccounts().apply(reset, T + 9)] == [e.event_id for e in made["c-reset"]]


def test_commands_read_while_replaying_run_once_caught_up_unless_the_log_shows_their_facts() -> None:
    # Arrange: a log with a reset that ran (its facts follow it) and a funding that never did.
    ran = ResetSandbox(event_id="c-ran", ts_ns=T, tenant=TENANT, request_id="r1", cancelled=0, adjusted=[],
                       flattened=[])
    facts = SandboxAccounts().apply(ran, T)
    book = SandboxAccounts()
    # Act: replay (not caught up), then catch up.
    during = [out for event in (ran, *facts, fund()) for out in book.read(event, False, T + 1)]
    after = book.run_unrun(T + 2)
    live = book.read(ResetSandbox(event_id="c-live", ts_ns=T, tenant=TENANT, request_id="r2", cancelled=0,
                                  adjusted=[], flattened=[]), True, T + 3)
    # Assert: nothing while replaying; only the funding runs; a live command runs at once.
    assert during == []
    assert [type(e).__name__ for e in after] == ["BalanceAdjusted", "BalanceAdjusted"]
    assert {e.causation_id for e in after} == {fund().event_id}
    assert [e.causation_id for e in live] == ["c-live"] and book.unrun == {}
