"""The hot market-data projection: per-venue books, the consolidated book and the NBBO.

In memory only, rebuilt from the MD stream on start, never waits on a database. A venue book
that is stale (its edge said so, or the edge went down) or crossed never reaches the NBBO or
the consolidated book.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sortedcontainers import SortedDict

import msgspec

from events import AnyEvent

from events.market import (
    BookDeltaBatch,
    BookSnapshot,
    NbboChanged,
    TradePrinted,
    VenueBbo,
    VenueStatusChanged,
    covers,
)
from events.regions import RegionRttMeasured
from events.venues import LEGACY_VENUES, venue_id


@dataclass
class VenueBook:
    venue: str
    symbol: str
    bids: SortedDict = field(default_factory=SortedDict)  # -px -> qty
    asks: SortedDict = field(default_factory=SortedDict)  # px -> qty
    stale: bool = True
    stale_reason: str = "no snapshot yet"
    last_update_ns: int = 0  # edge receive time of the last applied event
    venue_seq: int | None = None
    order_cost_quote_1e9: int = 0  # fixed cost per order (a pool's gas per swap), from its snapshot

    def apply_levels(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], truncate: int) -> None:
        for px, qty in bids:
            if qty:
                self.bids[-px] = qty
            else:
                self.bids.pop(-px, None)
        for px, qty in asks:
            if qty:
                self.asks[px] = qty
            else:
                self.asks.pop(px, None)
        if truncate:
            while len(self.bids) > truncate:
                self.bids.popitem(-1)
            while len(self.asks) > truncate:
                self.asks.popitem(-1)

    def best_bid(self) -> tuple[int, int] | None:
        if not self.bids:
            return None
        k, v = self.bids.peekitem(0)
        return -k, v

    def best_ask(self) -> tuple[int, int] | None:
        return self.asks.peekitem(0) if self.asks else None

    @property
    def crossed(self) -> bool:
        b, a = self.best_bid(), self.best_ask()
        return b is not None and a is not None and b[0] >= a[0]

    @property
    def usable(self) -> bool:
        return not self.stale and not self.crossed

    def top(self, depth: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        return [(-k, v) for k, v in self.bids.items()[:depth]], list(self.asks.items()[:depth])


@dataclass(frozen=True, slots=True)
class Nbbo:
    symbol: str
    bid_px_1e9: int
    bid_qty_1e8: int
    bid_venue: str
    ask_px_1e9: int
    ask_qty_1e8: int
    ask_venue: str
    venues: tuple[VenueBbo, ...]

    @property
    def key(self) -> tuple[object, ...]:
        return (self.bid_px_1e9, self.bid_qty_1e8, self.ask_px_1e9, self.ask_qty_1e8, self.venues_key)

    @property
    def venues_key(self) -> tuple[tuple[str, int, int, int, int], ...]:
        return tuple((v.venue, v.bid_px_1e9, v.bid_qty_1e8, v.ask_px_1e9, v.ask_qty_1e8) for v in self.venues)


_MINUTE_NS = 60 * 10**9
DAY_NS = 24 * 60 * _MINUTE_NS


@dataclass
class TradeStats:
    last_px_1e9: int = 0
    volume_1e8: int = 0
    notional_1e17: int = 0  # sum px_1e9 * qty_1e8, for VWAP
    count: int = 0
    # Notional per minute of the trades' own times, the last 24 h of them (rolling volumes).
    minutes: deque[tuple[int, int]] = field(default_factory=deque)

    def add_minute_notional(self, ts_ns: int, notional_1e17: int) -> None:
        minute = ts_ns // _MINUTE_NS
        if self.minutes and self.minutes[-1][0] >= minute:
            if self.minutes[-1][0] == minute:
                self.minutes[-1] = (minute, self.minutes[-1][1] + notional_1e17)
                return
            # an out-of-order print: fold it into the minute it belongs to, if still kept
            for i, (m, n) in enumerate(self.minutes):
                if m == minute:
                    self.minutes[i] = (m, n + notional_1e17)
                    return
            return
        self.minutes.append((minute, notional_1e17))
        while self.minutes[0][0] <= minute - DAY_NS // _MINUTE_NS:
            self.minutes.popleft()

    def notional_since_1e17(self, since_ns: int) -> int:
        """Traded notional (px_1e9 x qty_1e8) of the minutes from `since_ns` on (24 h at most)."""
        first = since_ns // _MINUTE_NS
        return sum(n for m, n in self.minutes if m >= first)


class MarketBooks:
    """Fold of md.* events. `apply` returns the canonical symbols whose books changed."""

    def __init__(self) -> None:
        self.books: dict[tuple[str, str], VenueBook] = {}
        self.by_symbol: dict[str, dict[str, VenueBook]] = {}
        self.trades: dict[tuple[str, str], TradeStats] = {}
        # Each edge's last venue-wide status, by (venue, instrument_type): a venue's spot and perp
        # edges ("" for an edge that streams both) report apart.
        self.venue_state: dict[tuple[str, str], VenueStatusChanged] = {}
        self.last_seen_ns: dict[str, int] = {}
        # (from region, to region) -> the last measured round trip between their NATS (ns)
        self.region_rtt_ns: dict[tuple[str, str], int] = {}
        self.position = 0

    def _book(self, venue: str, symbol: str) -> VenueBook:
        book = self.books.get((venue, symbol))
        if book is None:
            book = VenueBook(venue, symbol)
            self.books[(venue, symbol)] = book
            self.by_symbol.setdefault(symbol, {})[venue] = book
        return book

    def apply(self, event: AnyEvent, seq: int = 0) -> tuple[str, ...]:
        if seq > self.position:
            self.position = seq
        if getattr(event, "venue", "") in LEGACY_VENUES:
            event = legacy_event(event)  # an old perp edge's id: its exchange's books
        match event:
            case BookDeltaBatch(venue=v, symbol=s):
                self.last_seen_ns[v] = event.ts_recv_ns or event.ts_ns
                book = self.books.get((v, s))
                if book is None or book.stale:
                    return ()  # deltas without a snapshot cannot be applied
                book.apply_levels(event.bids, event.asks, event.truncate_depth)
                book.last_update_ns = event.ts_recv_ns or event.ts_ns
                book.venue_seq = event.venue_seq
                return (s,)
            case BookSnapshot(venue=v, symbol=s):
                self.last_seen_ns[v] = event.ts_recv_ns or event.ts_ns
                book = self._book(v, s)
                book.bids.clear()
                book.asks.clear()
                book.apply_levels(event.bids, event.asks, event.truncate_depth)
                book.stale = False
                book.stale_reason = ""
                book.last_update_ns = event.ts_recv_ns or event.ts_ns
                book.venue_seq = event.venue_seq
                book.order_cost_quote_1e9 = event.order_cost_quote_1e9
                return (s,)
            case TradePrinted(venue=v, symbol=s):
                self.last_seen_ns[v] = event.ts_recv_ns or event.ts_ns
                stats = self.trades.setdefault((v, s), TradeStats())
                stats.last_px_1e9 = event.px_1e9
                stats.volume_1e8 += event.qty_1e8
                stats.notional_1e17 += event.px_1e9 * event.qty_1e8
                stats.add_minute_notional(event.ts_event_ns or event.ts_ns, event.px_1e9 * event.qty_1e8)
                stats.count += 1
                return ()
            case RegionRttMeasured(from_region=a, to_region=b):
                self.region_rtt_ns[(a, b)] = event.rtt_ns
                return ()
            case VenueStatusChanged(venue=v, symbol=s, state=state):
                if not s:
                    self.venue_state[(v, event.instrument_type)] = event
                if state in ("connected", "connecting"):
                    return ()  # a book becomes live again only through a snapshot
                changed = []
                for book in self.books.values():
                    if book.venue == v and covers(event, book.symbol) and not book.stale:
                        book.stale = True
                        book.stale_reason = event.reason or state
                        changed.append(book.symbol)
                return tuple(changed)
        return ()

    # --- reads ------------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        return sorted(self.by_symbol)

    def venues_for(self, symbol: str) -> list[str]:
        return sorted(self.by_symbol.get(symbol, {}))

    def nbbo(self, symbol: str) -> Nbbo | None:
        """Best bid/ask over usable venue books (None when no venue book is usable)."""
        venues: list[VenueBbo] = []
        best_bid: tuple[int, int, str] | None = None
        best_ask: tuple[int, int, str] | None = None
        for venue, book in sorted(self.by_symbol.get(symbol, {}).items()):
            if not book.usable:
                continue
            b, a = book.best_bid(), book.best_ask()
            bid_px, bid_qty = b if b else (0, 0)
            ask_px, ask_qty = a if a else (0, 0)
            venues.append(VenueBbo(venue=venue, bid_px_1e9=bid_px, bid_qty_1e8=bid_qty, ask_px_1e9=ask_px,
                                    ask_qty_1e8=ask_qty, ts_recv_ns=book.last_update_ns))
            if b and (best_bid is None or b[0] > best_bid[0]):
                best_bid = (b[0], b[1], venue)
            elif b and best_bid is not None and b[0] == best_bid[0]:
                best_bid = (b[0], best_bid[1] + b[1], best_bid[2])
            if a and (best_ask is None or a[0] < best_ask[0]):
                best_ask = (a[0], a[1], venue)
            elif a and best_ask is not None and a[0] == best_ask[0]:
                best_ask = (a[0], best_ask[1] + a[1], best_ask[2])
        if not venues:
            return None
        bb = best_bid or (0, 0, "")
        ba = best_ask or (0, 0, "")
        return Nbbo(symbol, bb[0], bb[1], bb[2], ba[0], ba[1], ba[2], tuple(venues))

    def freshness_problem(self, now_ns: int, max_age_ns: int) -> str | None:
        """Why these books cannot be traded on yet, or None: each symbol a connected venue quotes
        needs a usable book updated within `max_age_ns` (edges refresh live books every second).
        A symbol whose every book its edge marked stale (resyncing) is known to be unavailable,
        not late: orders for it are refused by the router, and it does not hold up the others."""
        fresh = {b.symbol for b in self.books.values() if b.usable and now_ns - b.last_update_ns <= max_age_ns}
        if not fresh:
            return "no fresh venue book yet"
        quoted = {s for st in self.venue_state.values() if st.state == "connected" for s in st.subscribed_symbols}
        resyncing = {s for s, books in self.by_symbol.items() if all(b.stale for b in books.values())}
        missing = sorted(quoted - fresh - resyncing)
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            return f"no fresh book for {', '.join(missing[:3])}{more}"
        return None

    def consolidated(self, symbol: str, depth: int) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
        """Merged depth over usable venue books: (px, qty, venue) per venue level, best first."""
        bids: list[tuple[int, int, str]] = []
        asks: list[tuple[int, int, str]] = []
        for venue, book in self.by_symbol.get(symbol, {}).items():
            if not book.usable:
                continue
            b, a = book.top(depth)
            bids.extend((px, q, venue) for px, q in b)
            asks.extend((px, q, venue) for px, q in a)
        bids.sort(key=lambda lvl: (-lvl[0], lvl[2]))
        asks.sort(key=lambda lvl: (lvl[0], lvl[2]))
        return bids[:depth], asks[:depth]

    def dump(self) -> dict[str, object]:
        """A plain-data image of the projection (for rebuild-vs-live comparisons)."""
        return {
            "books": {
                f"{v}|{s}": {"bids": b.top(10**9)[0], "asks": b.top(10**9)[1], "stale": b.stale, "seq": b.venue_seq}
                for (v, s), b in sorted(self.books.items())
            },
            "nbbo": {s: self.nbbo(s) for s in self.symbols()},
            "trades": {f"{v}|{s}": vars(t) for (v, s), t in sorted(self.trades.items())},
        }


def legacy_event(event: AnyEvent) -> AnyEvent:
    """An md event an old perp edge wrote under its own venue id (binance_usdm), as its exchange's
    perp edge writes it now (venue binance, instrument_type perp)."""
    venue = venue_id(getattr(event, "venue"))
    if isinstance(event, VenueStatusChanged):
        return msgspec.structs.replace(event, venue=venue, instrument_type="perp")
    return msgspec.structs.replace(event, venue=venue)


def nbbo_event(nbbo: Nbbo, event_id: str, ts_ns: int, md_seq: int = 0) -> NbboChanged:
    return NbboChanged(
        event_id=event_id,
        ts_ns=ts_ns,
        symbol=nbbo.symbol,
        bid_px_1e9=nbbo.bid_px_1e9,
        bid_qty_1e8=nbbo.bid_qty_1e8,
        bid_venue=nbbo.bid_venue,
        ask_px_1e9=nbbo.ask_px_1e9,
        ask_qty_1e8=nbbo.ask_qty_1e8,
        ask_venue=nbbo.ask_venue,
        venues=list(nbbo.venues),
        md_seq=md_seq,
    )


Top = tuple[bool, int, int, int, int]  # (usable, best bid px, qty, best ask px, qty)
NbboKey = tuple[object, ...]  # what `Nbbo.key` holds


class NbboFold:
    """Books and each symbol's NBBO key, kept current event by event from the venues' tops of
    book: a level change below the top costs a comparison, a top change a pass over the
    symbol's venues. `key(symbol)` equals `MarketBooks.nbbo(symbol).key` after every event
    (what a published `NbboChanged` depends on); `nbbo(symbol)` builds the full NBBO on read."""

    def __init__(self, books: MarketBooks | None = None) -> None:
        self.books = books or MarketBooks()
        self._tops: dict[str, dict[str, Top]] = {}  # symbol -> venue -> top
        self._keys: dict[str, NbboKey | None] = {}

    def apply(self, event: AnyEvent) -> bool:
        """Fold one md.* event; return whether a symbol's NBBO changed."""
        symbols = self.books.apply(event)
        if not symbols:
            return False
        if isinstance(event, (BookDeltaBatch, BookSnapshot)):
            tops = self._tops.setdefault(event.symbol, {})
            old = tops.get(event.venue)
            if old is not None and isinstance(event, BookDeltaBatch) and not event.truncate_depth:
                bid, ask = old[1], old[3]  # levels strictly behind both tops cannot move them
                if all(px < bid for px, _ in event.bids) and all(px > ask for px, _ in event.asks) and ask:
                    return False
            top = _top(self.books.books[(event.venue, event.symbol)])
            if tops.get(event.venue) == top:
                return False
            tops[event.venue] = top
        else:  # a venue's books went stale: read their tops again
            for symbol in symbols:
                self._tops[symbol] = {v: _top(b) for v, b in self.books.by_symbol.get(symbol, {}).items()}
        changed = False
        for symbol in symbols:
            key = _nbbo_key(self._tops.get(symbol, {}))
            if key != self._keys.get(symbol):
                self._keys[symbol] = key
                changed = True
        return changed

    def key(self, symbol: str) -> NbboKey | None:
        return self._keys.get(symbol)

    def nbbo(self, symbol: str) -> Nbbo | None:
        return self.books.nbbo(symbol)


def _top(book: VenueBook) -> Top:
    bids, asks = book.bids, book.asks
    bid = bids.peekitem(0) if bids else (0, 0)
    ask = asks.peekitem(0) if asks else (0, 0)
    return (not book.stale and not (bids and asks and -bid[0] >= ask[0]), -bid[0], bid[1], ask[0], ask[1])


def _nbbo_key(tops: dict[str, Top]) -> NbboKey | None:
    # As MarketBooks.nbbo: usable venues in name order; the best price's size summed over venues.
    venues = [(v, t[1], t[2], t[3], t[4]) for v, t in sorted(tops.items()) if t[0]]
    if not venues:
        return None
    bid_px = max(v[1] for v in venues)
    asks = [v[3] for v in venues if v[4]]
    ask_px = min(asks) if asks else 0
    bid_qty = sum(v[2] for v in venues if v[1] == bid_px and v[2]) if bid_px else 0
    ask_qty = sum(v[4] for v in venues if v[3] == ask_px and v[4]) if ask_px else 0
    return (bid_px, bid_qty, ask_px, ask_qty, tuple(venues))
