"""The one interface a venue implements. The framework (`runtime.py`) owns the loop.

A venue module supplies data and pure functions only: endpoints, subscribe frames, a frame
parser, the sequence rule, the checksum, symbol mapping and (for REST-bootstrapped books) the
snapshot request. It never reconnects, resyncs or publishes by itself.

| member                     | required | what it does                                                    |
|----------------------------|----------|-----------------------------------------------------------------|
| name, book_mode, depth     | yes      | edge id, WS_SNAPSHOT or REST_SNAPSHOT, levels kept per side     |
| venue, instrument_type     | no       | the venue id users see (default: name) and what the edge streams |
| ws_url(symbols)            | yes      | connection URL (settings decide host: real venue or local sim)  |
| subscribe_frames(symbols)  | yes      | text frames to send after connect                               |
| parse(raw)                 | yes      | wire frame -> list of Parsed; raise ParseError on garbage       |
| sequence(state, update)    | yes      | APPLY / SKIP / GAP for a delta given the last applied sequence  |
| checksum_ok(book, update)  | no       | verify a venue checksum after applying (default: no checksum)   |
| snapshot_url / parse_snapshot | REST  | REST bootstrap (Binance)                                        |
| ping_frame, ping_interval_s | no      | application-level keepalive                                     |
| on_connect()               | no       | reset per-connection parse state (connection-wide sequences)    |
| resync_frames(sym)         | no       | resend one snapshot in-band; default [] = reconnect to resync   |
| to_venue / to_canonical    | yes      | symbol mapping                                                  |
| derive_books(sym, changes) | no       | map one venue book onto canonical books (Kalshi YES/NO legs)    |
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from services.edges.book import L2Book, RawLevel
from services.errors import CrossbookError


class ParseError(CrossbookError):
    """A frame is garbage, truncated or of an unexpected shape (counted, logged, skipped)."""


class BookMode(enum.Enum):
    WS_SNAPSHOT = "ws_snapshot"  # the stream sends a snapshot after subscribe
    REST_SNAPSHOT = "rest_snapshot"  # buffer the diff stream, fetch a REST snapshot, replay (Binance)


class SeqVerdict(enum.Enum):
    APPLY = "apply"
    SKIP = "skip"  # older than the snapshot: drop silently
    GAP = "gap"  # continuity broken: resync


@dataclass(slots=True)
class BookUpdate:
    """A parsed book message in venue terms. Sizes are absolute unless `increments` is set."""

    symbol: str  # venue symbol
    snapshot: bool
    bids: list[RawLevel]
    asks: list[RawLevel]
    seq: int | None = None  # sequence after this message (Binance u, OKX seqId, Bybit u, Kalshi seq)
    prev_seq: int | None = None  # venue's previous sequence (OKX prevSeqId, USD-M pu, Bitget pseq)
    first_seq: int | None = None  # first update id in this message (Binance U)
    checksum: int | None = None
    increments: bool = False  # sizes are signed changes (Kalshi)
    ts_event_ns: int = 0
    stream_key: str | None = None  # sequence scope when not per symbol (Kalshi sid); None = symbol


@dataclass(slots=True)
class TradeUpdate:
    symbol: str  # venue symbol
    px_1e9: int
    qty_1e8: int
    aggressor: Literal["buy", "sell", "unknown"]
    trade_id: str = ""
    ts_event_ns: int = 0


@dataclass(slots=True)
class FundingUpdate:
    """A perp's funding rate from the venue's mark-price/funding stream (see FundingRateUpdated)."""

    symbol: str  # venue symbol
    rate_1e9: int  # signed fraction per interval x 1e9
    interval_ns: int
    next_funding_ns: int = 0  # 0 = the venue does not say: the next interval boundary
    mark_px_1e9: int = 0
    index_px_1e9: int = 0
    predicted_rate_1e9: int | None = None
    open_interest_1e8: int | None = None
    ts_event_ns: int = 0


@dataclass(slots=True)
class Reply:
    """A frame the venue requires us to send back (application heartbeat)."""

    frame: str


@dataclass(slots=True)
class Control:
    """Harmless control traffic: subscribe acks, pongs, heartbeats, info."""

    kind: str
    detail: str = ""


@dataclass(slots=True)
class VenueNotice:
    """The venue reported an error for a request (e.g. unknown symbol)."""

    message: str
    symbol: str | None = None


@dataclass(slots=True)
class MarketNotice:
    """A prediction venue listed or resolved a market (lifecycle channel), in canonical terms.

    `slug` may be empty on a resolution when the venue names only the market id (Polymarket's
    `market_resolved` carries the condition id): the runtime fills it from what it listed."""

    kind: Literal["listed", "resolved"]
    slug: str
    venue_event_id: str
    # listed
    question: str = ""
    outcomes: list[str] = field(default_factory=list)
    outcome_token_ids: list[str] = field(default_factory=list)  # canonical symbols, YES first
    condition_id: str = ""
    start_ns: int = 0
    end_ns: int = 0
    url: str = ""
    resolution_source: str = ""
    # resolved
    winning_outcome: str = ""
    winning_token_id: str = ""
    losing_token_id: str = ""
    ts_event_ns: int = 0


Parsed = BookUpdate | TradeUpdate | FundingUpdate | Reply | Control | VenueNotice | MarketNotice


@dataclass(slots=True)
class SeqState:
    """Sequence bookkeeping for one book (or one `stream_key`)."""

    last_seq: int | None = None  # after a snapshot: the snapshot's sequence
    applied_since_snapshot: int = 0


@dataclass(slots=True)
class VenueEndpoints:
    ws_url: str
    rest_url: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class VenueAdapter(ABC):
    """Implement one of these per venue in `services/edges/<venue>/`."""

    # `name` is the edge's own id (process, local server, CROSSBOOK_<NAME>_* settings); `venue`
    # is the venue id its events carry. An exchange whose perps stream on another socket has
    # two edges under one venue id (binance + binance_usdm -> "binance"), each with its
    # `instrument_type`; an edge that streams both on one socket (OKX) leaves it "".
    name: ClassVar[str]
    venue: ClassVar[str] = ""  # "" = name
    instrument_type: ClassVar[str] = ""  # "spot" | "perp" | "" (both, told apart by symbol)
    book_mode: ClassVar[BookMode] = BookMode.WS_SNAPSHOT
    depth: ClassVar[int] = 50
    truncate_to_depth: ClassVar[bool] = False  # venue sends no deletes past the subscribed depth
    keep_raw: ClassVar[bool] = False  # the checksum needs the exact wire strings
    ping_interval_s: ClassVar[float] = 20.0
    default_ws_url: ClassVar[str]
    default_rest_url: ClassVar[str] = ""

    def __init__(self, endpoints: VenueEndpoints | None = None) -> None:
        self.endpoints = endpoints or VenueEndpoints(self.default_ws_url, self.default_rest_url)

    @classmethod
    def venue_id(cls) -> str:
        """The venue id this edge's events carry (shared by a venue's spot and perp edges)."""
        return cls.venue or cls.name

    # --- connection -------------------------------------------------------------------------
    def ws_url(self, venue_symbols: list[str]) -> str:
        return self.endpoints.ws_url

    @abstractmethod
    def subscribe_frames(self, venue_symbols: list[str]) -> list[str]: ...

    def ping_frame(self) -> str | None:
        return None

    def on_connect(self) -> None:
        """Reset per-connection parse state (e.g. Coinbase's connection-wide sequence_num)."""

    def resync_frames(self, venue_symbol: str) -> list[str]:
        """Frames that make the venue resend one book's snapshot on the open connection
        (unsubscribe + subscribe, Kalshi get_snapshot...). Empty = reconnect to resync."""
        return []

    # --- symbols ----------------------------------------------------------------------------
    @abstractmethod
    def to_venue(self, canonical: str) -> str: ...

    @abstractmethod
    def to_canonical(self, venue_symbol: str) -> str: ...

    # --- frames -----------------------------------------------------------------------------
    @abstractmethod
    def parse(self, raw: str | bytes) -> list[Parsed]: ...

    @abstractmethod
    def sequence(self, state: SeqState, update: BookUpdate) -> SeqVerdict: ...

    def checksum_ok(self, book: L2Book, update: BookUpdate) -> bool:
        return True

    # --- REST bootstrap ---------------------------------------------------------------------
    def snapshot_url(self, venue_symbol: str) -> str:
        raise NotImplementedError(f"{self.name} bootstraps from the WebSocket snapshot")

    def parse_snapshot(self, body: bytes, venue_symbol: str) -> BookUpdate:
        raise NotImplementedError(f"{self.name} bootstraps from the WebSocket snapshot")

    # --- canonical books --------------------------------------------------------------------
    def derive_books(
        self, venue_symbol: str, book: L2Book, depth: int
    ) -> list[tuple[str, list[tuple[int, int]], list[tuple[int, int]]]]:
        """Return (canonical symbol, bids, asks) for each canonical book this venue book feeds."""
        return [(self.to_canonical(venue_symbol), book.bids(depth), book.asks(depth))]
