"""Reservations under optimistic concurrency: no interleaving can spend one balance twice.

An in-memory account subject stands in for JetStream: a publish carries the expected last
sequence and fails when another writer appended first, exactly like
`Nats-Expected-Last-Subject-Sequence`. Each attempt runs the documented loop: read state at N,
`decide_and_reserve`, publish its one event (a pass carries its reservations) expecting N, and
on conflict re-read and re-decide. Attempts interleave between the read and the publish.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from events.base import Event
from events.risk import RiskCheckPassed, RiskCheckRejected
from services.risk.account import AccountState, apply, replay
from services.risk.config import RiskLimits
from services.risk.reservations import decide_and_reserve
from services.risk.rules import OrderIntent
from tests.services.risk.factory import PX, QTY, RULES, T0, TENANT, fund

MARK = 60_000 * PX
OKX_USDT = 1_000_000 * QTY
BINANCE_USDT = 400_000 * QTY
LIMITS = RiskLimits(max_open_orders=None)


class Log:
    """The account subject: events in order, with the folded state after each one."""

    def __init__(self) -> None:
        self.states = [
            replay(TENANT, [fund("okx", "USDT", OKX_USDT), fund("binance", "USDT", BINANCE_USDT)], RULES)
        ]
        self.events: list[Event] = []

    @property
    def seq(self) -> int:
        return len(self.events)

    def publish(self, event: Event, expected_seq: int | None) -> bool:
        if expected_seq is not None and expected_seq != self.seq:
            return False  # wrong last subject sequence: another writer got there first
        self.events.append(event)
        self.states.append(apply(self.states[-1], event, RULES))
        return True


@dataclass
class Attempt:
    intent: OrderIntent
    amounts: dict[str, int] | None
    ids: random.Random
    pending: list[Event] = field(default_factory=list)
    expected: int | None = None
    reads: int = 0
    done: bool = False

    def new_id(self) -> str:
        return f"{self.intent.node_id}-{self.ids.getrandbits(32):08x}"

    def step(self, log: Log, occ: bool) -> None:
        if not self.pending and self.expected is None:
            # read at sequence N and decide
            self.reads += 1
            state = log.states[-1]
            outcome = decide_and_reserve(
                state, self.intent, limits=LIMITS, rules=RULES, mark_px_1e9=MARK, now_ns=T0,
                new_id=self.new_id, venue_amounts=self.amounts,
            )
            assert len(outcome.events) <= 1  # one append per decision: nothing half-committed
            self.pending = list(outcome.events)
            self.expected = log.seq
            if not self.pending:
                self.done = True
            return
        if log.publish(self.pending[0], self.expected if occ else None):
            self.pending.pop(0)
            self.expected = log.seq
            self.done = not self.pending
        else:
            self.pending, self.expected = [], None  # conflict: re-read and re-decide


def _attempts(rng: random.Random, n: int) -> list[Attempt]:
    attempts = []
    for i in range(n):
        qty = rng.randrange(1, 40) * QTY // 10  # 0.1 .. 3.9 BTC: 6k .. 234k USDT each
        split = rng.random() < 0.4
        intent = OrderIntent(
            tenant=TENANT, graph_id="g", node_id=f"n{i}", symbol="BTC-USDT", side="buy", qty_1e8=qty,
            limit_px_1e9=MARK, venue=None if split else rng.choice(["okx", "binance"]),
        )
        amounts = {"okx": qty - qty // 4, "binance": qty // 4} if split else None
        attempts.append(Attempt(intent, amounts, random.Random(i)))
    return attempts


def _overspent(state: AccountState) -> list[tuple[str, str]]:
    return [key for key, reserved in state.reserved.items() if reserved > state.balances.get(key, 0)]


def _run(rng: random.Random, attempts: list[Attempt], log: Log, occ: bool) -> list[tuple[str, str]]:
    violations: list[tuple[str, str]] = []
    while True:
        live = [a for a in attempts if not a.done]
        if not live:
            return violations
        rng.choice(live).step(log, occ)
        violations += _overspent(log.states[-1])


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_no_interleaving_of_50_attempts_reserves_more_than_the_balance(seed: int) -> None:
    # One seed drives both the orders and the schedule: a failure shrinks to a small, replayable int.
    rng = random.Random(seed)
    attempts = _attempts(rng, 50)
    log = Log()

    violations = _run(rng, attempts, log, occ=True)

    assert violations == []
    final = log.states[-1]
    passed = {e.node_id for e in log.events if isinstance(e, RiskCheckPassed)}
    rejected = [e for e in log.events if isinstance(e, RiskCheckRejected)]
    assert all(e.code == "INSUFFICIENT_BALANCE" for e in rejected)
    assert passed.isdisjoint(e.node_id for e in rejected)
    assert len(passed) + len(rejected) == 50
    for attempt in attempts:
        # A passed node holds exactly what its order needs: never topped up twice by a re-run.
        held = sum(r.qty_1e8 for r in final.node_reservations("g", attempt.intent.node_id))
        if attempt.intent.node_id in passed:
            assert held == _need(attempt)
    made = [r for e in log.events if isinstance(e, RiskCheckPassed) for r in e.reservations]
    assert sum(e.qty_1e8 for e in made) == sum(final.reserved.values())
    # The schedule really interleaved: some attempts lost the race and decided again.
    assert any(attempt.reads > 1 for attempt in attempts)


def _need(attempt: Attempt) -> int:
    # buy at the 60,000 limit plus the 10 bp fee, per venue (amounts are whole lots)
    amounts = attempt.amounts or {attempt.intent.venue or "": attempt.intent.qty_1e8}
    total = 0
    for qty in amounts.values():
        cost_quote = MARK * qty // 10**9
        total += cost_quote + -(-cost_quote * 1_000 // 10**6)
    return total


def test_without_the_sequence_check_two_attempts_spend_the_same_balance() -> None:
    # Control: the same loop publishing blind lets both attempts decide on one snapshot.
    big = 10 * QTY  # 600,600 USDT each, the okx balance is 1,000,000
    attempts = [
        Attempt(OrderIntent(tenant=TENANT, graph_id="g", node_id=f"n{i}", symbol="BTC-USDT", side="buy",
                            qty_1e8=big, limit_px_1e9=MARK, venue="okx"), None, random.Random(i))
        for i in range(2)
    ]
    log = Log()
    attempts[0].step(log, occ=False)  # both read at sequence 0
    attempts[1].step(log, occ=False)

    violations = _run(random.Random(0), attempts, log, occ=False)

    assert ("okx", "USDT") in violations
    assert log.states[-1].reserved == {("okx", "USDT"): 2 * 600_600 * QTY}


def test_with_the_sequence_check_the_second_attempt_re_decides_and_is_refused() -> None:
    big = 10 * QTY
    attempts = [
        Attempt(OrderIntent(tenant=TENANT, graph_id="g", node_id=f"n{i}", symbol="BTC-USDT", side="buy",
                            qty_1e8=big, limit_px_1e9=MARK, venue="okx"), None, random.Random(i))
        for i in range(2)
    ]
    log = Log()
    attempts[0].step(log, occ=True)  # both read at sequence 0
    attempts[1].step(log, occ=True)
    while not attempts[0].done:  # the first one commits
        attempts[0].step(log, occ=True)

    violations = _run(random.Random(0), attempts, log, occ=True)

    assert violations == []
    assert attempts[1].reads == 2
    assert [type(e).__name__ for e in log.events] == ["RiskCheckPassed", "RiskCheckRejected"]
    first = log.events[0]
    assert isinstance(first, RiskCheckPassed)
    assert [(r.venue, r.qty_1e8) for r in first.reservations] == [("okx", 600_600 * QTY)]
