"""How a child order reaches a live venue.

`HttpTransport` takes a `ChildAllocated`, signs and sends REST requests built by a venue's
`VenueOrders` (pure: `services/edges/<venue>/orders.py`) over httpx, and returns the answers as
`Outcome`s (the sandbox's Acked/Filled/Rejected/Cancelled), which `sandbox.mapping.to_event` turns
into execution events, so live and sandbox children look the same on the log.

Money stays integer here; Decimal strings exist only inside `VenueOrders` at the wire.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any, TypedDict

import httpx

from events.routing import ChildAllocated
from services.edges.budget import BudgetExceeded, Cost, RateBudget
from services.edges.sandbox.orders import Acked, Amended, Cancelled, Outcome, Rejected
from services.errors import ConfigError, VenueError
from services.vault import Credentials

log = logging.getLogger("crossbook.transport")

# Quote currencies treated as USD at par (same rule as the sandbox fee schedules).
USD_LIKE = frozenset({"USD", "USDT", "USDC", "FDUSD", "DAI"})


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """A request exactly as it goes on the wire: the signature covers `path`, `query`, `body`."""

    method: str
    path: str
    query: str = ""
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a passphrase
    host: str = ""  # another base URL than the venue's (Binance USD-M); "" = the venue's

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def url(self) -> str:
        """What httpx is asked for: the target (under the client's base URL) or on `host`."""
        return self.host.rstrip("/") + self.target if self.host else self.target


@dataclass(frozen=True, slots=True)
class VenueReply:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class OrderState:
    """What a venue says about one of our orders when asked."""

    venue_order_id: str
    is_open: bool
    filled_qty_1e8: int
    reason: str  # why it ended, if it has: ioc_remainder, or the venue's status word


class VenueOrders(ABC):
    """One venue's order wire format: request builders and reply parsers, no I/O.

    `now_ms` is the wall clock for the venue's timestamp/nonce; `now_ns` stamps outcomes."""

    venue: str
    # The venue's clock minus ours, learnt when the venue refused a timestamp (kept here: one per
    # venue, shared by every account's transport); added to every timestamp and nonce we sign.
    clock_offset_ms: int = 0

    def time_request(self) -> SignedRequest | None:
        """The venue's public clock (None: this venue's clock is not read)."""
        return None

    def parse_time(self, reply: VenueReply) -> int:
        """The venue's time in epoch ms, from `time_request`'s reply."""
        raise NotImplementedError

    def is_clock_refusal(self, rejected: Rejected) -> bool:
        """The venue refused the request's timestamp (not executed): sync the clock and resend."""
        return False

    def reference_request(self) -> SignedRequest | None:
        """Public metadata the builders need first (Hyperliquid asset ids); None once loaded."""
        return None

    def load_reference(self, reply: VenueReply) -> None:
        """Keep what `reference_request` answered."""

    def credentials_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """Trading credentials to obtain from the stored ones first (Polymarket derives its L2
        API key with a wallet signature); None once held, or when there is nothing to obtain."""
        return None

    def load_credentials(self, creds: Credentials, reply: VenueReply) -> None:
        """Keep what `credentials_request` answered (never logged)."""

    def quote_request(self, child: ChildAllocated) -> SignedRequest | None:
        """A public read the order needs right before it is built (Hyperliquid: the mid a market
        order is collared at); None: nothing to read."""
        return None

    def load_quote(self, child: ChildAllocated, reply: VenueReply) -> None:
        """Keep what `quote_request` answered (VenueError when it is unusable: retried)."""

    def unexpected_reply(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected:
        """A reply in none of the venue's shapes (a proxy's page, a gateway error): its HTTP status."""
        return Rejected(child.client_order_id, f"http_{reply.status}", f"unexpected reply from {self.venue}", now_ns)

    # Reconciliation reads (None: this venue's reads are not built; its balances are not synced).
    def balances_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """The account's balances (total = free + locked, per asset)."""
        return None

    def parse_balances(self, reply: VenueReply) -> dict[str, Decimal]:
        raise NotImplementedError

    def positions_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """Holdings the balances reply leaves out (a prediction venue's contracts); None: none."""
        return None

    def parse_positions(self, reply: VenueReply) -> dict[str, Decimal]:
        """Held quantity per asset as the ledger names it (reconciled with the balances)."""
        raise NotImplementedError

    def open_orders_request(self, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """Every open order of the account (all symbols)."""
        return None

    def parse_open_orders(self, reply: VenueReply) -> list[str]:
        """The client order ids of the open orders."""
        raise NotImplementedError

    # Native amend (None: the venue has none; the caller cancels and replaces).
    def amend_request(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                      creds: Credentials, now_ms: int) -> SignedRequest | None:
        """Change a resting order in place; `new_qty_1e8` is the new total (filled included)."""
        return None

    def parse_amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int, new_px_1e9: int,
                    reply: VenueReply, now_ns: int) -> Amended | Rejected:
        """The venue's answer to `amend_request` (the asked values for replies that echo none)."""
        raise NotImplementedError

    @abstractmethod
    def client_id(self, client_order_id: str) -> str:
        """Our derived client order id in the venue's length/charset rules (deterministic)."""

    @abstractmethod
    def new_order(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest: ...

    @abstractmethod
    def parse_new_order(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> list[Outcome]: ...

    @abstractmethod
    def is_duplicate(self, rejected: Rejected) -> bool:
        """The venue refused a client order id it already has (a resend after a crash)."""

    @abstractmethod
    def is_unknown_order(self, rejected: Rejected) -> bool:
        """A lookup answered that the venue has no order with our client id."""

    @abstractmethod
    def order_status(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest:
        """Look the order up by our client id."""

    @abstractmethod
    def parse_order_status(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> OrderState | Rejected: ...

    def order_status_fallback(self, child: ChildAllocated, creds: Credentials, now_ms: int) -> SignedRequest | None:
        """A second place to look when `order_status` answered unknown (Kraken lists open and
        closed orders apart); parsed by `parse_order_status`. None: the first answer stands."""
        return None

    @abstractmethod
    def fills(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest: ...

    @abstractmethod
    def parse_fills(self, child: ChildAllocated, venue_order_id: str, reply: VenueReply,
                    now_ns: int) -> list[Outcome]: ...

    @abstractmethod
    def cancel(self, child: ChildAllocated, venue_order_id: str, creds: Credentials, now_ms: int) -> SignedRequest: ...

    @abstractmethod
    def parse_cancel(self, child: ChildAllocated, reply: VenueReply, now_ns: int) -> Rejected | None:
        """None when the venue accepted the cancel (the end is read back with the order state)."""


class RateLimitedByVenue(VenueError):
    """The venue throttled the request (429/418): it was not executed; try again later."""


class UnsupportedOrder(VenueError):
    """The venue cannot take this child as asked (its message is safe to publish)."""


def uuid_client_id(client_order_id: str) -> str:
    """Our UUID client order id in its canonical text (venues that take a UUID); any other id as
    the UUID derived from it, so a resend carries the same id."""
    try:
        return str(uuid.UUID(client_order_id))
    except ValueError:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, client_order_id))


def hex_client_id(client_order_id: str) -> str:
    """Our UUID client order id as 32 hex digits (venues that allow only alphanumerics)."""
    try:
        return uuid.UUID(client_order_id).hex
    except ValueError:
        return uuid.uuid5(uuid.NAMESPACE_URL, client_order_id).hex


def json_body(reply: VenueReply) -> Any:
    """The reply's JSON document, or None when it is not JSON (an HTML error page, a proxy)."""
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


class VenueFee(TypedDict):
    """A fill's fee as `Filled` carries it: the venue's asset and amount, and its USD value."""

    fee_asset: str
    fee_qty_1e8: int
    fee_usd_1e9: int


def venue_fee(fee: Decimal, fee_asset: str, symbol: str, px_1e9: int) -> VenueFee:
    """A fill's fee (positive = paid, rounded up) in its own asset and in USD_1e9: quote
    stablecoins at par, the base asset at the fill price. Any other asset (e.g. BNB) has no
    price here: its USD value is 0 (logged) and the balances book it in that asset."""
    qty = int((fee * 10**8).to_integral_value(ROUND_CEILING))
    if fee_asset in USD_LIKE:
        usd = int((fee * 10**9).to_integral_value(ROUND_CEILING))
    elif fee_asset == symbol.split("-")[0]:
        usd = int((fee * px_1e9).to_integral_value(ROUND_CEILING))
    else:
        usd = 0
        if fee:
            log.warning("fee of %s %s on %s is not priced in USD (recorded as 0)", fee, fee_asset, symbol)
    return VenueFee(fee_asset=fee_asset, fee_qty_1e8=qty, fee_usd_1e9=usd)


class HttpTransport:
    """Live REST order entry for one tenant at one venue.

    Credentials are passed in by the caller (decrypted from the vault in this process) and only
    used to sign; they never appear in a log line, an exception message or an outcome."""

    def __init__(self, orders: VenueOrders, creds: Credentials, client: httpx.AsyncClient,
                 clock_ns: Callable[[], int] = time.time_ns, *, budget: RateBudget | None = None,
                 cost: Callable[[SignedRequest], Cost] = lambda request: Cost(), order_wait_s: float = 2.0) -> None:
        """`budget`: the account's rate budget at this venue (shared with every other sender for
        it); a new order waits for room at most `order_wait_s`, then is refused (`rate_budget`);
        lookups, fills and cancels always wait (they must go out)."""
        self.venue = orders.venue
        self.orders = orders
        self._creds = creds
        self.client = client
        self.clock_ns = clock_ns
        self.budget = budget
        self.cost = cost
        self.order_wait_s = order_wait_s

    async def _prepare(self) -> None:
        request = self.orders.reference_request()
        if request is not None:
            self.orders.load_reference(await self._send(request))
        await self._credentials()

    async def _credentials(self) -> None:
        request = self.orders.credentials_request(self._creds, self._now_ms())
        if request is not None:
            self.orders.load_credentials(self._creds, await self._send(request))

    async def _send(self, request: SignedRequest, *, max_wait_s: float | None = None) -> VenueReply:
        budget = self.budget
        ticket = await budget.acquire(self.cost(request), max_wait_s=max_wait_s) if budget is not None else None
        status: int | None = None
        headers: httpx.Headers = httpx.Headers()
        try:
            response = await self.client.request(
                request.method, request.url, content=request.body.encode() or None, headers=request.headers
            )
            status, headers = response.status_code, response.headers
        finally:
            if budget is not None and ticket is not None:
                budget.settle(ticket, status, headers)
        if status in (418, 429):  # not executed: the caller tries again later (after a lookup)
            raise RateLimitedByVenue(f"{self.venue} answered {status}; retry after {headers.get('retry-after', '?')} s")
        return VenueReply(response.status_code, response.content)

    def _now_ms(self) -> int:
        return self.clock_ns() // 1_000_000 + self.orders.clock_offset_ms

    async def _sync_clock(self) -> bool:
        """Learn the venue's clock offset (its time against the middle of our round trip); False
        when this venue's clock cannot be read."""
        request = self.orders.time_request()
        if request is None:
            return False
        sent_ms = self.clock_ns() // 1_000_000
        reply = await self._send(request)
        back_ms = self.clock_ns() // 1_000_000
        if reply.status != 200:
            raise VenueError(f"{self.venue}: its clock answered HTTP {reply.status}")
        self.orders.clock_offset_ms = self.orders.parse_time(reply) - (sent_ms + back_ms) // 2
        log.warning("%s: its clock is %d ms from ours; timestamps follow it", self.venue, self.orders.clock_offset_ms)
        return True

    def _clock_refused(self, outcomes: list[Outcome]) -> bool:
        return len(outcomes) == 1 and isinstance(outcomes[0], Rejected) and self.orders.is_clock_refusal(outcomes[0])

    async def request(self, request: SignedRequest) -> VenueReply:
        """Send one prebuilt request through this account's budget (a private stream's
        listenKey and keepalive calls)."""
        return await self._send(request)

    async def place(self, child: ChildAllocated, *, resend: bool = False) -> list[Outcome]:
        """Send the new order. When the venue cannot say whether it took it (5xx) or already has
        our client id, the order is looked up and followed instead. Venues only refuse a client
        id among *open* orders (Binance), so a resend looks the order up before placing."""
        await self._prepare()
        try:
            if resend:
                found = await self.follow(child)
                if found is not None:
                    return found
            quote = self.orders.quote_request(child)
            if quote is not None:
                self.orders.load_quote(child, await self._send(quote))
            request = self.orders.new_order(child, self._creds, self._now_ms())
        except (UnsupportedOrder, ConfigError, ValueError) as exc:  # incl. a symbol the venue has no name for
            return [Rejected(child.client_order_id, "unsupported", str(exc), self.clock_ns())]
        try:
            reply = await self._send(request, max_wait_s=self.order_wait_s)
        except BudgetExceeded as exc:  # never sent: the venue would have throttled it
            return [Rejected(child.client_order_id, "rate_budget", str(exc), self.clock_ns())]
        outcomes = self.orders.parse_new_order(child, reply, self.clock_ns())
        if self._clock_refused(outcomes) and await self._sync_clock():
            # Refused before matching (its timestamp was outside the window): the same order again.
            request = self.orders.new_order(child, self._creds, self._now_ms())
            outcomes = self.orders.parse_new_order(child, await self._send(request), self.clock_ns())
        unknown = not outcomes
        duplicate = len(outcomes) == 1 and isinstance(outcomes[0], Rejected) and self.orders.is_duplicate(outcomes[0])
        if not (unknown or duplicate):
            return outcomes
        log.info("%s: %s may be placed already; following the venue's order", self.venue, child.client_order_id)
        found = await self.follow(child)
        if found is not None:
            return found
        if unknown:
            raise VenueError(f"{self.venue}: no answer for {child.client_order_id} and no such order yet")
        return outcomes

    async def follow(self, child: ChildAllocated) -> list[Outcome] | None:
        """The existing order as Acked + its progress; None when the venue has no such order."""
        await self._prepare()
        state = await self._state(child)
        if isinstance(state, Rejected):
            if self.orders.is_unknown_order(state):
                return None
            raise VenueError(f"{self.venue}: lookup of {child.client_order_id} refused: {state.code} {state.message}")
        return [Acked(child.client_order_id, state.venue_order_id, self.clock_ns()), *await self._progress(child, state)]

    async def poll(self, child: ChildAllocated, venue_order_id: str) -> list[Outcome]:
        await self._prepare()
        state = await self._state(child)
        return [] if isinstance(state, Rejected) else await self._progress(child, state)

    async def cancel(self, child: ChildAllocated, venue_order_id: str) -> list[Outcome]:
        await self._prepare()
        reply = await self._send(self.orders.cancel(child, venue_order_id, self._creds, self._now_ms()))
        refused = self.orders.parse_cancel(child, reply, self.clock_ns())
        return [refused] if refused is not None else await self.poll(child, venue_order_id)

    async def amend(self, child: ChildAllocated, venue_order_id: str, new_qty_1e8: int,
                    new_px_1e9: int) -> list[Outcome]:
        """Amend natively where the venue can ([Amended(mode="native_atomic")] or [Rejected]);
        UnsupportedOrder where it cannot (the caller cancels and replaces)."""
        await self._prepare()
        request = self.orders.amend_request(child, venue_order_id, new_qty_1e8, new_px_1e9, self._creds, self._now_ms())
        if request is None:
            raise UnsupportedOrder(f"{self.venue} has no native amend")
        reply = await self._send(request)
        return [self.orders.parse_amend(child, venue_order_id, new_qty_1e8, new_px_1e9, reply, self.clock_ns())]

    async def balances(self) -> dict[str, Decimal] | None:
        await self._credentials()
        request = self.orders.balances_request(self._creds, self._now_ms())
        if request is None:
            return None
        reply = await self._send(request)
        if reply.status != 200:
            raise VenueError(f"{self.venue}: balances answered HTTP {reply.status}")
        balances = self.orders.parse_balances(reply)
        request = self.orders.positions_request(self._creds, self._now_ms())
        if request is not None:
            reply = await self._send(request)
            if reply.status != 200:
                raise VenueError(f"{self.venue}: positions answered HTTP {reply.status}")
            balances |= self.orders.parse_positions(reply)
        return balances

    async def open_orders(self) -> list[str] | None:
        await self._credentials()
        request = self.orders.open_orders_request(self._creds, self._now_ms())
        if request is None:
            return None
        reply = await self._send(request)
        if reply.status != 200:
            raise VenueError(f"{self.venue}: open orders answered HTTP {reply.status}")
        return self.orders.parse_open_orders(reply)

    async def _state(self, child: ChildAllocated) -> OrderState | Rejected:
        reply = await self._send(self.orders.order_status(child, self._creds, self._now_ms()))
        state = self.orders.parse_order_status(child, reply, self.clock_ns())
        if isinstance(state, Rejected) and self._clock_refused([state]) and await self._sync_clock():
            reply = await self._send(self.orders.order_status(child, self._creds, self._now_ms()))
            state = self.orders.parse_order_status(child, reply, self.clock_ns())
        if isinstance(state, Rejected) and self.orders.is_unknown_order(state):
            fallback = self.orders.order_status_fallback(child, self._creds, self._now_ms())
            if fallback is not None:
                state = self.orders.parse_order_status(child, await self._send(fallback), self.clock_ns())
        return state

    async def _progress(self, child: ChildAllocated, state: OrderState) -> list[Outcome]:
        """Every fill the venue lists (callers drop ids they have) and, once the order has
        ended short of its size, the Cancelled remainder."""
        outcomes: list[Outcome] = []
        if state.filled_qty_1e8:
            reply = await self._send(self.orders.fills(child, state.venue_order_id, self._creds, self._now_ms()))
            outcomes += self.orders.parse_fills(child, state.venue_order_id, reply, self.clock_ns())
        if not state.is_open and state.filled_qty_1e8 < child.qty_1e8:
            outcomes.append(Cancelled(
                child.client_order_id, state.venue_order_id, state.filled_qty_1e8,
                child.qty_1e8 - state.filled_qty_1e8, state.reason, self.clock_ns(),
            ))
        return outcomes

