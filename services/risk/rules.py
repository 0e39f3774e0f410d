"""Pre-trade checks: one pure function from an order intent and the account state to a decision.

Checks run in this order and the first failure is the answer:
kill switch -> venue and symbol -> quantity > 0 -> price (mark known, limit sane) ->
per venue: tick/lot rounding, minimum quantity, minimum notional -> max order notional ->
position limit -> daily realised loss -> max open orders. Balance is checked by `reserve`.

Pricing: an order is valued at its limit price, or at the mark for a market order. Limit
notionals for the order-level limits round up (against us); venue minimums use the venue's own
rounded price and quantity, rounded down, as the venue would.
"""

from __future__ import annotations

from dataclasses import dataclass

from events.risk import RejectCode
from services.risk.account import AccountState
from services.risk.config import InstrumentRules, RiskLimits, RulesBook
from services.risk.money import (
    PPM_ONE,
    Side,
    cost_usd_1e9,
    fmt_ppm,
    fmt_px,
    fmt_qty,
    fmt_usd,
    notional_usd_1e9,
    round_px_to_tick,
    round_qty_down,
    scale_up_ppm,
    utc_day,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderIntent:
    """What a node wants to trade. `venue` None lets the SOR choose among every listing venue."""

    tenant: str
    graph_id: str
    node_id: str
    symbol: str
    side: Side
    qty_1e8: int
    limit_px_1e9: int | None = None  # None = market order
    venue: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueFit:
    """The order as one venue would take it: quantity on its lot, limit on its tick."""

    venue: str
    qty_1e8: int  # intent quantity rounded DOWN to this venue's lot
    limit_px_1e9: int | None  # limit rounded onto this venue's tick (buys down, sells up)
    notional_usd_1e9: int  # qty_1e8 at the venue limit price (or mark), rounded down


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAccepted:
    intent: OrderIntent
    qty_1e8: int  # the largest lot-rounded quantity a candidate venue takes (pinned: that venue's)
    notional_usd_1e9: int  # qty_1e8 at the reference price, rounded up
    ref_px_1e9: int  # limit price, or mark for a market order
    worst_px_1e9: int  # highest price a buy can pay: limit, or mark + market collar
    venues: tuple[VenueFit, ...]  # candidate venues that passed, sorted by venue name

    def fit(self, venue: str) -> VenueFit | None:
        return next((f for f in self.venues if f.venue == venue), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskRejected:
    intent: OrderIntent
    code: RejectCode
    message: str  # names the field, the value and the limit, for humans and the API


RiskDecision = RiskAccepted | RiskRejected


def check_order(
    intent: OrderIntent,
    state: AccountState,
    limits: RiskLimits,
    rules: RulesBook,
    mark_px_1e9: int | None,
    now_ns: int,
) -> RiskDecision:
    """Decide whether `intent` may trade now. `mark_px_1e9` None or 0 = no usable market price."""
    if state.kill_engaged:
        return RiskRejected(
            intent=intent, code="KILL_SWITCH", message=f"kill switch engaged: {state.kill_reason or 'no reason given'}"
        )
    shaped = check_instrument(intent, limits, rules, mark_px_1e9)
    if isinstance(shaped, RiskRejected):
        return shaped
    return check_account(shaped, state, limits, rules, mark_px_1e9, now_ns)


def check_instrument(
    intent: OrderIntent, limits: RiskLimits, rules: RulesBook, mark_px_1e9: int | None
) -> RiskDecision:
    """Run the checks that depend only on the order and the venues' rules (no account state)."""

    def reject(code: RejectCode, message: str) -> RiskRejected:
        return RiskRejected(intent=intent, code=code, message=message)

    candidates = _candidates(intent, rules)
    if isinstance(candidates, tuple):
        return reject(*candidates)
    base = candidates[0].base_asset
    if intent.qty_1e8 <= 0:
        return reject("BAD_QUANTITY", f"quantity {fmt_qty(intent.qty_1e8)} {base} must be greater than 0")
    mark = mark_px_1e9 if mark_px_1e9 is not None and mark_px_1e9 > 0 else None
    limit = intent.limit_px_1e9
    if limit is not None and limit <= 0:
        return reject("PRICE_DEVIATION", f"limit price {fmt_px(limit)} for {intent.symbol} must be greater than 0")
    ref_px = limit if limit is not None else mark
    if ref_px is None:
        return reject("STALE_VENUE", f"no mark price for {intent.symbol}: a market order cannot be priced")
    if limit is not None and mark is not None and limits.max_price_deviation_ppm is not None:
        deviation = _deviation_message(intent.side, limit, mark, limits.max_price_deviation_ppm, intent.symbol)
        if deviation:
            return reject("PRICE_DEVIATION", deviation)

    fits: list[VenueFit] = []
    failures: list[tuple[RejectCode, str]] = []
    for rule in candidates:
        fit = _fit_venue(intent, rule, mark)
        if isinstance(fit, VenueFit):
            fits.append(fit)
        else:
            failures.append(fit)
    if not fits:
        return reject(failures[0][0], "; ".join(message for _, message in failures))

    qty = max(f.qty_1e8 for f in fits)
    notional = cost_usd_1e9(ref_px, qty)
    cap = limits.max_order_notional_usd_1e9
    if cap is not None and notional > cap:
        return reject(
            "MAX_ORDER_NOTIONAL", f"order notional {fmt_usd(notional)} USD exceeds max {fmt_usd(cap)} USD"
        )
    if intent.side == "buy":
        worst = limit if limit is not None else scale_up_ppm(ref_px, limits.market_collar_ppm)
    else:
        worst = ref_px
    return RiskAccepted(
        intent=intent, qty_1e8=qty, notional_usd_1e9=notional, ref_px_1e9=ref_px, worst_px_1e9=worst, venues=tuple(fits)
    )


def check_account(
    accepted: RiskAccepted,
    state: AccountState,
    limits: RiskLimits,
    rules: RulesBook,
    mark_px_1e9: int | None,
    now_ns: int,
) -> RiskDecision:
    """Run the checks against the account: position, daily realised loss, open orders."""
    intent = accepted.intent

    def reject(code: RejectCode, message: str) -> RiskRejected:
        return RiskRejected(intent=intent, code=code, message=message)

    base = rules[accepted.venues[0].venue][intent.symbol].base_asset
    net = state.position(intent.symbol).qty_1e8
    pending = state.pending_qty(intent.symbol, intent.side)
    # Worst case: every open order on this side fills, then this one does.
    projected = net + pending + accepted.qty_1e8 if intent.side == "buy" else net - pending - accepted.qty_1e8
    reduces = net != 0 and abs(projected) <= abs(net) and projected * net >= 0
    grows = abs(projected) > abs(net)

    if grows:
        qty_cap = limits.max_position_qty_1e8.get(intent.symbol)
        if qty_cap is not None and abs(projected) > qty_cap:
            return reject(
                "POSITION_LIMIT",
                f"position in {intent.symbol} would reach {fmt_qty(projected)} {base} "
                f"(now {fmt_qty(net)}, open {intent.side} orders {fmt_qty(pending)}), "
                f"above the limit {fmt_qty(qty_cap)} {base}",
            )
        usd_cap = limits.max_position_usd_1e9
        px = mark_px_1e9 if mark_px_1e9 else accepted.ref_px_1e9
        value = cost_usd_1e9(px, abs(projected))
        if usd_cap is not None and value > usd_cap:
            return reject(
                "POSITION_LIMIT",
                f"position in {intent.symbol} would be worth {fmt_usd(value)} USD "
                f"({fmt_qty(projected)} {base} at {fmt_px(px)}), above the limit {fmt_usd(usd_cap)} USD",
            )

    loss_cap = limits.daily_loss_limit_usd_1e9
    loss = -state.realised_on(utc_day(now_ns))
    if loss_cap is not None and loss > 0 and loss >= loss_cap and not reduces:
        return reject(
            "DAILY_LOSS_LIMIT",
            f"realised loss today {fmt_usd(loss)} USD has reached the daily limit {fmt_usd(loss_cap)} USD; "
            f"only orders that reduce a position are allowed",
        )

    max_open = limits.max_open_orders
    n_open = state.open_order_count()
    if max_open is not None and n_open >= max_open:
        return reject("MAX_OPEN_ORDERS", f"{n_open} open orders: the maximum is {max_open}")
    return accepted


def _candidates(intent: OrderIntent, rules: RulesBook) -> list[InstrumentRules] | tuple[RejectCode, str]:
    if intent.venue is not None:
        per_venue = rules.get(intent.venue)
        if per_venue is None:
            known = ", ".join(sorted(rules)) or "none"
            return "BAD_VENUE", f"venue {intent.venue!r} is not configured (known venues: {known})"
        rule = per_venue.get(intent.symbol)
        if rule is None:
            return "BAD_SYMBOL", f"symbol {intent.symbol!r} is not listed on {intent.venue}"
        return [rule]
    listed = [rules[v][intent.symbol] for v in sorted(rules) if intent.symbol in rules[v]]
    if not listed:
        return "BAD_SYMBOL", f"symbol {intent.symbol!r} is not listed on any venue"
    return listed


def _fit_venue(intent: OrderIntent, rule: InstrumentRules, mark: int | None) -> VenueFit | tuple[RejectCode, str]:
    base, venue = rule.base_asset, rule.venue
    px = None
    if intent.limit_px_1e9 is not None:
        px = round_px_to_tick(intent.limit_px_1e9, rule.tick_1e9, intent.side)
        if px <= 0:
            return "PRICE_DEVIATION", (
                f"limit price {fmt_px(intent.limit_px_1e9)} rounds to 0 at tick {fmt_px(rule.tick_1e9)} on {venue}"
            )
    qty = round_qty_down(intent.qty_1e8, rule.lot_1e8)
    floor_qty = max(rule.min_qty_1e8, rule.lot_1e8)
    if qty < floor_qty:
        if intent.qty_1e8 < floor_qty:
            msg = f"quantity {fmt_qty(intent.qty_1e8)} {base} is below the minimum {fmt_qty(floor_qty)} on {venue}"
        else:
            msg = (
                f"quantity {fmt_qty(intent.qty_1e8)} {base} rounds down to {fmt_qty(qty)} at lot "
                f"{fmt_qty(rule.lot_1e8)}, below the minimum {fmt_qty(floor_qty)} on {venue}"
            )
        return "BAD_QUANTITY", msg
    value_px = px if px is not None else mark
    assert value_px is not None  # check_instrument rejects a market order without a mark first
    notional = notional_usd_1e9(value_px, qty)
    if notional < rule.min_notional_usd_1e9:
        return "MIN_NOTIONAL", (
            f"order notional {fmt_usd(notional)} USD ({fmt_qty(qty)} {base} at {fmt_px(value_px)}) "
            f"is below the minimum {fmt_usd(rule.min_notional_usd_1e9)} USD on {venue}"
        )
    return VenueFit(venue=venue, qty_1e8=qty, limit_px_1e9=px, notional_usd_1e9=notional)


def _deviation_message(side: Side, limit: int, mark: int, max_ppm: int, symbol: str) -> str | None:
    # Only the aggressive direction is a fat-finger risk: a passive order far from mark just rests.
    if side == "buy" and (limit - mark) * PPM_ONE > mark * max_ppm:
        where = "above"
    elif side == "sell" and (mark - limit) * PPM_ONE > mark * max_ppm:
        where = "below"
    else:
        return None
    return (
        f"{side} limit {fmt_px(limit)} for {symbol} is more than {fmt_ppm(max_ppm)} {where} "
        f"the mark {fmt_px(mark)}"
    )
