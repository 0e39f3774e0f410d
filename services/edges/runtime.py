"""The edge framework: one loop that any `VenueAdapter` plugs into.

It owns connect, subscribe, keepalive, a silence watchdog, reconnect with exponential backoff
and jitter, REST bootstrap for venues that need it, resync on any gap/checksum/crossed book,
the stale flag, bad-frame accounting, and turning applied updates into `md.*` events with the
timestamp chain (venue ts, edge receive ts, publish ts).

Every live book is also republished as a snapshot every `snapshot_refresh_s`: a reader that
needs current books starts from each book's newest snapshot and the few deltas after it
(projections/market_follower.py), never from the start of the MD stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import websockets
from websockets.asyncio.client import ClientConnection, connect

from events import AnyEvent, new_event_id
from services.aio import cancel_and_wait
from events.market import BookDeltaBatch, BookSnapshot, FundingRateUpdated, TradePrinted, VenueState, VenueStatusChanged
from services.edges.book import L2Book
from services.edges.markets import market_listings, notice_event
from services.edges.sync import BookSync, SyncResult
from services.edges.venue import (
    BookMode,
    BookUpdate,
    Control,
    FundingUpdate,
    MarketNotice,
    ParseError,
    Reply,
    TradeUpdate,
    VenueAdapter,
    VenueNotice,
)

log = logging.getLogger("crossbook.edges")

SNAPSHOT_DEPTH = 200  # levels per side carried by a published snapshot


class EdgeSink(Protocol):
    async def emit(self, events: Sequence[AnyEvent]) -> None: ...


class MemorySink:
    """Keeps emitted events in memory (tests, backtests)."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []

    async def emit(self, events: Sequence[AnyEvent]) -> None:
        self.events.extend(events)


class ResyncByReconnect(Exception):
    """A book failed and the venue cannot resend it in-band: drop the connection."""


class SilentConnection(Exception):
    """Nothing arrived within the watchdog window."""


@dataclass
class EdgeTiming:
    reconnect_base_s: float = 0.2
    reconnect_max_s: float = 10.0
    silence_timeout_s: float = 15.0  # no frame at all for this long = dead connection
    snapshot_retry_s: float = 0.5
    # Bounds what a reader starting from the present replays: the deltas since each book's
    # newest snapshot (~6 kB per 200-level book per refresh).
    snapshot_refresh_s: float = 1.0


class EdgeRunner:
    """Stream the books of `symbols` (canonical) from one venue into `sink`."""

    def __init__(
        self,
        adapter: VenueAdapter,
        symbols: list[str],
        sink: EdgeSink,
        *,
        timing: EdgeTiming | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        new_id: Callable[[], str] = new_event_id,
        rng: random.Random | None = None,
    ) -> None:
        self.adapter = adapter
        self.venue = adapter.venue_id()  # what its events carry (a perp edge shares its exchange's id)
        self.sink = sink
        self.timing = timing or EdgeTiming()
        self.clock_ns = clock_ns
        self.new_id = new_id
        self.rng = rng or random.Random()
        self.venue_symbols = [adapter.to_venue(s) for s in symbols]
        self.books: dict[str, BookSync] = {vs: BookSync(adapter, vs) for vs in self.venue_symbols}
        self.counters: Counter[str] = Counter()
        self.connected = False
        # Frames of the current connection handled to the end (their events handed to the sink):
        # a test that froze its venue waits for this to reach what the venue sent.
        self.session_frames = 0
        self._published_tops: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}
        self._derives = type(adapter).derive_books is not VenueAdapter.derive_books
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._snapshot_tasks: dict[str, asyncio.Task[None]] = {}
        self._changed = asyncio.Condition()
        self._http: httpx.AsyncClient | None = None
        self._slugs: dict[str, str] = {}  # venue market id -> slug, from the listings seen

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        if self.adapter.book_mode is BookMode.REST_SNAPSHOT:
            self._http = httpx.AsyncClient(timeout=10.0)
        self._task = asyncio.create_task(self.run(), name=f"edge-{self.venue}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def wait_until(self, predicate: Callable[[EdgeRunner], bool], timeout: float = 20.0) -> None:
        """Wait until `predicate(self)` holds (checked after every handled frame)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    def is_stale(self, venue_symbol: str) -> bool:
        return self.books[venue_symbol].stale

    # --- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        # A prediction venue announces the markets it streams (ids fixed by market: a restart
        # adds no new listing).
        listed = market_listings(self.venue, self._canonical_symbols(), self.clock_ns())
        self._slugs.update((m.venue_event_id, m.slug) for m in listed)
        if listed:
            await self.sink.emit(listed)
        attempt = 0
        while True:
            url = self.adapter.ws_url(self.venue_symbols)
            reason = "closed"
            await self._status("connecting")
            try:
                async with connect(url, open_timeout=10, ping_interval=20, ping_timeout=20, max_size=2**24) as ws:
                    attempt = 0
                    await self._session(ws)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.exceptions.WebSocketException, SilentConnection, ResyncByReconnect, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                self.counters["disconnects"] += 1
                log.warning("edge %s: connection lost (%s); reconnecting", self.venue, reason)
            finally:
                self._ws = None
                self.connected = False
                for task in self._snapshot_tasks.values():
                    task.cancel()
                self._snapshot_tasks.clear()
                for sync in self.books.values():
                    sync.reset()
                await self._notify()
            await self._status("down", reason=reason)
            attempt += 1
            delay = min(self.timing.reconnect_max_s, self.timing.reconnect_base_s * 2 ** min(attempt - 1, 10))
            await asyncio.sleep(delay * (0.5 + self.rng.random() / 2))  # backoff with jitter
            self.counters["reconnects"] += 1

    async def _session(self, ws: ClientConnection) -> None:
        self._ws = ws
        self.session_frames = 0
        self.adapter.on_connect()
        for sync in self.books.values():
            sync.reset()
        for frame in self.adapter.subscribe_frames(self.venue_symbols):
            await ws.send(frame)
        self.connected = True
        await self._status("connected")
        if self.adapter.book_mode is BookMode.REST_SNAPSHOT:
            for vs in self.venue_symbols:
                self._fetch_snapshot(vs)
        keepalive = asyncio.create_task(self._keepalive(ws))
        refresh = asyncio.create_task(self._refresh_snapshots())
        try:
            while True:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancel that races
                # with a frame arriving, and stop() would then wait forever.
                try:
                    async with asyncio.timeout(self.timing.silence_timeout_s):
                        raw = await ws.recv()
                except TimeoutError as exc:
                    raise SilentConnection(f"no frame for {self.timing.silence_timeout_s}s") from exc
                await self.handle_frame(raw, self.clock_ns())
        finally:
            keepalive.cancel()
            refresh.cancel()

    async def _keepalive(self, ws: ClientConnection) -> None:
        frame = self.adapter.ping_frame()
        if frame is None:
            return
        while True:
            await asyncio.sleep(self.adapter.ping_interval_s)
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await ws.send(frame)

    async def _refresh_snapshots(self) -> None:
        # Deltas carry absolute sizes, so a refresh that lands between a frame's own deltas on
        # the stream is harmless: re-applying them to the newer snapshot changes nothing.
        while True:
            await asyncio.sleep(self.timing.snapshot_refresh_s)
            events: list[AnyEvent] = []
            recv_ns = self.clock_ns()
            for vs, sync in self.books.items():
                if not sync.stale:
                    events.extend(self._snapshot_events(vs, sync.book, sync.seq.last_seq, 0, recv_ns))
            if events:
                self.counters["snapshot_refreshes"] += 1
                await self.sink.emit(events)

    # --- frames -----------------------------------------------------------------------------
    async def handle_frame(self, raw: str | bytes, recv_ns: int) -> None:
        """Parse one frame and act on it; garbage is counted and logged, never fatal."""
        self.counters["frames"] += 1
        try:
            parsed = self.adapter.parse(raw)
        except ParseError as exc:
            self.counters["bad_frames"] += 1
            log.warning("edge %s: bad frame (%s): %.200r", self.venue, exc, raw)
            self.session_frames += 1
            await self._notify()
            return
        events: list[AnyEvent] = []
        for item in parsed:
            if isinstance(item, BookUpdate):
                await self._on_book(item, recv_ns, events)
            elif isinstance(item, TradeUpdate):
                self._on_trade(item, recv_ns, events)
            elif isinstance(item, FundingUpdate):
                self._on_funding(item, recv_ns, events)
            elif isinstance(item, Reply):
                if self._ws is not None:
                    await self._ws.send(item.frame)
            elif isinstance(item, VenueNotice):
                self.counters["venue_notices"] += 1
                log.warning("edge %s: venue says %s (symbol %s)", self.venue, item.message, item.symbol)
            elif isinstance(item, MarketNotice):
                self._on_market(item, events)
            elif isinstance(item, Control):
                self.counters["control"] += 1
        if events:
            await self.sink.emit(events)
        self.session_frames += 1
        await self._notify()

    async def _on_book(self, update: BookUpdate, recv_ns: int, events: list[AnyEvent]) -> None:
        sync = self.books.get(update.symbol)
        if sync is None:
            self.counters["unknown_symbol"] += 1
            return
        was_stale = sync.stale
        result = sync.apply(update)
        if result is SyncResult.APPLIED:
            self.counters["updates"] += 1
            if was_stale or update.snapshot:
                # A snapshot replaces the book (venues like Hyperliquid push one every time).
                self.counters["snapshots"] += 1
                events.extend(
                    self._snapshot_events(update.symbol, sync.book, update.seq, update.ts_event_ns, recv_ns)
                )
                if was_stale:
                    events.append(self._status_event("connected", update.symbol))
            else:
                self.counters["deltas"] += 1
                events.extend(self._delta_events(update, sync.book, recv_ns))
        elif result.failed:
            self.counters[f"integrity_{result.value}"] += 1
            self.counters["integrity_failures"] += 1
            log.warning("edge %s %s: %s; resyncing", self.venue, update.symbol, sync.last_failure)
            events.append(self._status_event("stale", update.symbol, sync.last_failure))
            await self.sink.emit(events)
            events.clear()
            await self._resync(update.symbol)

    def _on_trade(self, trade: TradeUpdate, recv_ns: int, events: list[AnyEvent]) -> None:
        if trade.symbol not in self.books:
            return
        events.append(
            TradePrinted(
                event_id=self.new_id(),
                ts_ns=self.clock_ns(),
                venue=self.venue,
                symbol=self.adapter.to_canonical(trade.symbol),
                px_1e9=trade.px_1e9,
                qty_1e8=trade.qty_1e8,
                aggressor=trade.aggressor,
                trade_id=trade.trade_id,
                ts_event_ns=trade.ts_event_ns,
                ts_recv_ns=recv_ns,
            )
        )

    def _on_funding(self, funding: FundingUpdate, recv_ns: int, events: list[AnyEvent]) -> None:
        if funding.symbol not in self.books or funding.interval_ns <= 0:
            return
        next_ns = funding.next_funding_ns
        if not next_ns:  # settles on every interval boundary (Hyperliquid: each hour)
            now_ns = funding.ts_event_ns or recv_ns
            next_ns = (now_ns // funding.interval_ns + 1) * funding.interval_ns
        events.append(
            FundingRateUpdated(
                event_id=self.new_id(),
                ts_ns=self.clock_ns(),
                venue=self.venue,
                symbol=self.adapter.to_canonical(funding.symbol),
                rate_1e9=funding.rate_1e9,
                interval_ns=funding.interval_ns,
                next_funding_ns=next_ns,
                mark_px_1e9=funding.mark_px_1e9,
                index_px_1e9=funding.index_px_1e9,
                predicted_rate_1e9=funding.predicted_rate_1e9,
                open_interest_1e8=funding.open_interest_1e8,
                ts_event_ns=funding.ts_event_ns,
                ts_recv_ns=recv_ns,
            )
        )

    def _on_market(self, notice: MarketNotice, events: list[AnyEvent]) -> None:
        if notice.kind == "listed":
            self._slugs[notice.venue_event_id] = notice.slug
        elif not notice.slug:
            # Unknown here (listed before this edge started): readers match by token id.
            notice.slug = self._slugs.get(notice.venue_event_id, notice.venue_event_id)
        self.counters[f"markets_{notice.kind}"] += 1
        events.append(notice_event(self.venue, notice, self.clock_ns()))

    # --- resync -----------------------------------------------------------------------------
    async def _resync(self, venue_symbol: str) -> None:
        self.counters["resyncs"] += 1
        sync = self.books[venue_symbol]
        sync.reset()
        self._published_tops.pop(venue_symbol, None)
        if self.adapter.book_mode is BookMode.REST_SNAPSHOT:
            self._fetch_snapshot(venue_symbol)
            return
        frames = self.adapter.resync_frames(venue_symbol)
        if not frames or self._ws is None:
            raise ResyncByReconnect(f"{venue_symbol}: {sync.last_failure}")
        for frame in frames:
            await self._ws.send(frame)

    def _fetch_snapshot(self, venue_symbol: str) -> None:
        old = self._snapshot_tasks.get(venue_symbol)
        if old is not None and not old.done():
            return
        self._snapshot_tasks[venue_symbol] = asyncio.create_task(self._snapshot_loop(venue_symbol))

    async def _snapshot_loop(self, venue_symbol: str) -> None:
        # Runs until the book is live: a snapshot that fails against the buffered diffs
        # (e.g. older than the first buffered update) is simply fetched again.
        assert self._http is not None
        url = self.adapter.snapshot_url(venue_symbol)
        while self.books[venue_symbol].stale:
            try:
                response = await self._http.get(url)
                response.raise_for_status()
                update = self.adapter.parse_snapshot(response.content, venue_symbol)
            except (httpx.HTTPError, ParseError) as exc:
                self.counters["snapshot_errors"] += 1
                log.warning("edge %s %s: snapshot failed (%s); retrying", self.venue, venue_symbol, exc)
                await asyncio.sleep(self.timing.snapshot_retry_s)
                continue
            events: list[AnyEvent] = []
            await self._on_book(update, self.clock_ns(), events)
            if events:
                await self.sink.emit(events)
            await self._notify()
            if self.books[venue_symbol].stale:
                await asyncio.sleep(self.timing.snapshot_retry_s)

    # --- events -----------------------------------------------------------------------------
    def _snapshot_events(
        self, venue_symbol: str, book: L2Book, seq: int | None, ts_event_ns: int, recv_ns: int
    ) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        depth = self.adapter.depth if self.adapter.truncate_to_depth else SNAPSHOT_DEPTH
        for symbol, bids, asks in self.adapter.derive_books(venue_symbol, book, depth):
            if self._derives:
                self._published_tops[f"{venue_symbol}|{symbol}"] = (bids, asks)
            out.append(
                BookSnapshot(
                    event_id=self.new_id(),
                    ts_ns=self.clock_ns(),
                    venue=self.venue,
                    symbol=symbol,
                    bids=bids,
                    asks=asks,
                    venue_seq=seq,
                    ts_event_ns=ts_event_ns,
                    ts_recv_ns=recv_ns,
                    truncate_depth=self.adapter.depth if self.adapter.truncate_to_depth else 0,
                )
            )
        return out

    def _delta_events(self, update: BookUpdate, book: L2Book, recv_ns: int) -> list[AnyEvent]:
        truncate = self.adapter.depth if self.adapter.truncate_to_depth else 0
        if self._derives:
            return self._derived_delta_events(update, book, recv_ns)
        if update.increments:
            bids = [(lvl.px_1e9, book.bid_qty(lvl.px_1e9)) for lvl in update.bids]
            asks = [(lvl.px_1e9, book.ask_qty(lvl.px_1e9)) for lvl in update.asks]
        else:
            bids = [(lvl.px_1e9, lvl.qty_1e8) for lvl in update.bids]
            asks = [(lvl.px_1e9, lvl.qty_1e8) for lvl in update.asks]
        if not bids and not asks:
            return []
        return [
            BookDeltaBatch(
                event_id=self.new_id(),
                ts_ns=self.clock_ns(),
                venue=self.venue,
                symbol=self.adapter.to_canonical(update.symbol),
                bids=bids,
                asks=asks,
                venue_seq=update.seq,
                ts_event_ns=update.ts_event_ns,
                ts_recv_ns=recv_ns,
                truncate_depth=truncate,
            )
        ]

    def _derived_delta_events(self, update: BookUpdate, book: L2Book, recv_ns: int) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for symbol, bids, asks in self.adapter.derive_books(update.symbol, book, SNAPSHOT_DEPTH):
            key = f"{update.symbol}|{symbol}"
            old_bids, old_asks = self._published_tops.get(key, ([], []))
            self._published_tops[key] = (bids, asks)
            d_bids, d_asks = _diff(old_bids, bids), _diff(old_asks, asks)
            if d_bids or d_asks:
                out.append(
                    BookDeltaBatch(
                        event_id=self.new_id(),
                        ts_ns=self.clock_ns(),
                        venue=self.venue,
                        symbol=symbol,
                        bids=d_bids,
                        asks=d_asks,
                        venue_seq=update.seq,
                        ts_event_ns=update.ts_event_ns,
                        ts_recv_ns=recv_ns,
                    )
                )
        return out

    def _status_event(self, state: VenueState, symbol: str = "", reason: str = "") -> VenueStatusChanged:
        return VenueStatusChanged(
            event_id=self.new_id(),
            ts_ns=self.clock_ns(),
            venue=self.venue,
            state=state,
            symbol=self.adapter.to_canonical(symbol) if symbol and not self._derives else symbol,
            reason=reason,
            integrity_failures=self.counters["integrity_failures"],
            bad_frames=self.counters["bad_frames"],
            subscribed_symbols=[] if symbol else self._canonical_symbols(),
            instrument_type=self.adapter.instrument_type,
        )

    def _canonical_symbols(self) -> list[str]:
        out: list[str] = []
        for vs in self.venue_symbols:
            out.extend(s for s, _, _ in self.adapter.derive_books(vs, L2Book(), 0))
        return out

    async def _status(self, state: VenueState, reason: str = "") -> None:
        await self.sink.emit([self._status_event(state, reason=reason)])

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()


def _diff(old: list[tuple[int, int]], new: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Level changes turning `old` into `new` (removed levels as qty 0)."""
    old_map = dict(old)
    new_map = dict(new)
    changes = [(px, q) for px, q in new if old_map.get(px) != q]
    changes.extend((px, 0) for px in old_map if px not in new_map)
    return changes
