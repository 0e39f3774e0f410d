"""Pre-trade checks (services/risk/rules.py): each rule's code and message, rounding, order."""

from __future__ import annotations

from events.risk import KillSwitchEngaged
from services.risk.account import AccountState, replay
from services.risk.config import InstrumentRules, RiskLimits, rules_book
from services.risk.money import Side
from services.risk.rules import OrderIntent, RiskAccepted, RiskRejected, VenueFit, check_order
from tests.services.risk.factory import KNOWN, DAY_NS, PX, QTY, RULES, T0, TENANT, USD, child, fill

MARK = 60_000 * PX
NOW = T0 + 1_000


def _intent(
    qty_1e8: int = QTY // 10,
    *,
    side: Side = "buy",
    limit_px_1e9: int | None = None,
    venue: str | None = "okx",
    symbol: str = "BTC-USDT",
) -> OrderIntent:
    return OrderIntent(
        tenant=TENANT, graph_id="g1", node_id="n1", symbol=symbol, side=side,
        qty_1e8=qty_1e8, limit_px_1e9=limit_px_1e9, venue=venue,
    )


def _reject(decision: object) -> tuple[str, str]:
    assert isinstance(decision, RiskRejected), decision
    return decision.code, decision.message


def _empty() -> AccountState:
    return AccountState(tenant=TENANT)


def test_kill_switch_is_checked_first_with_its_reason() -> None:
    state = replay(TENANT, [KillSwitchEngaged(event_id="k", ts_ns=T0, tenant=TENANT, reason="ops halt")], RULES)
    decision = check_order(_intent(0, venue="ftx"), state, RiskLimits(), RULES, MARK, NOW)
    assert _reject(decision) == ("KILL_SWITCH", "kill switch engaged: ops halt")


def test_kill_switch_without_reason() -> None:
    state = replay(TENANT, [KillSwitchEngaged(event_id="k", ts_ns=T0, tenant=TENANT, reason=None)], RULES)
    assert _reject(check_order(_intent(), state, RiskLimits(), RULES, MARK, NOW)) == (
        "KILL_SWITCH", "kill switch engaged: no reason given"
    )


def test_unknown_venue() -> None:
    assert _reject(check_order(_intent(venue="ftx"), _empty(), RiskLimits(), RULES, MARK, NOW)) == (
        "BAD_VENUE", "venue 'ftx' is not configured (known venues: binance, okx)"
    )


def test_unknown_symbol_pinned_and_unpinned() -> None:
    pinned = check_order(_intent(symbol="ETH-USDT"), _empty(), RiskLimits(), RULES, MARK, NOW)
    anywhere = check_order(_intent(symbol="ETH-USDT", venue=None), _empty(), RiskLimits(), RULES, MARK, NOW)
    assert _reject(pinned) == ("BAD_SYMBOL", "symbol 'ETH-USDT' is not listed on okx")
    assert _reject(anywhere) == ("BAD_SYMBOL", "symbol 'ETH-USDT' is not listed on any venue")


def test_quantity_must_be_positive() -> None:
    assert _reject(check_order(_intent(0), _empty(), RiskLimits(), RULES, MARK, NOW)) == (
        "BAD_QUANTITY", "quantity 0 BTC must be greater than 0"
    )


def test_quantity_below_venue_minimum() -> None:
    assert _reject(check_order(_intent(1), _empty(), RiskLimits(), RULES, MARK, NOW)) == (
        "BAD_QUANTITY", "quantity 0.00000001 BTC is below the minimum 0.0001 on okx"
    )


def test_quantity_that_rounds_below_the_minimum() -> None:
    coarse = rules_book([InstrumentRules(venue="okx", symbol="BTC-USDT", base_asset="BTC", quote_asset="USDT",
                                         tick_1e9=PX, lot_1e8=100_000, min_qty_1e8=150_000)])
    assert _reject(check_order(_intent(190_000), _empty(), RiskLimits(), coarse, MARK, NOW)) == (
        "BAD_QUANTITY", "quantity 0.0019 BTC rounds down to 0.001 at lot 0.001, below the minimum 0.0015 on okx"
    )


def test_buy_rounds_quantity_down_to_lot_and_limit_down_to_tick() -> None:
    intent = _intent(12_345_678, limit_px_1e9=60_000_050_000_000)
    decision = check_order(intent, _empty(), RiskLimits(), RULES, MARK, NOW)
    assert decision == RiskAccepted(
        intent=intent,
        qty_1e8=12_340_000,
        notional_usd_1e9=7_404_006_170_000,  # 0.1234 x 60000.05, priced at the intent's limit
        ref_px_1e9=60_000_050_000_000,
        worst_px_1e9=60_000_050_000_000,
        venues=(VenueFit(venue="okx", qty_1e8=12_340_000, limit_px_1e9=60_000 * PX, notional_usd_1e9=7_404 * USD),),
    )


def test_sell_rounds_limit_up_to_tick() -> None:
    decision = check_order(_intent(QTY, side="sell", limit_px_1e9=60_000_050_000_000), _empty(), RiskLimits(), RULES,
                           MARK, NOW)
    assert isinstance(decision, RiskAccepted)
    assert decision.venues[0].limit_px_1e9 == 60_000_100_000_000


def test_unpinned_order_fits_each_listing_venue() -> None:
    decision = check_order(_intent(12_345_678, venue=None), _empty(), RiskLimits(), RULES, MARK, NOW)
    assert isinstance(decision, RiskAccepted)
    assert decision.venues == (
        VenueFit(venue="binance", qty_1e8=12_345_000, limit_px_1e9=None, notional_usd_1e9=7_407 * USD),
        VenueFit(venue="okx", qty_1e8=12_340_000, limit_px_1e9=None, notional_usd_1e9=7_404 * USD),
    )
    assert decision.qty_1e8 == 12_345_000
    assert decision.worst_px_1e9 == 63_000 * PX  # market buy: mark + 5% collar


def test_min_notional_on_a_pinned_venue() -> None:
    decision = check_order(_intent(10_000, limit_px_1e9=40_000 * PX), _empty(), RiskLimits(), RULES, MARK, NOW)
    assert _reject(decision) == (
        "MIN_NOTIONAL", "order notional 4.00 USD (0.0001 BTC at 40000) is below the minimum 5.00 USD on okx"
    )


def test_min_notional_drops_only_the_venue_that_fails() -> None:
    decision = check_order(_intent(20_000, limit_px_1e9=40_000 * PX, venue=None), _empty(), RiskLimits(), RULES, MARK,
                           NOW)
    assert isinstance(decision, RiskAccepted)
    assert [f.venue for f in decision.venues] == ["okx"]


def test_every_venue_failing_reports_each_reason() -> None:
    decision = check_order(_intent(10_000, limit_px_1e9=40_000 * PX, venue=None), _empty(), RiskLimits(), RULES, MARK,
                           NOW)
    assert _reject(decision) == (
        "MIN_NOTIONAL",
        "order notional 4.00 USD (0.0001 BTC at 40000) is below the minimum 10.00 USD on binance; "
        "order notional 4.00 USD (0.0001 BTC at 40000) is below the minimum 5.00 USD on okx",
    )


def test_max_order_notional() -> None:
    limits = RiskLimits(max_order_notional_usd_1e9=1_000_000 * USD, max_position_usd_1e9=None)
    decision = check_order(_intent(40 * QTY, limit_px_1e9=50_000 * PX), _empty(), limits, RULES, MARK, NOW)
    assert _reject(decision) == ("MAX_ORDER_NOTIONAL", "order notional 2,000,000.00 USD exceeds max 1,000,000.00 USD")


def test_max_order_notional_allows_exactly_the_limit() -> None:
    limits = RiskLimits(max_order_notional_usd_1e9=1_000_000 * USD, max_position_usd_1e9=None)
    decision = check_order(_intent(20 * QTY, limit_px_1e9=50_000 * PX), _empty(), limits, RULES, MARK, NOW)
    assert isinstance(decision, RiskAccepted)


def _long_with_open_buy() -> AccountState:
    # long 0.8 BTC, plus an open buy child with 0.1 BTC left
    return replay(TENANT, [*KNOWN, fill("f1", "buy", 80_000_000, 100 * PX, child_id="old"), child("c9", "buy", 10_000_000)],
                  RULES)


def test_position_limit_in_quantity_counts_open_orders() -> None:
    limits = RiskLimits(max_position_qty_1e8={"BTC-USDT": QTY})
    decision = check_order(_intent(20_000_000), _long_with_open_buy(), limits, RULES, MARK, NOW)
    assert _reject(decision) == (
        "POSITION_LIMIT",
        "position in BTC-USDT would reach 1.1 BTC (now 0.8, open buy orders 0.1), above the limit 1 BTC",
    )


def test_position_limit_lets_a_reducing_order_through() -> None:
    limits = RiskLimits(max_position_qty_1e8={"BTC-USDT": QTY // 2})  # already above the cap
    decision = check_order(_intent(50_000_000, side="sell"), _long_with_open_buy(), limits, RULES, MARK, NOW)
    assert isinstance(decision, RiskAccepted)


def test_position_limit_in_usd_at_mark() -> None:
    limits = RiskLimits(max_position_usd_1e9=100_000 * USD)
    decision = check_order(_intent(2 * QTY), _empty(), limits, RULES, MARK, NOW)
    assert _reject(decision) == (
        "POSITION_LIMIT",
        "position in BTC-USDT would be worth 120,000.00 USD (2 BTC at 60000), above the limit 100,000.00 USD",
    )


def _lost_ten_usd() -> AccountState:
    # buy 1 @ 100, sell 0.5 @ 80: realised -10 USD today, still long 0.5
    return replay(TENANT, [*KNOWN, fill("f1", "buy", QTY, 100 * PX), fill("f2", "sell", QTY // 2, 80 * PX)], RULES)


def test_daily_loss_limit_blocks_new_risk() -> None:
    limits = RiskLimits(daily_loss_limit_usd_1e9=5 * USD)
    decision = check_order(_intent(100_000), _lost_ten_usd(), limits, RULES, MARK, NOW)
    assert _reject(decision) == (
        "DAILY_LOSS_LIMIT",
        "realised loss today 10.00 USD has reached the daily limit 5.00 USD; "
        "only orders that reduce a position are allowed",
    )


def test_daily_loss_limit_allows_reducing_and_resets_next_utc_day() -> None:
    limits = RiskLimits(daily_loss_limit_usd_1e9=5 * USD)
    state = _lost_ten_usd()
    reduce = check_order(_intent(QTY // 2, side="sell"), state, limits, RULES, MARK, NOW)
    flip = check_order(_intent(QTY, side="sell"), state, limits, RULES, MARK, NOW)
    tomorrow = check_order(_intent(100_000), state, limits, RULES, MARK, T0 + DAY_NS)
    assert isinstance(reduce, RiskAccepted)
    assert _reject(flip)[0] == "DAILY_LOSS_LIMIT"
    assert isinstance(tomorrow, RiskAccepted)


def test_max_open_orders() -> None:
    state = replay(TENANT, [child("c1", "buy", QTY), child("c2", "sell", QTY, node_id="n2")], RULES)
    decision = check_order(_intent(), state, RiskLimits(max_open_orders=2), RULES, MARK, NOW)
    assert _reject(decision) == ("MAX_OPEN_ORDERS", "2 open orders: the maximum is 2")


def test_market_order_without_mark_is_stale() -> None:
    for mark in (None, 0):
        assert _reject(check_order(_intent(), _empty(), RiskLimits(), RULES, mark, NOW)) == (
            "STALE_VENUE", "no mark price for BTC-USDT: a market order cannot be priced"
        )


def test_limit_order_without_mark_is_priced_at_its_limit() -> None:
    decision = check_order(_intent(QTY, limit_px_1e9=50_000 * PX), _empty(), RiskLimits(), RULES, None, NOW)
    assert isinstance(decision, RiskAccepted)
    assert decision.notional_usd_1e9 == 50_000 * USD


def test_aggressive_limit_far_from_mark_is_a_price_deviation() -> None:
    limits = RiskLimits(max_price_deviation_ppm=50_000)
    buy = check_order(_intent(limit_px_1e9=63_001 * PX), _empty(), limits, RULES, MARK, NOW)
    sell = check_order(_intent(side="sell", limit_px_1e9=56_999 * PX), _empty(), limits, RULES, MARK, NOW)
    passive = check_order(_intent(limit_px_1e9=50_000 * PX), _empty(), limits, RULES, MARK, NOW)
    assert _reject(buy) == ("PRICE_DEVIATION", "buy limit 63001 for BTC-USDT is more than 5% above the mark 60000")
    assert _reject(sell) == ("PRICE_DEVIATION", "sell limit 56999 for BTC-USDT is more than 5% below the mark 60000")
    assert isinstance(passive, RiskAccepted)


def test_non_positive_limit_price() -> None:
    assert _reject(check_order(_intent(limit_px_1e9=0), _empty(), RiskLimits(), RULES, MARK, NOW)) == (
        "PRICE_DEVIATION", "limit price 0 for BTC-USDT must be greater than 0"
    )


def test_order_notional_is_checked_before_position() -> None:
    limits = RiskLimits(max_order_notional_usd_1e9=USD, max_position_qty_1e8={"BTC-USDT": 1})
    assert _reject(check_order(_intent(), _empty(), limits, RULES, MARK, NOW))[0] == "MAX_ORDER_NOTIONAL"
