"""Pre-trade risk: pure checks, balance reservations as events, and the account fold.

No I/O here: time (`now_ns`), ids (`new_id`) and prices come in as arguments.

Units: qty_1e8, px_1e9, USD_1e9, fees in ppm. Notional = px_1e9 * qty_1e8 // 10**8; costs,
fees and reservations round UP, proceeds and values round DOWN. Quote assets count as USD 1:1.

Configuration (`config`)
    RiskLimits(max_order_notional_usd_1e9, max_position_usd_1e9, max_position_qty_1e8,
               daily_loss_limit_usd_1e9, max_open_orders, market_collar_ppm, max_price_deviation_ppm)
    InstrumentRules(venue, symbol, base_asset, quote_asset, tick_1e9, lot_1e8, min_qty_1e8,
                    min_notional_usd_1e9, fee_ppm)
    rules_book(rules) -> {venue: {symbol: InstrumentRules}}          (the `RulesBook`)

The account fold (`account`)
    new_account(tenant) -> AccountState
    apply(state, event, rules) -> AccountState       pure; fold_into(state, event, rules) mutates
    replay(tenant, events, rules) -> AccountState
    state.available(venue, asset) == balance - reserved (qty_1e8)
  Feed it the tenant's exec.*.<tenant>, risk.<tenant>.acct, risk.<tenant>.kill and
  ord.<tenant>.* events in log order; other events are ignored; another tenant's raises WrongTenant.
  A RiskCheckPassed applies the reservations it carries (as if each were folded first); a
  standalone ReservationMade (logs written before passes carried them) folds the same way.

Books (`books`)
    AccountBooks(rules): one account per (tenant, is_sandbox); fold(event) folds an event into its
    book (its own flag, else its graph's; both books when it names none) and returns the accounts.
    The router and the API's balances use it, so paper and live funds never mix.

Checks (`rules`)
    check_order(intent: OrderIntent, state, limits, rules, mark_px_1e9: int | None, now_ns)
        -> RiskAccepted(qty_1e8 rounded down to the lot, notional_usd_1e9, venues=(VenueFit, ...))
         | RiskRejected(code: events.risk.RejectCode, message)
  Kill switch first, then venue/symbol, quantity, price, lot/tick/minimums, max order notional,
  position limit, daily realised loss (reduce-only orders still pass), max open orders.

Reservations (`reservations`)
    decide_and_reserve(state, intent, *, limits, rules, mark_px_1e9, now_ns, new_id,
                       venue_amounts=None) -> RiskOutcome(decision, events, already_passed)
        events: (RiskCheckPassed(..., reservations=(ReservationMade, ...)),) | (RiskCheckRejected,)
                | () when already_passed
    reserve(state, accepted, venue_amounts, rules, *, new_id, now_ns)
        -> list[ReservationMade] | RiskRejected(INSUFFICIENT_BALANCE)
    releases_for(state, event, *, now_ns) -> list[ReservationReleased]
    check_event(decision, *, event_id, now_ns, reservations=()) -> RiskCheckPassed | RiskCheckRejected

How the risk service must publish (optimistic concurrency on `risk.<tenant>.acct`)
    1. Fold the account to the latest event; N = the stream sequence of the last message on
       `risk.<tenant>.acct` that the fold has applied (0 if none).
    2. outcome = decide_and_reserve(state, intent, ...). Nothing is published yet.
    3. Publish the decision, outcome.events (one event), with Nats-Expected-Last-Subject-Sequence
       = N (bus.publish(..., expected_last_subject_seq=N)). A RiskCheckPassed carries the
       reservations it makes, so the decision and its holds commit together in one round trip.
    4. On ConcurrencyConflict (another writer appended first): fold the new events, go to 2.
       Re-running is safe: a node whose RiskCheckPassed is on the log returns
       already_passed=True with nothing to publish, and reservations the node already holds
       (an amended node; standalone ReservationMade events of an older log) are subtracted.
       A lost ack is retried with the SAME event (same Nats-Msg-Id, deduplicated), not re-decided.
    5. For every event the fold applies, publish releases_for(state, event) the same way (only
       node/graph ends and RiskCheckRejected produce any; fills consume reservations inside the
       fold). Release ids derive from (reservation, cause), so a repeat is deduplicated.
  Because every writer of reservations checks the same subject sequence, two orders decided on
  the same state cannot both commit: the loser re-reads a state that already holds the winner's
  reservation. Kill-switch events live on `risk.<tenant>.kill`; to make step 3 also fail when
  the switch was engaged meanwhile, publish with Nats-Expected-Last-Subject-Sequence-Subject
  `risk.<tenant>.>` (nats-server 2.11+) and take N as the last sequence over that wildcard.
"""

from services.risk.account import (
    AccountState,
    OpenChild,
    Position,
    Reservation,
    apply,
    fold_into,
    new_account,
    replay,
    trade_position,
)
from services.risk.config import InstrumentRules, RiskLimits, RulesBook, rules_book
from services.risk.errors import RiskConfigError, RiskError, WrongTenant
from services.risk.reservations import (
    RiskOutcome,
    check_event,
    decide_and_reserve,
    release_node,
    releases_for,
    reserve,
)
from services.risk.rules import (
    OrderIntent,
    RiskAccepted,
    RiskDecision,
    RiskRejected,
    VenueFit,
    check_account,
    check_instrument,
    check_order,
)

__all__ = [
    "AccountState",
    "InstrumentRules",
    "OpenChild",
    "OrderIntent",
    "Position",
    "Reservation",
    "RiskAccepted",
    "RiskConfigError",
    "RiskDecision",
    "RiskError",
    "RiskLimits",
    "RiskOutcome",
    "RiskRejected",
    "RulesBook",
    "VenueFit",
    "WrongTenant",
    "apply",
    "check_account",
    "check_event",
    "check_instrument",
    "check_order",
    "decide_and_reserve",
    "fold_into",
    "new_account",
    "release_node",
    "releases_for",
    "replay",
    "reserve",
    "rules_book",
    "trade_position",
]
