"""Rate budgets: one per account per venue, shared by everything that sends for that account.

A venue counts requests (weights) and orders in windows and throttles (429), then bans (418),
whoever goes over. The budget counts the same units before a request leaves and paces it (waits
for room) or refuses it with a clear reason when the wait would be too long, so the venue never
sees a request over its limit.

Why a slot stays taken until the reply *plus* the window: the venue counts a request when it
receives it, somewhere between our send and its reply. Holding the slot from send until
reply + window covers every window that could contain the venue's count, however long the
request was in flight (a loaded machine), so sliding or fixed, the venue's count is never above ours.

The venue's own figures win when they are higher (another process or host using the same key):
a used-weight header adds the difference, a 429's Retry-After stops everything until then.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Unit = Literal["weight", "orders"]


@dataclass(frozen=True, slots=True)
class Limit:
    """`limit` units of `unit` per `window_s`; `header` is the reply header reporting its use."""

    name: str
    unit: Unit
    limit: int
    window_s: float
    header: str | None = None


@dataclass(frozen=True, slots=True)
class Cost:
    weight: int = 1
    orders: int = 0

    def of(self, unit: Unit) -> int:
        return self.weight if unit == "weight" else self.orders


class BudgetExceeded(Exception):
    """The request would have to wait longer than allowed; the message says why (safe to publish)."""


@dataclass(slots=True)
class _Use:
    amount: int
    window_s: float
    ends: float = math.inf  # reply time + window; inf while the request is in flight


@dataclass(slots=True)
class Ticket:
    uses: list[_Use] = field(default_factory=list)


class RateBudget:
    def __init__(self, venue: str, limits: tuple[Limit, ...], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.venue = venue
        self.limits = limits
        self.clock = clock
        self.uses: dict[str, list[_Use]] = {lim.name: [] for lim in limits}
        self.blocked_until = 0.0  # a 429's Retry-After
        self.throttled = 0  # 429s seen: each one means our count was behind the venue's
        self._turn = asyncio.Lock()  # first come, first served
        self._freed = asyncio.Event()

    def _used(self, lim: Limit, now: float) -> int:
        uses = self.uses[lim.name] = [u for u in self.uses[lim.name] if u.ends > now]
        return sum(u.amount for u in uses)

    def _wait_s(self, cost: Cost, now: float) -> float | None:
        """Seconds until `cost` fits (0 = now); None when only a reply in flight can free room."""
        wait = max(0.0, self.blocked_until - now)
        for lim in self.limits:
            need = cost.of(lim.unit)
            if not need:
                continue
            if need > lim.limit:
                raise BudgetExceeded(f"{self.venue}: a request of {need} {lim.unit} exceeds the {lim.name} limit "
                                     f"of {lim.limit}")
            over = self._used(lim, now) + need - lim.limit
            if over <= 0:
                continue
            freed = 0
            for use in sorted(self.uses[lim.name], key=lambda u: u.ends):
                freed += use.amount
                if freed >= over:
                    if math.isinf(use.ends):
                        return None
                    wait = max(wait, use.ends - now)
                    break
        return wait

    async def acquire(self, cost: Cost, *, max_wait_s: float | None = None) -> Ticket:
        """Take room for `cost`, waiting for it; BudgetExceeded when the wait would pass `max_wait_s`."""
        async with self._turn:
            deadline = None if max_wait_s is None else self.clock() + max_wait_s
            while True:
                now = self.clock()
                wait = self._wait_s(cost, now)
                if wait == 0:
                    ticket = Ticket()
                    for lim in self.limits:
                        if cost.of(lim.unit):
                            use = _Use(cost.of(lim.unit), lim.window_s)
                            self.uses[lim.name].append(use)
                            ticket.uses.append(use)
                    return ticket
                left = None if deadline is None else deadline - now
                # Only a reply in flight can free room (wait None): wait for one, as long as the
                # caller allows; a known wait longer than that is refused at once.
                if left is not None and (left <= 0 or (wait is not None and wait > left)):
                    raise BudgetExceeded(self._spent(cost, wait))
                self._freed.clear()
                try:
                    # pacing: the venue's window, or the next reply
                    await asyncio.wait_for(self._freed.wait(), timeout=wait if wait is not None else left)
                except TimeoutError:
                    pass

    def _spent(self, cost: Cost, wait: float | None) -> str:
        now = self.clock()
        full = [f"{lim.name} {self._used(lim, now)}/{lim.limit} per {lim.window_s:g} s" for lim in self.limits
                if cost.of(lim.unit) and self._used(lim, now) + cost.of(lim.unit) > lim.limit]
        if self.blocked_until > now:
            full.append(f"throttled by the venue for {self.blocked_until - now:.1f} s more")
        when = "until a reply frees room" if wait is None else f"{wait:.1f} s"
        return f"{self.venue} rate budget of this account is spent ({', '.join(full)}); the request would wait {when}"

    def settle(self, ticket: Ticket, status: int | None, headers: Mapping[str, str]) -> None:
        """The reply came (or the request failed: `status` None): start each slot's window now,
        and take what the venue says it counted."""
        now = self.clock()
        for use in ticket.uses:
            use.ends = now + use.window_s
        for lim in self.limits:
            reported = headers.get(lim.header) if lim.header else None
            if reported is not None and reported.isdigit():
                extra = int(reported) - self._used(lim, now)
                if extra > 0:  # someone else spends this account's budget too
                    self.uses[lim.name].append(_Use(extra, lim.window_s, now + lim.window_s))
        if status in (418, 429):
            self.throttled += 1
            retry = headers.get("retry-after") or headers.get("Retry-After") or "1"
            try:
                seconds = float(retry)
            except ValueError:
                seconds = 1.0
            self.blocked_until = max(self.blocked_until, now + seconds)
        self._freed.set()


class Budgets:
    """The budgets of one process, one per (venue, account): every sender for an account shares it."""

    def __init__(self, limits: Mapping[str, tuple[Limit, ...]], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._budgets: dict[tuple[str, str], RateBudget] = {}

    def of(self, venue: str, account: str) -> RateBudget | None:
        limits = self.limits.get(venue)
        if not limits:
            return None
        key = (venue, account)
        if key not in self._budgets:
            self._budgets[key] = RateBudget(venue, limits, clock=self.clock)
        return self._budgets[key]
