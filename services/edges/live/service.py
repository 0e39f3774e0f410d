"""Live order transport: children of live (non-sandbox) orders go to the real venue, signed.

Follows the LEDGER stream. A `ChildAllocated` with `is_sandbox=False` at a venue with live
order entry (`venues.ORDERS`) is placed with the tenant's credentials from the vault (plaintext
only inside this process, only to sign; never logged, never in an event), and what the venue
answers becomes ChildAcked / FillRecorded / ChildCancelled / ChildRejected. A live child at
any other venue, or of a tenant without credentials there, is rejected (nothing else would
answer it). Amending a resting live child is not supported yet.

Never two orders for one child:
* the log is the memory: a child with an ack or a rejection on the log is not placed again
  (a replayed or retried ChildAllocated, a restart);
* `ChildSubmitted` is published *before* the request goes out; a child that has one but no
  answer (crash, timeout, 5xx) is looked up at the venue by its client order id and only
  placed if the venue does not have it (venues refuse a reused client id only among open
  orders, so the lookup is what protects a filled IOC);
* outcome ids derive from the client order id (and the venue trade id for fills), so a
  republished outcome is dropped by JetStream and by this process's own fill-id set.

Private streams: for each account with credentials at a venue in `venues.PRIVATE_STREAMS`, the
venue's user-data WebSocket is held open and its frames become the same outcomes (same ids), so
fills arrive without waiting for a poll. While it is up, the REST poll of that account's
children slows to `stream_poll_interval_s` (the fallback); every (re)connect triggers a
reconciliation of the venue (the recovery for whatever happened while it was down).
"""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import ROUND_DOWN
from collections.abc import Callable, Coroutine, Mapping

import httpx
import msgspec
from websockets.asyncio.client import connect as ws_connect

from events import AnyEvent, commands, new_event_id
from events.execution import (
    BalanceAdjusted,
    ChildAcked,
    ChildAmended,
    ChildCancelled,
    ChildRejected,
    ChildSubmitted,
    FillRecorded,
    VenueReconciled,
)
from events.graph import GraphCancelled, GraphSubmitted, NodeCancelled
from events.ids import derive_id
from events.vault import CredentialRevoked, CredentialStored
from events.routing import ChildAllocated
from projections.follower import SharedFollower, follow
from services.aio import cancel_and_wait
from services.bus import Bus
from services.edges import cancels
from services.edges.budget import Budgets, Limit
from services.edges.cancels import CancelledNodes
from services.edges.live import venues
from events.venues import ONCHAIN_VENUES, instrument_type_of
from services.edges.live.venues import PRIVATE_STREAMS, SPOT_ONLY
from services.edges.privstream import VenuePrivateStream
from services.edges.sandbox.mapping import ChildRef, to_event
from services.edges.sandbox.orders import Acked, Cancelled, Filled, Outcome, Rejected
from services.edges.transport import HttpTransport
from services.errors import VenueError
from services.settings import Settings
from services.refdata import instrument_rules
from services.risk import rules_book
from services.risk.books import AccountBooks
from services.vault import Credentials, Vault, open_vault

log = logging.getLogger("crossbook.live")

_OURS = ChildSubmitted | ChildAcked | ChildRejected | ChildCancelled | FillRecorded


class LiveExecutor:
    def __init__(self, bus: Bus, vault: Vault, rest_urls: dict[str, str], *, poll_interval_s: float = 1.0,
                 http_timeout_s: float = 10.0, clock_ns: Callable[[], int] = time.time_ns,
                 owns_vault: bool = False, ledger: SharedFollower | None = None,
                 limits: Mapping[str, tuple[Limit, ...]] | None = None, order_wait_s: float = 2.0,
                 stream_urls: Mapping[str, str] | None = None, stream_poll_interval_s: float = 30.0) -> None:
        """`limits`: the venues' rate limits per account (default `venues.LIMITS`); a new order
        waits at most `order_wait_s` for room in its account's budget, then is rejected.
        `stream_urls`: venue -> user-data WebSocket root ("" = the venue's own) for the venues
        whose private stream is used (None: none, REST polling only)."""
        self.bus = bus
        self.budgets = Budgets(venues.LIMITS if limits is None else limits)
        self.order_wait_s = order_wait_s
        self.vault = vault
        self.owns_vault = owns_vault
        self.orders = {venue: venues.new_orders(venue, url) for venue, url in rest_urls.items()}
        self.clients = {venue: httpx.AsyncClient(base_url=url, timeout=http_timeout_s)
                        for venue, url in rest_urls.items()}
        self.poll_interval_s = poll_interval_s
        self.clock_ns = clock_ns
        self.allocated: dict[str, ChildAllocated] = {}  # client order id -> allocation (live, ours)
        self.submitted: set[str] = set()  # ChildSubmitted on the log: may have reached the venue
        self.venue_ids: dict[str, str] = {}  # acked: client order id -> venue order id
        self.final: set[str] = set()  # rejected, cancelled or fully filled
        self.fill_ids: dict[str, set[str]] = {}
        self.filled: dict[str, int] = {}
        self.pending: dict[str, None] = {}  # to place (again), in arrival order
        self.busy: set[str] = set()  # a request for it is in flight in this process
        self.tasks: set[asyncio.Task[None]] = set()
        self.cancelling: set[str] = set()  # its node or graph was cancelled: pull it
        self.withdrawn: set[str] = set()  # its node or graph was cancelled: never place it
        self.cancelled = CancelledNodes()  # a child allocated after this is refused (services/edges/cancels.py)
        self.submitted_ns: dict[str, int] = {}  # ChildSubmitted's time: when its request may still land
        # Failed attempts wait for the next poll tick rather than spin against a failing venue.
        self.retry_place: set[str] = set()
        self.retry_cancel: set[str] = set()
        self.wake = asyncio.Event()
        # Reconciliation: a venue in `unsynced` is brought in line with the ledger (every
        # account at it) before any new child goes there: all of them on start, one after its
        # connection failed (`trigger` says which); `requests` are SyncPositions commands to run.
        self.connected: dict[str, set[str]] = {}  # tenant -> venues with credentials
        self.unsynced: dict[str, str] = dict.fromkeys(self.orders, "start")  # venue -> trigger
        self.sync_after: dict[str, float] = {}  # venue -> monotonic time of the next attempt
        self.requests: dict[str, commands.SyncPositions] = {}  # command id -> command, not answered yet
        self.answered: set[tuple[str, str]] = set()  # (command id, venue) with a VenueReconciled on the log
        self.books = AccountBooks(rules_book(instrument_rules()))  # the live balances, as risk folds them
        self.position = 0  # LEDGER sequence folded
        self.streams: dict[str, VenuePrivateStream] = {
            venue: PRIVATE_STREAMS[venue]() for venue in (stream_urls or {}) if venue in PRIVATE_STREAMS
            and venue in self.orders}
        self.stream_urls = dict(stream_urls or {})
        self.stream_poll_interval_s = stream_poll_interval_s
        self.stream_up: set[tuple[str, str]] = set()  # (tenant, venue) whose stream is connected
        self.stream_connects: dict[tuple[str, str], int] = {}  # successful connects so far
        self.stream_outcomes = 0  # outcomes taken from private streams (before dedup)
        self.stream_progress = asyncio.Event()  # set after each private frame is handled
        self.venue_clients: dict[tuple[str, str, str], str] = {}  # (venue, tenant, venue client id) -> coid
        self.last_poll: dict[str, float] = {}  # coid -> monotonic time of its last poll (or ack)
        self.polls = 0  # REST polls started
        self.ledger = follow(bus, "LEDGER", ["route.>", "exec.>", "ord.>", "cmd.>", "vault.>"], self.on_ledger, ledger)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.ledger.start()
        self._task = asyncio.create_task(self._run(), name="live-executor")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for task in list(self.tasks):
            await cancel_and_wait(task)
        await self.ledger.stop()
        for client in self.clients.values():
            await client.aclose()
        if self.owns_vault:
            self.vault.close()

    @classmethod
    def from_settings(cls, bus: Bus, settings: Settings, ledger: SharedFollower | None = None) -> LiveExecutor:
        return cls(bus, open_vault(settings), venues.rest_urls(), poll_interval_s=settings.live_poll_ms / 1000,
                   owns_vault=True, ledger=ledger, stream_urls=venues.stream_urls())

    # --- the log -----------------------------------------------------------------------------
    def on_ledger(self, event: AnyEvent, seq: int) -> None:
        self.position = max(self.position, seq)
        if event.tenant and isinstance(event, (FillRecorded, BalanceAdjusted, ChildAllocated, GraphSubmitted)):
            try:
                self.books.fold(event)
            except Exception as exc:  # noqa: BLE001 - a fold refusal must not stop order handling
                log.debug("live: balance fold of %s refused: %s", type(event).__name__, exc)
        if isinstance(event, (CredentialStored, CredentialRevoked)):
            venues_of = self.connected.setdefault(event.tenant, set())
            (venues_of.add if isinstance(event, CredentialStored) else venues_of.discard)(event.venue)
        elif isinstance(event, commands.SyncPositions):
            if any((event.event_id, v) not in self.answered for v in event.venues if v in self.orders):
                self.requests[event.event_id] = event
                self.wake.set()
        elif isinstance(event, VenueReconciled) and event.causation_id:
            self.answered.add((event.causation_id, event.venue))
            request = self.requests.get(event.causation_id)
            if request is not None and all((request.event_id, v) in self.answered for v in request.venues
                                           if v in self.orders):
                del self.requests[request.event_id]
        if isinstance(event, ChildAllocated):
            if event.is_sandbox or event.venue in ONCHAIN_VENUES:
                return  # the sandbox's, or a swap: the DEX executor's
            coid = event.client_order_id
            self.allocated.setdefault(coid, event)
            if event.venue in self.orders:
                self.venue_clients[(event.venue, event.tenant, self.orders[event.venue].client_id(coid))] = coid
            if coid not in self.venue_ids and coid not in self.final:
                self.pending[coid] = None
                self.wake.set()
        elif isinstance(event, (NodeCancelled, GraphCancelled)):
            _, node = self.cancelled.read(event)
            for coid, alloc in self.allocated.items():
                if alloc.graph_id == event.graph_id and node in (None, alloc.node_id) and coid not in self.final:
                    self.withdrawn.add(coid)  # never placed from now on; `_cancel` closes it
                    self.pending.pop(coid, None)
                    self.cancelling.add(coid)
            self.wake.set()
        elif isinstance(event, _OURS) and event.client_order_id in self.allocated:
            self._record(event)

    def _record(self, event: _OURS | ChildAmended) -> None:  # an amend changes nothing here
        """Fold one of our execution events (read back from the log or just published)."""
        coid = event.client_order_id
        match event:
            case ChildSubmitted(ts_ns=ts_ns):
                self.submitted.add(coid)
                self.submitted_ns.setdefault(coid, ts_ns)
            case ChildAcked(venue_order_id=venue_order_id):
                self.venue_ids[coid] = venue_order_id
                self.last_poll.setdefault(coid, time.monotonic())
                self.pending.pop(coid, None)
            case ChildRejected() | ChildCancelled():
                self.final.add(coid)
                self.pending.pop(coid, None)
            case FillRecorded(fill_id=fill_id, qty_1e8=qty):
                seen = self.fill_ids.setdefault(coid, set())
                if fill_id not in seen:
                    seen.add(fill_id)
                    self.filled[coid] = self.filled.get(coid, 0) + qty
                if self.filled[coid] >= self.allocated[coid].qty_1e8:
                    self.final.add(coid)

    # --- the work ----------------------------------------------------------------------------
    async def _run(self) -> None:
        await self.ledger.caught_up.wait()  # decide on the whole log, never on half of it
        next_poll = 0.0
        while True:
            self.wake.clear()
            now = time.monotonic()
            for venue in sorted(self.unsynced):
                if self.sync_after.get(venue, 0.0) <= now:
                    self._spawn(f"sync:{venue}", self._sync_venue)
            for request_id, request in list(self.requests.items()):
                if not any(v in self.unsynced for v in request.venues):  # the start/reconnect sync answers first
                    self._spawn(f"request:{request_id}", self._sync_request)
            for coid in list(self.pending):
                if self.allocated[coid].venue in self.unsynced:
                    continue  # the venue is reconciled first: it waits
                self._spawn(coid, self._place)
            for coid in sorted(self.cancelling):
                self._spawn(coid, self._cancel)
            for tenant, venues_of in sorted(self.connected.items()):
                for venue in sorted(venues_of & self.streams.keys()):
                    self._spawn(f"stream:{tenant}:{venue}", self._stream)
            if time.monotonic() >= next_poll:
                # Resting orders and retries move on the poll tick; new work wakes us at once.
                next_poll = time.monotonic() + self.poll_interval_s
                self.pending.update(dict.fromkeys(self.retry_place))
                self.cancelling |= self.retry_cancel
                self.retry_place.clear()
                self.retry_cancel.clear()
                for coid in sorted(set(self.venue_ids) - self.final):
                    alloc = self.allocated[coid]
                    if alloc.venue in self.unsynced:  # reconciliation looks it up
                        continue
                    if (self._streamed(alloc)
                            and now - self.last_poll.get(coid, 0.0) < self.stream_poll_interval_s):
                        continue  # the stream reports it; REST only as the slow fallback
                    self._spawn(coid, self._poll)
            wake_at = min([next_poll, *(self.sync_after.get(v, 0.0) for v in self.unsynced)])
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, wake_at - time.monotonic()))
            except TimeoutError:
                pass

    def _spawn(self, coid: str, work: Callable[[str], Coroutine[object, object, None]]) -> None:
        """One request at a time per child, children in parallel (a slow venue holds up only its own)."""
        if coid in self.busy:
            return
        self.busy.add(coid)
        task = asyncio.create_task(work(coid), name=f"live-{coid}")
        self.tasks.add(task)

        def done(_: asyncio.Task[None]) -> None:
            self.tasks.discard(task)
            self.busy.discard(coid)
            self.wake.set()  # what it left pending (a retry, a cancel) is looked at again

        task.add_done_callback(done)

    async def _transport(self, alloc: ChildAllocated) -> HttpTransport | None:
        creds = await asyncio.to_thread(self.vault.reveal, alloc.tenant, alloc.venue)
        if creds is None:
            return None
        return await self._transport_with(alloc.venue, creds)

    async def _transport_with(self, venue: str, creds: Credentials) -> HttpTransport:
        # One budget per account (API key) per venue: every child of every strategy spends it.
        return HttpTransport(self.orders[venue], creds, self.clients[venue], self.clock_ns,
                             budget=self.budgets.of(venue, creds.api_key), cost=venues.request_cost(venue),
                             order_wait_s=self.order_wait_s)

    async def _place(self, coid: str) -> None:
        alloc = self.allocated[coid]
        self.pending.pop(coid, None)
        if coid in self.venue_ids or coid in self.final or coid in self.withdrawn:
            return  # answered on the log already (a replayed or retried allocation), or withdrawn
        try:
            if coid not in self.submitted and self.cancelled.covers(alloc.graph_id, alloc.node_id):
                # Allocated after its node was cancelled: never sent (the sandbox's rule too).
                await self._publish(alloc, [cancels.refusal(coid, alloc.node_id, self.clock_ns())])
                return
            if alloc.venue not in self.orders:  # nobody else would ever answer this child
                await self._publish(alloc, [Rejected(coid, "venue_not_live",
                                                     f"live order entry is not available for {alloc.venue}",
                                                     self.clock_ns())])
                return
            if alloc.venue in SPOT_ONLY and instrument_type_of(alloc.venue, alloc.symbol) == "perp":
                await self._publish(alloc, [Rejected(coid, "instrument_not_live",
                                                     f"live order entry for {alloc.venue} perps is not built yet",
                                                     self.clock_ns())])
                return
            transport = await self._transport(alloc)
            if transport is None:
                rejected = Rejected(coid, "no_credentials", f"no connected {alloc.venue} credentials for this tenant",
                                    self.clock_ns())
                await self._publish(alloc, [rejected])
                return
            resend = coid in self.submitted
            if not resend:
                await self._publish_submitted(alloc)
            outcomes = await transport.place(alloc, resend=resend)
            await self._publish(alloc, outcomes)
            if coid in self.withdrawn and coid in self.venue_ids and coid not in self.final:
                # Its node was cancelled while the order was on its way: pulled at once.
                await self._cancel_at_venue(alloc, transport)
            elif coid in self.venue_ids and coid not in self.final and not self._streamed(alloc):
                # An ack-only reply (OKX, Bybit): read the first fills back, unless the stream brings them.
                await self._publish(alloc, await transport.poll(alloc, self.venue_ids[coid]))
        except Exception as exc:  # noqa: BLE001 - any failure leaves the order unknown, never the loop dead
            # The order may or may not be at the venue: look it up (never blindly resend) later.
            log.warning("live: %s child %s not confirmed (%s); will look it up", alloc.venue, coid, type(exc).__name__)
            self._lost_connection(alloc.venue, exc)
            self.retry_place.add(coid)

    async def _poll(self, coid: str) -> None:
        alloc = self.allocated[coid]
        self.polls += 1
        self.last_poll[coid] = time.monotonic()
        try:
            transport = await self._transport(alloc)
            if transport is not None:
                await self._publish(alloc, await transport.poll(alloc, self.venue_ids[coid]))
        except Exception as exc:  # noqa: BLE001 - any failure leaves the order unknown, never the loop dead
            log.warning("live: poll of %s child %s failed (%s)", alloc.venue, coid, type(exc).__name__)
            self._lost_connection(alloc.venue, exc)

    async def _cancel(self, coid: str) -> None:
        alloc = self.allocated[coid]
        if coid in self.final:
            self.cancelling.discard(coid)
            return
        try:
            if coid not in self.venue_ids:
                await self._close_unanswered(alloc)
                return
            if alloc.venue in SPOT_ONLY and instrument_type_of(alloc.venue, alloc.symbol) == "perp":
                await self._publish(alloc, [Rejected(coid, "instrument_not_live",
                                                     f"live order entry for {alloc.venue} perps is not built yet",
                                                     self.clock_ns())])
                return
            transport = await self._transport(alloc)
            if transport is None:
                log.warning("live: cannot cancel %s child %s: the tenant's credentials are gone", alloc.venue, coid)
                self.cancelling.discard(coid)
            else:
                await self._cancel_at_venue(alloc, transport)
        except Exception as exc:  # noqa: BLE001 - any failure leaves the order unknown, never the loop dead
            log.warning("live: cancel of %s child %s failed (%s); retrying", alloc.venue, coid, type(exc).__name__)
            self._lost_connection(alloc.venue, exc)
            self.cancelling.discard(coid)
            self.retry_cancel.add(coid)

    async def _cancel_at_venue(self, alloc: ChildAllocated, transport: HttpTransport) -> None:
        coid = alloc.client_order_id
        outcomes = await transport.cancel(alloc, self.venue_ids[coid])
        refused = [o for o in outcomes if isinstance(o, Rejected)]
        if refused:  # filled or ended meanwhile: its end is read back by the next poll
            log.info("live: cancel of %s refused by %s: %s", coid, alloc.venue, refused[0].code)
        await self._publish(alloc, [o for o in outcomes if not isinstance(o, Rejected)])
        self.cancelling.discard(coid)

    async def _close_unanswered(self, alloc: ChildAllocated) -> None:
        """A withdrawn child the venue never answered: if it was sent, find it (then it is
        cancelled at the venue at once); if it never reached the venue, it is simply cancelled.
        "Not found" proves nothing while the request may still land (it timed out on its way, or
        the venue's lookup lags its matching engine): the cancel is held, and the order looked up
        again each poll tick, until the venue's window for that request has passed."""
        coid = alloc.client_order_id
        found = None
        if coid in self.submitted:
            transport = await self._transport(alloc)
            if transport is None:
                raise VenueError(f"no {alloc.venue} credentials to look up {coid}")
            found = await transport.follow(alloc)
            if found is not None:
                await self._publish(alloc, found)
                if coid in self.venue_ids and coid not in self.final:
                    await self._cancel_at_venue(alloc, transport)
                return
            landing_until = self.submitted_ns.get(coid, 0) + venues.landing_window_ns(alloc.venue)
            if self.clock_ns() < landing_until:
                log.info("live: %s child %s not at the venue yet; its cancel waits", alloc.venue, coid)
                self.cancelling.discard(coid)
                self.retry_cancel.add(coid)
                return
        self.cancelling.discard(coid)
        await self._publish(alloc, [Cancelled(coid, "", 0, alloc.qty_1e8, "user", self.clock_ns())])

    # --- private streams -------------------------------------------------------------------------
    def _streamed(self, alloc: ChildAllocated) -> bool:
        """The child's account stream is up and reports it (REST is then only the slow fallback)."""
        stream = self.streams.get(alloc.venue)
        return stream is not None and (alloc.tenant, alloc.venue) in self.stream_up and stream.covers(alloc)

    async def _stream(self, key: str) -> None:
        """Hold one account's user-data stream open while it has credentials at the venue;
        reconnect after a drop (backing off), each connect followed by a reconciliation."""
        _, tenant, venue = key.split(":", 2)
        backoff = self.poll_interval_s
        while venue in self.connected.get(tenant, ()):
            try:
                await self._stream_once(tenant, venue)
                backoff = self.poll_interval_s
            except Exception as exc:  # noqa: BLE001 - REST polls meanwhile; try again
                log.warning("live: %s user stream of %s lost (%s)", venue, tenant, type(exc).__name__)
            finally:
                if (tenant, venue) in self.stream_up:
                    self.stream_up.discard((tenant, venue))
                    self.wake.set()  # polling at the normal cadence again from now
            await asyncio.sleep(min(backoff, 5.0))  # retry back-off, not synchronisation
            backoff *= 2

    async def _stream_once(self, tenant: str, venue: str) -> None:
        stream = self.streams[venue]
        creds = await asyncio.to_thread(self.vault.reveal, tenant, venue)
        if creds is None:
            return
        transport = await self._transport_with(venue, creds)
        opener = stream.open_request(creds, self.clock_ns() // 1_000_000)
        token = stream.parse_open(await transport.request(opener)) if opener is not None else ""

        def child_of(venue_client_id: str) -> ChildAllocated | None:
            coid = self.venue_clients.get((venue, tenant, venue_client_id))
            return self.allocated.get(coid) if coid is not None else None

        async with ws_connect(stream.url(self.stream_urls.get(venue, ""), token), open_timeout=10,
                              max_size=2**22) as ws:
            login = stream.login_frames(creds, self.clock_ns() // 1_000_000)
            for frame in login:
                await ws.send(frame)
            while login:  # subscribe only once the venue took the login (OKX refuses it before)
                accepted = stream.login_reply(await asyncio.wait_for(ws.recv(), timeout=10.0))
                if accepted is False:
                    raise VenueError(f"{venue}: the private stream refused the login")
                if accepted:
                    break
            for frame in stream.subscribe_frames():
                await ws.send(frame)
            self.stream_up.add((tenant, venue))
            self.stream_connects[(tenant, venue)] = self.stream_connects.get((tenant, venue), 0) + 1
            # Whatever happened while no stream listened is read back over REST.
            self.unsynced[venue] = "reconnect"  # also after a start sync that began before it listened
            self.wake.set()
            log.info("live: %s user stream of %s connected", venue, tenant)
            next_keepalive = time.monotonic() + stream.keepalive_s
            while venue in self.connected.get(tenant, ()):  # revoked: close it
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=max(0.0, next_keepalive - time.monotonic()))
                except TimeoutError:
                    keepalive = stream.keepalive_request(creds, token, self.clock_ns() // 1_000_000)
                    if keepalive is not None:
                        await transport.request(keepalive)
                    ping = stream.ping_frame()
                    if ping is not None:
                        await ws.send(ping)
                    next_keepalive = time.monotonic() + stream.keepalive_s
                    continue
                if stream.is_expired(raw):
                    return
                outcomes = stream.parse(raw, child_of, self.clock_ns())
                self.stream_outcomes += len(outcomes)
                by_child: dict[str, list[Outcome]] = {}
                for outcome in outcomes:
                    by_child.setdefault(outcome.client_order_id, []).append(outcome)
                for coid, mine in by_child.items():
                    await self._publish(self.allocated[coid], mine)
                self.stream_progress.set()

    # --- reconciliation --------------------------------------------------------------------------
    def _lost_connection(self, venue: str, exc: Exception) -> None:
        """No answer from the venue (connection refused or reset, timeout): whatever happened
        meanwhile is read back from it before the next new order goes there."""
        if isinstance(exc, httpx.TransportError) and venue not in self.unsynced:
            self.unsynced[venue] = "reconnect"

    async def _sync_venue(self, key: str) -> None:
        venue = key.removeprefix("sync:")
        trigger = self.unsynced.get(venue)
        if trigger is None:
            return
        tenants = {t for t, vs in self.connected.items() if venue in vs}
        tenants |= {a.tenant for c, a in self.allocated.items() if a.venue == venue and c not in self.final}
        try:
            for tenant in sorted(tenants):
                await self.reconcile(tenant, venue, trigger)
        except Exception as exc:  # noqa: BLE001 - the venue is still away: try again on the poll tick
            log.warning("live: reconciling %s failed (%s); retrying", venue, type(exc).__name__)
            self.sync_after[venue] = time.monotonic() + self.poll_interval_s
            return
        if self.unsynced.get(venue) == trigger:
            del self.unsynced[venue]
            self.sync_after.pop(venue, None)

    async def _sync_request(self, key: str) -> None:
        request = self.requests.get(key.removeprefix("request:"))
        if request is None:
            return
        for venue in request.venues:
            if venue not in self.orders or (request.event_id, venue) in self.answered:
                continue
            try:
                await self.reconcile(request.tenant, venue, "request", request)
            except Exception as exc:  # noqa: BLE001 - retried on the poll tick
                log.warning("live: requested reconciliation of %s failed (%s)", venue, type(exc).__name__)
                await asyncio.sleep(self.poll_interval_s)  # back off before the loop spawns it again
                return
        self.requests.pop(request.event_id, None)  # answered (its VenueReconciled events are on the log)

    async def reconcile(self, tenant: str, venue: str, trigger: str,
                        request: commands.SyncPositions | None = None) -> VenueReconciled | None:
        """Bring the ledger in line with `tenant`'s account at `venue`: every child the ledger
        thinks working there is looked up (missing acks, fills and ends appended; one the venue
        does not know is ended `unknown_at_venue`, or placed if it never reached it), then the
        balances are moved to the venue's. Appends and returns a VenueReconciled."""
        creds = await asyncio.to_thread(self.vault.reveal, tenant, venue)
        if creds is None:
            if request is None:
                return None
            # Revoked since the request: nothing can be read; the answer says nothing was checked.
            event = VenueReconciled(
                event_id=derive_id("live_reconciled", venue, tenant, request.event_id), ts_ns=self.clock_ns(),
                tenant=tenant, causation_id=request.event_id, venue=venue, trigger="request", orders_checked=0,
                orders_resolved=0, fills_added=0, balances_adjusted=0, open_at_venue=0,
            )
            await self.bus.publish(event)
            self.answered.add((request.event_id, venue))
            return event
        transport = await self._transport_with(venue, creds)
        open_ids = await transport.open_orders()
        working = sorted(c for c, a in self.allocated.items() if a.tenant == tenant and a.venue == venue
                         and c not in self.final and (c in self.submitted or c in self.venue_ids) and c not in self.busy)
        fills_before = sum(len(self.fill_ids.get(c, ())) for c in working)
        resolved = 0
        for coid in working:
            alloc = self.allocated[coid]
            found = await transport.follow(alloc)
            if found is not None:
                await self._publish(alloc, found)
            elif coid in self.venue_ids:  # acked once, unknown now: say so, never guess a fill
                filled = self.filled.get(coid, 0)
                await self._publish(alloc, [Cancelled(coid, self.venue_ids[coid], filled, alloc.qty_1e8 - filled,
                                                      "unknown_at_venue", self.clock_ns())])
            elif coid not in self.withdrawn:
                self.pending[coid] = None  # it never reached the venue: place it (it is ours to send)
            resolved += coid in self.final
        fills_added = sum(len(self.fill_ids.get(c, ())) for c in working) - fills_before
        adjusted = await self._sync_balances(tenant, venue, transport)
        cause = request.event_id if request is not None else ""
        event = VenueReconciled(
            event_id=derive_id("live_reconciled", venue, tenant, cause or new_event_id()), ts_ns=self.clock_ns(),
            tenant=tenant, causation_id=cause, venue=venue, trigger=trigger, orders_checked=len(working),
            orders_resolved=resolved, fills_added=fills_added, balances_adjusted=adjusted,
            open_at_venue=len(open_ids) if open_ids is not None else 0,
        )
        await self.bus.publish(event)
        if cause:
            self.answered.add((cause, venue))
        log.info("live: reconciled %s for %s (%s): %d checked, %d ended, %d fills, %d balances", venue, tenant,
                 trigger, len(working), resolved, fills_added, adjusted)
        return event

    async def _sync_balances(self, tenant: str, venue: str, transport: HttpTransport) -> int:
        reported = await transport.balances()
        if reported is None:
            return 0
        await self.ledger.wait_caught_up()  # fold every fill and adjustment published so far first
        account = self.books.account(tenant, False)
        ledger = {asset: qty for (v, asset), qty in account.balances.items() if v == venue}
        at_venue = {asset: int((qty * 10**8).to_integral_value(ROUND_DOWN)) for asset, qty in reported.items()}
        events = [
            BalanceAdjusted(
                event_id=derive_id("live_balance", tenant, venue, asset, str(self.position), str(qty)),
                ts_ns=self.clock_ns(), tenant=tenant, venue=venue, asset=asset, delta_qty_1e8=qty - ledger.get(asset, 0),
                reason="venue_reconcile", is_sandbox=False,
            )
            for asset in sorted(set(ledger) | set(at_venue))
            if (qty := at_venue.get(asset, 0)) != ledger.get(asset, 0)
        ]
        if events:
            await self.bus.publish_many(events)
            await self.ledger.wait_caught_up()  # a reconciliation right after sees them folded
        return len(events)

    # --- publishing ----------------------------------------------------------------------------
    async def _publish_submitted(self, alloc: ChildAllocated) -> None:
        event = ChildSubmitted(
            event_id=derive_id("live_submit", alloc.client_order_id), ts_ns=self.clock_ns(), tenant=alloc.tenant,
            causation_id=alloc.event_id, correlation_id=alloc.graph_id, child_id=alloc.child_id,
            client_order_id=alloc.client_order_id, graph_id=alloc.graph_id, node_id=alloc.node_id, venue=alloc.venue,
            symbol=alloc.symbol, side=alloc.side, qty_1e8=alloc.qty_1e8, limit_px_1e9=alloc.limit_px_1e9,
        )
        await self.bus.publish(event)  # durable before the request leaves: a crash then means "look it up"
        self._record(event)

    async def _publish(self, alloc: ChildAllocated, outcomes: list[Outcome]) -> None:
        coid = alloc.client_order_id
        ref = ChildRef(alloc.child_id, alloc.graph_id, alloc.node_id, alloc.venue, alloc.tenant)
        events = []
        listed: set[str] = set()  # a venue listing a trade twice in one answer (a duplicated fill message)
        for outcome in outcomes:
            match outcome:
                case Acked() if coid in self.venue_ids:
                    continue
                case Filled(fill_id=fill_id) if fill_id in self.fill_ids.get(coid, ()) or fill_id in listed:
                    continue
                case Filled(fill_id=fill_id):
                    listed.add(fill_id)
                case Rejected() | Cancelled() if coid in self.final:
                    continue
            event = to_event(outcome, ref, event_id=_outcome_id(coid, outcome), ts_ns=self.clock_ns(),
                             causation_id=alloc.event_id, correlation_id=alloc.graph_id)
            if isinstance(event, FillRecorded):
                event = msgspec.structs.replace(event, is_sandbox=False)
            events.append(event)
        if events:
            await self.bus.publish_many(events)
        for event in events:  # only what is on the log counts as done
            self._record(event)


def _outcome_id(coid: str, outcome: Outcome) -> str:
    match outcome:
        case Filled(fill_id=fill_id):
            return derive_id("live_fill", coid, fill_id)
        case Acked():
            return derive_id("live_ack", coid)
        case Rejected():
            return derive_id("live_reject", coid)
        case _:
            return derive_id("live_end", coid)
