"""The prediction-market catalogue behind /v1/markets, /v1/settlement and the lifecycle streams.

A fold of `MarketListed`/`MarketResolved` from the MARKETS stream (subjects `mkt.>`), seeded with
the local venue servers' markets when the market is simulated, keyed by (venue, slug). Both
kinds of event also become lifecycle frames: the last `REPLAY` of each kind are kept for new
WebSocket connections and every new one goes to each connected listener. A market announced
again (an edge restart) or resolved twice is not a new frame."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from fastapi import FastAPI

from events import AnyEvent
from events.market import MarketListed, MarketResolved
from projections.follower import StreamFollower
from projections.market import DAY_NS, MarketBooks
from services.api.units import px
from services.edges.markets import PREDICTION_VENUES, sim_listings
from services.graph.schema import ParsedGraph

REPLAY = 128  # frames of each kind a new lifecycle connection receives first
ONE_DOLLAR_1E9 = 1_000_000_000  # a winning contract pays $1
LEGS = {"yes": 0, "no": 1}  # `<slug or ticker>:yes|no` (any case) names that outcome's contract

Kind = Literal["new_markets", "market_resolved"]


@dataclass
class Entry:
    listing: MarketListed
    resolution: MarketResolved | None = None

    @property
    def yes_token_id(self) -> str:
        return self.listing.outcome_token_ids[0] if self.listing.outcome_token_ids else ""

    @property
    def no_token_id(self) -> str:
        ids = self.listing.outcome_token_ids
        return ids[1] if len(ids) > 1 else ""

    def settled_mark_1e9(self, token: str) -> int | None:
        """What one `token` contract pays once resolved ($1 or $0); None while open."""
        if self.resolution is None:
            return None
        return ONE_DOLLAR_1E9 if token == self.resolution.winning_token_id else 0


class MarketCatalog:
    def __init__(self, seed: list[MarketListed]) -> None:
        self.entries: dict[tuple[str, str], Entry] = {(e.venue, e.slug): Entry(e) for e in seed}
        self.frames: dict[Kind, deque[dict[str, Any]]] = {
            "new_markets": deque(maxlen=REPLAY),
            "market_resolved": deque(maxlen=REPLAY),
        }
        self.listeners: dict[Kind, set[asyncio.Queue[dict[str, Any]]]] = {"new_markets": set(), "market_resolved": set()}
        # What the bus has announced (a seeded market is listed, but was never streamed).
        self._announced: set[tuple[str, str]] = set()
        self._resolved: set[tuple[str, str]] = set()
        self.follower: StreamFollower | None = None
        self.books: MarketBooks | None = None  # the API's live books (symbols no listing names)
        self._by_token: dict[tuple[str, str], Entry] = {}
        for entry in self.entries.values():
            self._index(entry)

    def _index(self, entry: Entry) -> None:
        for token in entry.listing.outcome_token_ids:
            self._by_token[(entry.listing.venue, token)] = entry

    async def caught_up(self) -> MarketCatalog:
        """This catalogue once it holds every event published before the call (read-your-writes)."""
        if self.follower is not None:
            await self.follower.wait_caught_up()
        return self

    def apply(self, event: AnyEvent, seq: int) -> None:
        if isinstance(event, MarketListed):
            key = (event.venue, event.slug)
            if key in self._announced:
                return
            self._announced.add(key)
            entry = self.entries.get(key)
            if entry is None:
                self.entries[key] = entry = Entry(event)
            else:
                entry.listing = event  # the venue's word replaces the seed
            self._index(entry)
            self._emit("new_markets", new_market_frame(entry))
        elif isinstance(event, MarketResolved):
            key = (event.venue, event.slug)
            if key in self._resolved:
                return
            self._resolved.add(key)
            # An edge that never saw the listing names the market by its venue id: match the token.
            entry = self.entries.get(key) or self._by_token.get((event.venue, event.winning_token_id))
            if entry is not None:
                entry.resolution = event
            self._emit("market_resolved", resolved_frame(event))

    def _emit(self, kind: Kind, frame: dict[str, Any]) -> None:
        self.frames[kind].append(frame)
        for queue in self.listeners[kind]:
            queue.put_nowait(frame)

    def listen(self, kind: Kind) -> tuple[list[dict[str, Any]], asyncio.Queue[dict[str, Any]]]:
        """The replay and a queue of what comes after it: taken together, so nothing falls between."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.listeners[kind].add(queue)
        return list(self.frames[kind]), queue

    def unlisten(self, kind: Kind, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.listeners[kind].discard(queue)

    def of_venue(self, venue: str) -> list[Entry]:
        return [e for (v, _), e in self.entries.items() if v == venue]

    def of_token(self, venue: str, token: str) -> Entry | None:
        """The market whose outcome contract `token` (a canonical symbol) is."""
        return self._by_token.get((venue, token))

    def canonical_symbol(self, symbol: str) -> str:
        """The contract a prediction-market symbol names, as the books and the router know it:
        a Kalshi ticker or Polymarket slug (or polymarket.com URL) means its YES contract, and
        `:yes`/`:no` (any case) picks the leg. Anything else comes back unchanged, so a caller
        answers an unknown symbol as it always did."""
        books = self.books.by_symbol if self.books is not None else {}
        if symbol in books:
            return symbol
        base, colon, leg = symbol.rpartition(":")
        named, index = (base, LEGS[leg.lower()]) if colon and leg.lower() in LEGS else (symbol, 0)
        entry = self.by_slug(slug_of(named))
        if entry is not None and len(entry.listing.outcome_token_ids) > index:
            return entry.listing.outcome_token_ids[index]
        # A Kalshi ticker the catalogue has no listing for: its legs are `<TICKER>:YES` / `:NO`.
        kalshi_leg = f"{named}:{('YES', 'NO')[index]}"
        return kalshi_leg if kalshi_leg in books else symbol

    def canonical_order(self, parsed: ParsedGraph) -> ParsedGraph:
        """`parsed` with each node's symbol made canonical; a market's contract is typed `prediction`
        (the SDK sends `spot` unless told otherwise)."""
        nodes = []
        for node in parsed.nodes:
            symbol = self.canonical_symbol(node.instrument.symbol)
            listed = any(self.of_token(venue, symbol) is not None for venue in PREDICTION_VENUES)
            if symbol != node.instrument.symbol or (listed and node.instrument.type != "prediction"):
                instrument = msgspec.structs.replace(node.instrument, symbol=symbol, type="prediction")
                node = msgspec.structs.replace(node, instrument=instrument)
            nodes.append(node)
        return dataclasses.replace(parsed, nodes=tuple(nodes))

    def by_slug(self, slug: str) -> Entry | None:
        # Slugs are per venue; a Polymarket slug wins a (theoretical) clash with a Kalshi ticker.
        for venue in ("polymarket", "kalshi"):
            if (entry := self.entries.get((venue, slug))) is not None:
                return entry
        return next((e for (_, s), e in self.entries.items() if s == slug), None)


def slug_of(text: str) -> str:
    # The SDK documents a polymarket.com URL as an accepted form of the slug.
    if "://" in text:
        text = text.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return text


def iso8601(ns: int) -> str | None:
    if not ns:
        return None
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def best_prices(books: MarketBooks | None, venue: str, symbol: str) -> tuple[int | None, int | None]:
    """Best bid and ask (px_1e9) of one venue's live book, None where there is none."""
    book = books.books.get((venue, symbol)) if books is not None else None
    if book is None or not book.usable:
        return None, None
    bid, ask = book.best_bid(), book.best_ask()
    return (bid[0] if bid else None), (ask[0] if ask else None)


def _human(px_1e9: int | None) -> float | None:
    return None if px_1e9 is None else px(px_1e9)


def market_row(entry: Entry, books: MarketBooks | None) -> dict[str, Any]:
    """The contract's Market row. Prices come from the live venue book (None without one);
    volumes are the USD notional of the trades the API has seen (its market-data retention)."""
    m = entry.listing
    yes, no = entry.yes_token_id, entry.no_token_id
    best_yes_bid, best_yes_ask = map(_human, best_prices(books, m.venue, yes))
    best_no_bid, best_no_ask = map(_human, best_prices(books, m.venue, no))
    notional_1e17 = day_1e17 = 0
    if books is not None:
        stats = [s for (v, sym), s in books.trades.items() if v == m.venue and sym in m.outcome_token_ids]
        notional_1e17 = sum(s.notional_1e17 for s in stats)
        day_1e17 = sum(s.notional_since_1e17(time.time_ns() - DAY_NS) for s in stats)  # trailing 24 h
    spread = None if best_yes_bid is None or best_yes_ask is None else round((best_yes_ask - best_yes_bid) * 100, 6)
    return {
        "venue": m.venue,
        "slug": m.slug,
        "question": m.question,
        "outcomes": list(m.outcomes),
        "outcome_token_ids": list(m.outcome_token_ids),
        "yes_token_id": yes,
        "no_token_id": no,
        "event_id": m.venue_event_id,
        "condition_id": m.condition_id or None,
        "symbol": yes,
        "neg_risk": m.neg_risk,
        "volume_24h": day_1e17 / 1e17,
        "volume_total": notional_1e17 / 1e17,
        "best_yes_bid": best_yes_bid,
        "best_yes_ask": best_yes_ask,
        "best_no_bid": best_no_bid,
        "best_no_ask": best_no_ask,
        "spread_pct": spread,  # yes ask - yes bid, in percent of the $1 payout
        "start_date": iso8601(m.start_ns),
        "end_date": iso8601(m.end_ns),
        "url": m.url,
        "active": entry.resolution is None,
        "closed": entry.resolution is not None,
    }


def new_market_frame(entry: Entry) -> dict[str, Any]:
    # A market just announced: no book or trades of its own yet.
    return {**market_row(entry, None), "kind": "new_market", "observed_at_ns": entry.listing.ts_ns}


def resolved_frame(event: MarketResolved) -> dict[str, Any]:
    return {
        "kind": "market_resolved",
        "venue": event.venue,
        "slug": event.slug,
        "event_id": event.venue_event_id,
        "winning_outcome": event.winning_outcome,
        "winning_token_id": event.winning_token_id,
        "losing_token_id": event.losing_token_id,
        "observed_at_ns": event.ts_ns,
    }


@contextlib.asynccontextmanager
async def catalog_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Follow the MARKETS stream into `app.state.markets` for the app's lifetime."""
    state = app.state.api
    seed = sim_listings(time.time_ns()) if state.settings.market == "sim" else []
    catalog = MarketCatalog(seed)
    catalog.books = state.market
    state.markets = catalog
    catalog.follower = StreamFollower(state.bus, "MARKETS", ["mkt.>"], catalog.apply)
    await catalog.follower.start()
    app.state.markets = catalog
    try:
        yield
    finally:
        await catalog.follower.stop()
